import { WacloudError } from '../../core/errors.js';
import { reveal, type Secret } from '../../core/secret.js';

/** Why a secret source failed. A missing secret is not an error: `get` returns `undefined`. */
export type SecretSourceFailure =
  /** A secret that must exist does not (`get` itself returns undefined instead). */
  | 'not-found'
  /** The backend could not be reached, timed out or answered 5xx. */
  | 'unavailable'
  /** The credential was refused (bad or expired token, missing permission). */
  | 'unauthorized'
  /** A check-and-set write lost: someone else wrote first. */
  | 'conflict'
  /** The backend or this source cannot do what was asked (put on the environment, cas on AWS). */
  | 'not-supported'
  /** The backend answered something we cannot use (not JSON, wrong shape, checksum mismatch). */
  | 'bad-response'
  /** The stored value is not what the key asked for (`#field` on a value that is not a JSON object). */
  | 'bad-value'
  /** The key is not acceptable to this source (path traversal in a file name, empty name). */
  | 'invalid-key'
  /** An optional peer dependency is not installed. */
  | 'missing-dependency'
  /** A local file could not be read or written. */
  | 'io';

/**
 * Every failure of a secret source. The message names the source and the key and says what to check; it never holds
 * the secret value or the credential used to fetch it (tests scan for both).
 */
export class SecretSourceError extends WacloudError {
  readonly failure: SecretSourceFailure;
  /** The source's {@link SecretSource.name}. */
  readonly source: string;
  readonly key: string | undefined;
  /** The backend's HTTP status, when there was one. */
  readonly httpStatus: number | undefined;

  constructor(
    failure: SecretSourceFailure,
    source: string,
    message: string,
    options: { key?: string | undefined; httpStatus?: number | undefined; cause?: unknown } = {},
  ) {
    super('SECRET_SOURCE', `${source}: ${message}`, { cause: options.cause });
    this.name = 'SecretSourceError';
    this.failure = failure;
    this.source = source;
    this.key = options.key;
    this.httpStatus = options.httpStatus;
  }
}

/** A check-and-set write lost the race; read the secret again and retry with its version. */
export class SecretConflictError extends SecretSourceError {
  /** The version the caller expected. */
  readonly expectedVersion: number | undefined;
  constructor(
    source: string,
    message: string,
    options: { key?: string; httpStatus?: number; expectedVersion?: number; cause?: unknown } = {},
  ) {
    super('conflict', source, message, options);
    this.name = 'SecretConflictError';
    this.expectedVersion = options.expectedVersion;
  }
}

/**
 * Removes every occurrence of the given secrets from text that came from outside (a backend's error message may
 * echo what it was sent), and caps its length.
 */
export function redactText(
  text: string,
  secrets: ReadonlyArray<Secret | string | undefined>,
  max = 300,
): string {
  let out = text;
  for (const s of secrets) {
    if (s === undefined) continue;
    const value = reveal(s);
    // Short values would redact ordinary words; they are not worth hiding from a message anyway.
    if (value.length >= 4) out = out.split(value).join('[redacted]');
  }
  return out.length > max ? `${out.slice(0, max)}…` : out;
}
