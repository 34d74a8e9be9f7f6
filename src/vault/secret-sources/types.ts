import type { Secret } from '../../core/secret.js';

/** Options for {@link SecretSource.put}. */
export interface PutSecretOptions {
  /**
   * Check-and-set: the version the caller expects to be current (0 = the secret must not exist yet). The write fails
   * with a {@link SecretConflictError} if someone else wrote in between. Only backends with a real check-and-set
   * (HashiCorp Vault KV v2) accept it; the others throw a `not-supported` {@link SecretSourceError}.
   */
  cas?: number;
}

/** What a write reports back: the new version, where the backend has versions. */
export interface PutSecretResult {
  /** Vault KV v2 and GCP: the version number; AWS: the VersionId; files: undefined. */
  version?: number | string;
}

/** Called by {@link SecretSource.watch} with the new value, or `undefined` when the secret went away. */
export type SecretChangeListener = (value: Secret | undefined) => void;

/**
 * One place secrets come from: the environment, a `.env` file, files, HashiCorp Vault, AWS Secrets Manager, GCP
 * Secret Manager. Keys are source-specific names (`WA_APP_SECRET`, `wacloud/prod`), optionally followed by
 * `#field` to pick one field of a JSON object (or of a Vault KV map).
 *
 * A missing secret is `undefined`, never an error; an unreachable or refusing backend is a {@link SecretSourceError}
 * whose message names the source and the key, never the value or a credential.
 */
export interface SecretSource {
  /** Short description for logs and errors, e.g. `vault(127.0.0.1:8200/secret)`. Never holds a credential. */
  readonly name: string;
  get(key: string): Promise<Secret | undefined>;
  /** Present only where the backend can be written. */
  put?(key: string, value: Secret | string, options?: PutSecretOptions): Promise<PutSecretResult>;
  /**
   * Present only where the backend can tell about changes (files). Calls `onChange` when the value changes (not on
   * every touch); returns the unsubscribe function.
   */
  watch?(key: string, onChange: SecretChangeListener): () => void;
}
