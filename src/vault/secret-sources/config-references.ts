import { resolve } from 'node:path';
import {
  type ConfigOptions,
  isSecretReferenceText,
  type LoadConfigOptions,
  loadConfig,
  readEnvFile,
  type WacloudConfig,
} from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { resolveSecretSetting, type SecretSourceFromUrlOptions } from './secret-reference.js';

/**
 * The settings that may hold a secret reference besides `WACLOUD_MASTER_KEY` (which `resolveMasterKey` fetches).
 * `WA_APP_SECRET_PREVIOUS` is a comma-separated list whose items may each be a reference or a value.
 */
export const SECRET_SETTINGS = [
  'WA_APP_SECRET',
  'WA_APP_SECRET_PREVIOUS',
  'WEBHOOK_VERIFICATION_TOKEN',
  'DATABASE_URL',
  'DATABASE_LISTEN_URL',
  'REDIS_URL',
  'CLOUD_API_ACCESS_TOKEN',
] as const;
export type SecretSetting = (typeof SECRET_SETTINGS)[number];

/** Variables that are read in place of another when it is unset (loadConfig's order). */
const ALIASES: Partial<Record<SecretSetting, string[]>> = { WA_APP_SECRET: ['M4D_APP_SECRET'] };
const LISTS = new Set<string>(['WA_APP_SECRET_PREVIOUS']);

export interface ResolveConfigEnvOptions extends LoadConfigOptions {
  /**
   * Which settings this caller uses: only their references are fetched (a command never fails on a source it does
   * not need). A reference in any other secret setting is left out of the returned `env`. Default: all.
   */
  secrets?: readonly SecretSetting[];
  /**
   * How to reach the sources (Vault token, AWS client, GCP token provider, transport, `timeoutMs`). `env` for `env:`
   * references and VAULT_TOKEN / VAULT_NAMESPACE defaults to the environment merged with the `.env` file.
   */
  secretSources?: Omit<SecretSourceFromUrlOptions, 'variable'>;
}

export interface ResolvedConfigEnv {
  /** The environment with the `.env` file merged in (as loadConfig merges it) and the used references replaced by their values; pass it to loadConfig with `envFile: false`. */
  env: Record<string, string | undefined>;
  /** The environment with the `.env` file merged in, references as they were (for VAULT_TOKEN, `env:` references). */
  sourceEnv: Record<string, string | undefined>;
  /** variable → where its value came from (`<source> <key>`; names only), for each setting that was a reference. */
  references: Record<string, string>;
}

/** The environment as loadConfig sees it: the `.env` file, then every non-blank variable of the environment. */
function mergedEnv(load: LoadConfigOptions): Record<string, string | undefined> {
  const cwd = load.cwd ?? process.cwd();
  const fileVars = load.envFile === false ? {} : readEnvFile(resolve(cwd, load.envFile ?? '.env'));
  const env: Record<string, string | undefined> = { ...fileVars };
  for (const [k, v] of Object.entries(load.env ?? process.env))
    if (v !== undefined && v.trim() !== '') env[k] = v;
  return env;
}

/**
 * Fetches, once and before anything connects, every used secret setting that holds a reference (`file:`, `env:`,
 * `dotenv:`, `vault://`, `aws-sm://`, `gcp-sm://`); anything else is used as it is. All references are fetched
 * together; when several fail, the error of the first in {@link SECRET_SETTINGS} order is thrown (a
 * `SecretSourceError` or a ConfigError naming the variable and the source, never the value).
 */
export async function resolveConfigEnv(options: ResolveConfigEnvOptions = {}): Promise<ResolvedConfigEnv> {
  const sourceEnv = mergedEnv(options);
  const env = { ...sourceEnv };
  const used = new Set<string>(options.secrets ?? SECRET_SETTINGS);
  const sourceOptions = { env: sourceEnv, ...options.secretSources };
  // The variable each setting is read from: the first set one of it and its aliases, as loadConfig reads it.
  const jobs: Array<{ name: string; items: string[] }> = [];
  for (const setting of SECRET_SETTINGS) {
    const names = [setting, ...(ALIASES[setting] ?? [])];
    const name = names.find((n) => (sourceEnv[n] ?? '').trim() !== '');
    if (name === undefined) continue;
    const text = sourceEnv[name] as string;
    const items = LISTS.has(setting) ? text.split(',') : [text];
    if (!items.some(isSecretReferenceText)) continue;
    if (!used.has(setting)) {
      // Not needed here: left out rather than fetched (or mistaken for the secret).
      for (const n of names) delete env[n];
      continue;
    }
    jobs.push({ name, items });
  }
  // One fetch per distinct reference (DATABASE_LISTEN_URL often names DATABASE_URL's secret).
  const fetches = new Map<string, ReturnType<typeof resolveSecretSetting>>();
  const fetchOnce = (name: string, ref: string) => {
    const key = `${name}\n${ref.trim()}`;
    let p = fetches.get(key);
    if (!p) {
      p = resolveSecretSetting(name, ref, sourceOptions);
      fetches.set(key, p);
    }
    return p;
  };
  const settled = await Promise.allSettled(
    jobs.map(({ name, items }) =>
      Promise.all(
        items.map((item) =>
          isSecretReferenceText(item)
            ? fetchOnce(name, item)
            : Promise.resolve({ value: undefined, where: undefined }),
        ),
      ),
    ),
  );
  const references: Record<string, string> = {};
  for (const [i, result] of settled.entries()) {
    const { name, items } = jobs[i] as { name: string; items: string[] };
    if (result.status === 'rejected') throw result.reason;
    const values = result.value.map((r, j) => {
      if (r.value === undefined) return items[j] as string;
      const text = r.value.reveal().trim();
      if (LISTS.has(name) && text.includes(',')) {
        throw new ConfigError(
          name,
          `the value at ${r.where} contains a comma, which separates the items of ${name}`,
        );
      }
      return text;
    });
    env[name] = values.join(',');
    references[name] = result.value
      .map((r) => r.where)
      .filter((w) => w !== undefined)
      .join(', ');
  }
  return { env, sourceEnv, references };
}

/**
 * {@link loadConfig} with secret references fetched first ({@link resolveConfigEnv}): validation (a `postgres://`
 * DATABASE_URL, a `redis://` REDIS_URL) applies to the fetched value, and its errors say where the value came from.
 *
 * @example
 * // WA_APP_SECRET=vault://vault.internal:8200/secret/wacloud/prod#app_secret, VAULT_TOKEN=…
 * const config = await loadResolvedConfig();
 */
export async function loadResolvedConfig(
  options: ConfigOptions = {},
  load: ResolveConfigEnvOptions = {},
): Promise<
  WacloudConfig & { secretReferences: Record<string, string>; sourceEnv: Record<string, string | undefined> }
> {
  const resolved = await resolveConfigEnv(load);
  try {
    const config = loadConfig(options, { env: resolved.env, envFile: false, cwd: load.cwd ?? process.cwd() });
    return { ...config, secretReferences: resolved.references, sourceEnv: resolved.sourceEnv };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const where = resolved.references[err.variable];
    if (where === undefined) throw err;
    throw new ConfigError(
      err.variable,
      `the value at ${where} ${err.message.slice(err.variable.length + 2)}`,
    );
  }
}
