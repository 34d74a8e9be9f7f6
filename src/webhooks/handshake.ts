import { createHash, timingSafeEqual } from 'node:crypto';
import { Secret } from '../core/secret.js';
import type { SecretInput } from './verify-signature.js';

/** Query parameters of Meta's verification request, as `URLSearchParams` or a plain record. */
export type HandshakeQuery = URLSearchParams | Record<string, string | string[] | undefined>;

export type HandshakeResult =
  | { ok: true; challenge: string }
  | { ok: false; reason: 'no_verify_token' | 'wrong_mode' | 'wrong_token' | 'missing_challenge' };

/** Longest challenge we echo. Meta's are short digit strings; a cap keeps the reflection harmless. */
const MAX_CHALLENGE_LENGTH = 512;

/**
 * Answers Meta's subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`): the mode
 * must be `subscribe`, the token must equal ours (compared in constant time over SHA-256 digests, so neither the
 * content nor the length leaks through timing), and the challenge is returned for echoing as plain text.
 *
 * @example
 * const r = verifyHandshake(new URL(req.url, 'http://x').searchParams, process.env.WEBHOOK_VERIFICATION_TOKEN);
 * r.ok ? reply(200, r.challenge) : reply(403);
 * @see https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
 */
export function verifyHandshake(
  query: HandshakeQuery,
  verifyToken: SecretInput | undefined,
): HandshakeResult {
  const expected = verifyToken instanceof Secret ? verifyToken.reveal() : verifyToken;
  if (typeof expected !== 'string' || expected === '') return { ok: false, reason: 'no_verify_token' };
  const mode = single(query, 'hub.mode');
  const token = single(query, 'hub.verify_token');
  const challenge = single(query, 'hub.challenge');
  if (mode !== 'subscribe') return { ok: false, reason: 'wrong_mode' };
  if (token === undefined || !constantTimeEqual(token, expected)) return { ok: false, reason: 'wrong_token' };
  if (challenge === undefined || challenge === '' || challenge.length > MAX_CHALLENGE_LENGTH) {
    return { ok: false, reason: 'missing_challenge' };
  }
  return { ok: true, challenge };
}

/** Constant-time string equality that does not reveal the length of either side. */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

function single(query: HandshakeQuery, name: string): string | undefined {
  if (query instanceof URLSearchParams) {
    const all = query.getAll(name);
    return all.length === 1 ? all[0] : undefined;
  }
  const v = query[name];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined;
  return typeof v === 'string' ? v : undefined;
}
