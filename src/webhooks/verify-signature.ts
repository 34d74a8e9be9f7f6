import { createHmac, timingSafeEqual } from 'node:crypto';
import { Secret } from '../core/secret.js';

/** The header Meta signs deliveries with. */
export const SIGNATURE_HEADER = 'x-hub-signature-256';

/** A secret given as a {@link Secret} or a plain string. */
export type SecretInput = Secret | string;

/** Raw request bytes as received (`Buffer` is a `Uint8Array`), or a string holding them. */
export type RawBody = Uint8Array | string;

export type SignatureFailure = 'missing' | 'malformed' | 'mismatch' | 'no_secret';

/** The outcome of {@link verifySignature}; a mismatch is a value, never an exception. */
export type SignatureVerification =
  | {
      valid: true;
      /** Index into the secrets: 0 is the current secret, higher ones are fallbacks kept during rotation. */
      secretIndex: number;
      /** `escaped-unicode`: the body arrived decoded and matched only after Meta's `\uXXXX` escaping rule. */
      method: 'raw' | 'escaped-unicode';
    }
  | { valid: false; reason: SignatureFailure };

export interface VerifySignatureOptions {
  /**
   * Also accept a body whose non-ASCII characters arrived decoded (real UTF-8) by re-escaping them the way Meta
   * signs (`\uXXXX`, lowercase hex, UTF-16 code units). Only tried when the raw check fails and the body holds
   * non-ASCII bytes. Default `true`.
   */
  escapedUnicodeFallback?: boolean;
}

const PREFIX = 'sha256=';
const HEX_64 = /^[0-9a-fA-F]{64}$/;
const DIGEST_BYTES = 32;

/**
 * Checks an `X-Hub-Signature-256` header against the raw request bytes: HMAC-SHA256 keyed by the app secret,
 * `sha256=` + 64 hex digits. The header's shape and length are checked first, then the digest bytes are compared in
 * constant time with each secret in turn (current first, then fallbacks during a rotation).
 *
 * Never throws on bad input: a missing, malformed or wrong signature is a `{ valid: false, reason }` result.
 *
 * @example
 * const check = verifySignature(rawBody, req.headers['x-hub-signature-256'], [appSecret, previousAppSecret]);
 * if (!check.valid) return reply(401);
 * @see https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads
 */
export function verifySignature(
  rawBody: RawBody,
  header: string | readonly string[] | null | undefined,
  secrets: SecretInput | readonly SecretInput[],
  options: VerifySignatureOptions = {},
): SignatureVerification {
  const keys = secretList(secrets);
  if (keys.length === 0) return { valid: false, reason: 'no_secret' };
  const value = Array.isArray(header) ? (header.length === 1 ? header[0] : undefined) : header;
  if (typeof value !== 'string' || value.trim() === '') {
    return Array.isArray(header) && header.length > 1
      ? { valid: false, reason: 'malformed' }
      : { valid: false, reason: 'missing' };
  }
  const given = parseSignatureHeader(value);
  if (!given) return { valid: false, reason: 'malformed' };

  const bytes = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  for (let i = 0; i < keys.length; i++) {
    if (digestMatches(keys[i] as string, bytes, given)) return { valid: true, secretIndex: i, method: 'raw' };
  }
  if (options.escapedUnicodeFallback !== false && hasNonAscii(bytes)) {
    const escaped = escapeUnicodeBytes(bytes);
    if (escaped) {
      for (let i = 0; i < keys.length; i++) {
        if (digestMatches(keys[i] as string, escaped, given)) {
          return { valid: true, secretIndex: i, method: 'escaped-unicode' };
        }
      }
    }
  }
  return { valid: false, reason: 'mismatch' };
}

/**
 * The `X-Hub-Signature-256` value Meta would send for these bytes: for tests, the CLI and the emulator.
 *
 * @example
 * const header = signPayload(JSON.stringify(payload), process.env.WA_APP_SECRET!); // "sha256=…"
 */
export function signPayload(rawBody: RawBody, secret: SecretInput): string {
  const key = secret instanceof Secret ? secret.reveal() : secret;
  return PREFIX + createHmac('sha256', key).update(rawBody).digest('hex');
}

/**
 * Meta's escaped-unicode rule: every UTF-16 code unit above 0x7E becomes `\uXXXX` with lowercase hex. Meta computes
 * the signature over this form, which is what its deliveries carry on the wire.
 */
export function escapeUnicode(text: string): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e) {
      out += `${text.slice(last, i)}\\u${c.toString(16).padStart(4, '0')}`;
      last = i + 1;
    }
  }
  return last === 0 ? text : out + text.slice(last);
}

function secretList(secrets: SecretInput | readonly SecretInput[]): string[] {
  const list = Array.isArray(secrets) ? secrets : [secrets as SecretInput];
  const out: string[] = [];
  for (const s of list) {
    const v = s instanceof Secret ? s.reveal() : s;
    // An empty key would "verify" anything an attacker signs with an empty key: never use one.
    if (typeof v === 'string' && v !== '') out.push(v);
  }
  return out;
}

function parseSignatureHeader(value: string): Buffer | undefined {
  const v = value.trim();
  if (v.length !== PREFIX.length + 64) return undefined;
  if (v.slice(0, PREFIX.length).toLowerCase() !== PREFIX) return undefined;
  const hex = v.slice(PREFIX.length);
  if (!HEX_64.test(hex)) return undefined;
  return Buffer.from(hex, 'hex');
}

function digestMatches(key: string, bytes: Uint8Array, given: Buffer): boolean {
  const expected = createHmac('sha256', key).update(bytes).digest();
  return (
    expected.length === DIGEST_BYTES && given.length === DIGEST_BYTES && timingSafeEqual(expected, given)
  );
}

function hasNonAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) > 0x7e) return true;
  return false;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function escapeUnicodeBytes(bytes: Uint8Array): Buffer | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    // Not UTF-8: no decoded form to re-escape, so only the raw check applies.
    return undefined;
  }
  return Buffer.from(escapeUnicode(text), 'utf8');
}
