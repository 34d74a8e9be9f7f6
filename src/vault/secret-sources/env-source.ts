import { Secret } from '../../core/secret.js';
import { parseSecretKey, selectField } from './secret-key.js';
import type { SecretSource } from './types.js';

/** Options for {@link createEnvSource}. */
export interface EnvSourceOptions {
  /** Treat a variable that is set but blank as missing (default true, like the rest of wacloud's config). */
  blankIsMissing?: boolean;
}

/**
 * Secrets from environment variables: `get('WA_APP_SECRET')`, or `get('APP_JSON#secret')` for one field of a variable
 * holding a JSON object. Read-only: changing the environment of a running process reaches nobody else.
 *
 * @example
 * const env = createEnvSource(process.env);
 * const secret = await env.get('WA_APP_SECRET');
 */
export function createEnvSource(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: EnvSourceOptions = {},
): SecretSource {
  const name = 'env';
  const blankIsMissing = options.blankIsMissing ?? true;
  return {
    name,
    async get(key: string): Promise<Secret | undefined> {
      const parsed = parseSecretKey(name, key);
      const raw = env[parsed.name];
      if (raw === undefined || (blankIsMissing && raw.trim() === '')) return undefined;
      const value = parsed.field === undefined ? raw : selectField(name, key, raw, parsed.field);
      return value === undefined ? undefined : new Secret(value, parsed.name);
    },
  };
}
