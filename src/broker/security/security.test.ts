import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.js';
import { Secret } from '../../core/secret.js';
import { apiKeyId, generateApiKey, hashApiKey, hashesEqual } from './api-key.js';
import { createRateLimiter } from './rate-limit.js';
import { createSessions, sessionIdHash } from './session.js';

describe('API keys', () => {
  it('generates 256-bit keys whose id parses and whose hash is what is stored', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key.reveal()).not.toBe(b.key.reveal());
    expect(apiKeyId(a.key.reveal())).toBe(a.keyId);
    expect(a.hash).toBe(hashApiKey(a.key.reveal()));
    expect(hashesEqual(a.hash, hashApiKey(a.key.reveal()))).toBe(true);
    expect(hashesEqual(a.hash, b.hash)).toBe(false);
    expect(String(a.key)).not.toContain(a.key.reveal());
  });

  it('rejects malformed keys before any lookup', () => {
    for (const bad of ['', 'wck_', 'EAAB123', 'wck_ABCDEFGH_x', `wck_abcdefgh_${'a'.repeat(42)}`]) {
      expect(apiKeyId(bad)).toBeUndefined();
    }
  });
});

describe('sessions', () => {
  const clock = new ManualClock();
  const sessions = createSessions({ signingKey: new Secret('k'.repeat(32)), clock, ttlMs: 60_000 });

  it('round-trips a signed cookie and expires it on the clock', async () => {
    const { session, cookie } = sessions.issue('abcd1234');
    expect(cookie).toContain('HttpOnly');
    // Lax: the return from Facebook's dialog (another site, a top-level GET) must carry the session.
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).not.toContain('Secure');
    const header = `other=1; ${cookie.split(';')[0]}`;
    expect(sessions.read(header)?.keyId).toBe('abcd1234');
    expect(sessions.read(header)?.sessionId).toBe(session.sessionId);
    await clock.advance(60_001);
    expect(sessions.read(header)).toBeUndefined();
  });

  it('refuses a forged or tampered cookie', () => {
    const { cookie } = sessions.issue('abcd1234');
    const value = cookie.split(';')[0]!.split('=')[1]!;
    const [payload, sig] = value.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({ sessionId: 'x', keyId: 'evil0000', expiresAtMs: 9e15 }),
    ).toString('base64url');
    expect(sessions.read(`wacloud_session=${forgedPayload}.${sig}`)).toBeUndefined();
    expect(sessions.read(`wacloud_session=${payload}.${sig!.slice(0, -2)}aa`)).toBeUndefined();
    expect(sessions.read('wacloud_session=garbage')).toBeUndefined();
    const other = createSessions({ signingKey: new Secret('z'.repeat(32)), clock });
    expect(other.read(cookie.split(';')[0])).toBeUndefined();
  });

  it('behind an https public URL every cookie it sets is Secure, the clearing one too', () => {
    const secure = createSessions({ signingKey: new Secret('k'.repeat(32)), clock, secureCookie: true });
    expect(secure.issue('abcd1234').cookie).toMatch(/; Secure$|; Secure;/);
    expect(secure.clearCookie()).toContain('Secure');
    expect(sessions.clearCookie()).not.toContain('Secure');
  });

  it('binds logins to the session and the admin key that started them', () => {
    const a = sessions.issue('abcd1234').session;
    const b = sessions.issue('abcd1234').session;
    expect(sessions.loginBinding(a)).toBe(sessions.loginBinding({ ...a }));
    expect(sessions.loginBinding(a)).not.toBe(sessions.loginBinding(b));
    expect(sessions.loginBinding(a)).not.toBe(sessions.loginBinding({ ...a, keyId: 'efgh5678' }));
    expect(sessionIdHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(sessionIdHash(a)).not.toContain(a.sessionId);
  });

  it('binds CSRF tokens to the session', () => {
    const a = sessions.issue('abcd1234').session;
    const b = sessions.issue('abcd1234').session;
    expect(sessions.checkCsrf(a, sessions.csrfToken(a))).toBe(true);
    expect(sessions.checkCsrf(a, sessions.csrfToken(b))).toBe(false);
    expect(sessions.checkCsrf(a, undefined)).toBe(false);
    expect(sessions.checkCsrf(a, '')).toBe(false);
  });
});

describe('rate limiter', () => {
  it('allows the limit per window and resets on the clock', async () => {
    const clock = new ManualClock();
    const limiter = createRateLimiter({ limit: 3, windowMs: 60_000, clock });
    expect([1, 2, 3].map(() => limiter.hit('1.2.3.4').allowed)).toEqual([true, true, true]);
    const over = limiter.hit('1.2.3.4');
    expect(over.allowed).toBe(false);
    expect(over.retryAfterSec).toBe(60);
    expect(limiter.hit('5.6.7.8').allowed).toBe(true);
    await clock.advance(60_000);
    expect(limiter.hit('1.2.3.4').allowed).toBe(true);
  });

  it('keeps memory bounded under many addresses', () => {
    const clock = new ManualClock();
    const limiter = createRateLimiter({ limit: 1, windowMs: 60_000, clock, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) {
      limiter.hit(`10.0.${i >> 8}.${i & 255}`);
      expect(limiter.size()).toBeLessThanOrEqual(100);
    }
    expect(limiter.size()).toBe(100);
    // The newest address still has its own window.
    expect(limiter.hit('10.0.3.231').allowed).toBe(false);
  });

  it('when full, drops lapsed windows before a live one', async () => {
    const clock = new ManualClock();
    const limiter = createRateLimiter({ limit: 1, windowMs: 60_000, clock, maxKeys: 2 });
    limiter.hit('a');
    limiter.hit('b');
    await clock.advance(60_000);
    // a's window starts again in place (still the oldest entry); b's has lapsed.
    expect(limiter.hit('a').allowed).toBe(true);
    limiter.hit('c');
    expect(limiter.size()).toBe(2);
    // Dropping the oldest entry instead of the lapsed one would have handed a a fresh window.
    expect(limiter.hit('a').allowed).toBe(false);
  });
});
