import { createHash } from 'node:crypto';
import { format, inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { reveal, Secret, scrubText } from './secret.js';

const TOKEN = 'EAAGm0PX4ZCpsBAKZCZBZB8fAbcdefGhIjkLmnOpQRsTuvWxyZ0123456789';

describe('Secret', () => {
  const secret = new Secret(TOKEN, 'access-token');
  const expectedFp = createHash('sha256').update(TOKEN).digest('hex').slice(0, 8);

  it('prints a labelled fingerprint from toString, template literals and String()', () => {
    expect(secret.toString()).toBe(`[access-token sha256:${expectedFp}]`);
    expect(`${secret}`).toBe(`[access-token sha256:${expectedFp}]`);
    expect(String(secret)).not.toContain(TOKEN);
    expect(`x${secret}`).not.toContain(TOKEN.slice(0, 8));
  });

  it('serialises to the fingerprint in JSON, also nested', () => {
    expect(JSON.stringify(secret)).toBe(`"[access-token sha256:${expectedFp}]"`);
    const nested = JSON.stringify({ config: { token: secret, list: [secret] } });
    expect(nested).not.toContain(TOKEN);
    expect(nested).toContain(expectedFp);
  });

  it('inspects to the fingerprint (console.log, util.format, nested objects, showHidden)', () => {
    expect(inspect(secret)).toBe(`[access-token sha256:${expectedFp}]`);
    expect(inspect({ a: { b: secret } }, { depth: 10, showHidden: true })).not.toContain(TOKEN);
    expect(format('%o %O %s %j', secret, secret, secret, secret)).not.toContain(TOKEN);
  });

  it('keeps the value out of enumerable properties and Object.entries', () => {
    expect(Object.values(secret).join(' ')).not.toContain(TOKEN);
    expect(Object.keys(secret)).toEqual(['label']);
    expect({ ...secret }).toEqual({ label: 'access-token' });
  });

  it('reveals the value only when asked', () => {
    expect(secret.reveal()).toBe(TOKEN);
    expect(reveal(secret)).toBe(TOKEN);
    expect(reveal('plain')).toBe('plain');
    expect(secret.length).toBe(TOKEN.length);
  });

  it('fingerprint is the first 8 hex chars of SHA-256 and differs between values', () => {
    expect(secret.fingerprint).toBe(expectedFp);
    expect(secret.fingerprint).toMatch(/^[0-9a-f]{8}$/);
    expect(new Secret(`${TOKEN}x`).fingerprint).not.toBe(secret.fingerprint);
    expect(new Secret(TOKEN, 'other-label').fingerprint).toBe(secret.fingerprint);
  });

  it('equals compares values, not labels, against a Secret or a string', () => {
    expect(secret.equals(new Secret(TOKEN, 'x'))).toBe(true);
    expect(secret.equals(TOKEN)).toBe(true);
    expect(secret.equals(`${TOKEN} `)).toBe(false);
    expect(secret.equals(new Secret('other'))).toBe(false);
  });

  it('from wraps strings and passes Secrets through', () => {
    expect(Secret.from(secret)).toBe(secret);
    const wrapped = Secret.from(TOKEN, 'lbl');
    expect(wrapped).toBeInstanceOf(Secret);
    expect(wrapped.label).toBe('lbl');
    expect(new Secret(TOKEN).label).toBe('secret');
  });

  it('rejects a non-string value with a message that does not echo it', () => {
    expect(() => new Secret(123 as unknown as string, 'app-secret')).toThrow('app-secret must be a string');
  });
});

describe('scrubText', () => {
  it('redacts Meta user/system-user tokens', () => {
    const out = scrubText(`token is ${TOKEN} and more`);
    expect(out).toBe('token is [redacted] and more');
  });

  it('redacts app tokens (app_id|secret)', () => {
    const out = scrubText('using 1234567890|abcdefABCDEF0123456789xyz now');
    expect(out).toBe('using [redacted] now');
  });

  it('redacts secret-carrying query parameters and form fields, keeping the name', () => {
    const url =
      'https://graph.facebook.com/v26.0/oauth/access_token?client_id=1&client_secret=shh123&code=AQBx-y_z&fb_exchange_token=short1&appsecret_proof=deadbeef&access_token=abc';
    const out = scrubText(url);
    for (const v of ['shh123', 'AQBx-y_z', 'short1', 'deadbeef', '=abc']) expect(out).not.toContain(v);
    expect(out).toContain('client_secret=[redacted]');
    expect(out).toContain('appsecret_proof=[redacted]');
    expect(out).toContain('client_id=1');
    expect(scrubText('hub.verify_token=mytoken&hub.challenge=42')).toBe(
      'hub.verify_token=[redacted]&hub.challenge=42',
    );
    expect(scrubText('input_token=zzz revoke_token=yyy code_verifier=xxx')).toBe(
      'input_token=[redacted] revoke_token=[redacted] code_verifier=[redacted]',
    );
  });

  it('redacts bearer credentials in header text, case-insensitively', () => {
    expect(scrubText('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer [redacted]');
    expect(scrubText('authorization: bearer xyz')).toBe('authorization: bearer [redacted]');
  });

  it('redacts inside JSON text', () => {
    const out = scrubText(JSON.stringify({ url: `https://x/?access_token=${TOKEN}`, t: TOKEN }));
    expect(out).not.toContain(TOKEN);
    expect(() => JSON.parse(out)).not.toThrow();
  });

  it('leaves ordinary text alone', () => {
    const text = 'Graph API error (code 100) on 123/messages: Invalid parameter, fbtrace AXsgnV2Cm3Z';
    expect(scrubText(text)).toBe(text);
    expect(scrubText('')).toBe('');
  });
});

describe('scrubText: token shapes with _ and -', () => {
  it('redacts broker API keys and bearer values containing _ or -', () => {
    const key = `wck_abcd1234_${'a-b_'.repeat(11)}`;
    expect(scrubText(`key ${key} and Bearer ab_cd-ef`)).toBe('key [redacted] and Bearer [redacted]');
    expect(scrubText(`EAAB${'x_y-'.repeat(8)}`)).toBe('[redacted]');
  });
});
