import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

/**
 * A secret value (access token, app secret, key). Printing, logging, JSON-serialising or inspecting it shows only a
 * short SHA-256 fingerprint, never a prefix of the value: peers leak token prefixes in DEBUG logs (landscape.md).
 *
 * @example
 * const token = new Secret(process.env.CLOUD_API_ACCESS_TOKEN!, 'token');
 * String(token); // "[token sha256:3f2a9c1b]"
 * token.reveal(); // the value, for the one place that must send it
 */
export class Secret {
  readonly #value: string;
  readonly label: string;
  #fingerprint: string | undefined;

  constructor(value: string, label = 'secret') {
    if (typeof value !== 'string') throw new TypeError(`${label} must be a string`);
    this.#value = value;
    this.label = label;
  }

  /** Wraps a string, or returns the Secret unchanged. */
  static from(value: string | Secret, label?: string): Secret {
    return value instanceof Secret ? value : new Secret(value, label);
  }

  /** The raw value. Call it only where the value leaves for Meta or for the encryption layer. */
  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  /** First 8 hex chars of SHA-256: enough to tell two versions apart in logs, useless to an attacker. */
  get fingerprint(): string {
    this.#fingerprint ??= createHash('sha256').update(this.#value).digest('hex').slice(0, 8);
    return this.#fingerprint;
  }

  equals(other: Secret | string): boolean {
    return (other instanceof Secret ? other.#value : other) === this.#value;
  }

  toString(): string {
    return `[${this.label} sha256:${this.fingerprint}]`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** Reveals a value that may be a Secret or a plain string. */
export function reveal(value: Secret | string): string {
  return value instanceof Secret ? value.reveal() : value;
}

const SCRUB_PATTERNS: readonly RegExp[] = [
  // Meta user / system-user / page tokens, and our emulator's look-alikes.
  /\bEA[A-Za-z0-9_-]{20,}/g,
  // wacloud broker API keys.
  /\bwck_[a-z0-9]{8}_[A-Za-z0-9_-]{20,}/g,
  // app_id|app_secret and app_id|opaque app tokens.
  /\b\d{6,}\|[A-Za-z0-9_-]{16,}/g,
  // Query parameters and form fields that carry secrets.
  /((?:access_token|client_secret|fb_exchange_token|input_token|appsecret_proof|code|code_verifier|revoke_token|verify_token|hub\.verify_token)=)[^&\s"']+/gi,
  // Authorization headers.
  /(Bearer\s+)[A-Za-z0-9._~+/=|_-]+/gi,
];

/**
 * Defence in depth for free text (logs, error messages): replaces anything that looks like a token or a
 * secret-carrying parameter. Secrets should already be {@link Secret}s; this catches what slips through.
 */
export function scrubText(text: string): string {
  let out = text;
  for (const pattern of SCRUB_PATTERNS) {
    out = out.replace(pattern, (match, prefix: unknown) =>
      typeof prefix === 'string' && match.startsWith(prefix) ? `${prefix}[redacted]` : '[redacted]',
    );
  }
  return out;
}
