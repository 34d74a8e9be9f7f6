import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
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
 * Signed, stateless session cookies (HMAC-SHA256 with a key derived from the master key), so any broker instance can
 * check them. CSRF tokens are an HMAC of the session id: a form must echo it; a cross-site page cannot read it.
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
        'SameSite=Strict',
        `Max-Age=${Math.floor(ttlMs / 1000)}`,
      ];
      if (options.secureCookie) attrs.push('Secure');
      return { session, cookie: attrs.join('; ') };
    },

    clearCookie(): string {
      return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
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

export type Sessions = ReturnType<typeof createSessions>;
