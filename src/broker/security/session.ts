import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Secret } from '../../core/secret.js';

/** A dashboard session: which admin key logged in, until when. */
export interface Session {
  sessionId: string;
  keyId: string;
  expiresAtMs: number;
}

const SESSION_COOKIE = 'wacloud_session';

function mac(key: Secret, data: string): string {
  return createHmac('sha256', key.reveal()).update(data).digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * Signed session cookies (HMAC-SHA256 with a key derived from the master key), so any broker instance can check
 * them; a logout is recorded in the store (`revokedSessions`, by {@link sessionIdHash}) and checked on every request.
 * CSRF tokens are an HMAC of the session id: a form must echo it; a cross-site page cannot read it.
 *
 * SameSite=Lax, not Strict: the return from Facebook's dialog (another site) is a top-level GET navigation, which
 * must carry the session or the one-time code lands on /login and is lost. Lax still keeps the cookie off every
 * cross-site POST and every embedded request; state changes are POSTs with a CSRF token, and the callback's state is
 * bound to the session that started the login (a state from another session is refused).
 */
export function createSessions(options: {
  signingKey: Secret;
  clock: Clock;
  ttlMs?: number;
  secureCookie?: boolean;
}) {
  const ttlMs = options.ttlMs ?? 12 * 60 * 60 * 1000;
  return {
    cookieName: SESSION_COOKIE,

    issue(keyId: string): { session: Session; cookie: string } {
      const session: Session = {
        sessionId: randomBytes(16).toString('base64url'),
        keyId,
        expiresAtMs: options.clock.now() + ttlMs,
      };
      const payload = Buffer.from(JSON.stringify(session)).toString('base64url');
      const value = `${payload}.${mac(options.signingKey, `session:${payload}`)}`;
      const attrs = [
        `${SESSION_COOKIE}=${value}`,
        'Path=/',
        'HttpOnly',
        'SameSite=Lax',
        `Max-Age=${Math.floor(ttlMs / 1000)}`,
      ];
      if (options.secureCookie) attrs.push('Secure');
      return { session, cookie: attrs.join('; ') };
    },

    clearCookie(): string {
      return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${options.secureCookie ? '; Secure' : ''}`;
    },

    /** What a login started in this session is bound to: the admin key and the session (see LoginFlow `binding`). */
    loginBinding(session: Session): string {
      return mac(options.signingKey, `login:${session.keyId}:${session.sessionId}`);
    },

    /** The session in a Cookie header, if its signature holds and it has not expired. */
    read(cookieHeader: string | undefined): Session | undefined {
      if (!cookieHeader) return undefined;
      const raw = cookieHeader
        .split(';')
        .map((c) => c.trim())
        .find((c) => c.startsWith(`${SESSION_COOKIE}=`))
        ?.slice(SESSION_COOKIE.length + 1);
      if (!raw) return undefined;
      const dot = raw.indexOf('.');
      if (dot < 0) return undefined;
      const payload = raw.slice(0, dot);
      if (!safeEqual(raw.slice(dot + 1), mac(options.signingKey, `session:${payload}`))) return undefined;
      try {
        const s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Session;
        if (typeof s.expiresAtMs !== 'number' || s.expiresAtMs <= options.clock.now()) return undefined;
        return s;
      } catch {
        return undefined;
      }
    },

    csrfToken(session: Session): string {
      return mac(options.signingKey, `csrf:${session.sessionId}`);
    },

    checkCsrf(session: Session, token: unknown): boolean {
      return (
        typeof token === 'string' && safeEqual(token, mac(options.signingKey, `csrf:${session.sessionId}`))
      );
    },
  };
}

/** The key of a session in the revocation list: its id is never stored. */
export function sessionIdHash(session: Session): string {
  return createHash('sha256').update(session.sessionId).digest('hex');
}

export type Sessions = ReturnType<typeof createSessions>;
