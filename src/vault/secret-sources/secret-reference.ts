import { SECRET_REFERENCE_SCHEMES } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import type { Secret } from '../../core/secret.js';
import type { Transport } from '../../transport/types.js';
import {
  type AwsSecretsManagerSourceOptions,
  createAwsSecretsManagerSource,
} from './aws-secrets-manager-source.js';
import { createDotenvSource } from './dotenv-source.js';
import { createEnvSource } from './env-source.js';
import { createFileSource } from './file-source.js';
import { createGcpMetadataTokenProvider, createGcpSecretManagerSource } from './gcp-secret-manager-source.js';
import { SecretSourceError } from './secret-source-error.js';
import type { SecretSource } from './types.js';
import { createVaultKvSource } from './vault-kv-source.js';

/** A parsed secret reference: which backend, where, and the key to ask it for. */
export type SecretReference =
  | { kind: 'env'; key: string }
  | { kind: 'file'; path: string; key: string }
  | { kind: 'dotenv'; path: string; key: string }
  | { kind: 'vault'; address: string; mount: string; namespace: string | undefined; key: string }
  | { kind: 'aws-sm'; region: string | undefined; key: string }
  | { kind: 'gcp-sm'; project: string; key: string };

// One list for the whole project (core/config.ts refuses these in its synchronous loader).
const SCHEMES = SECRET_REFERENCE_SCHEMES;
const EXPECTED =
  'env:NAME, file:/path, dotenv:/path#NAME, vault://host:port/mount/path#field, aws-sm://secret-id#field or gcp-sm://project/secret#field';

/** True when `text` starts like a secret reference (a raw key or token never does: none contains these prefixes). */
export function isSecretReference(text: string): boolean {
  return typeof text === 'string' && SCHEMES.some((s) => text.startsWith(s));
}

function splitHash(text: string): [string, string | undefined] {
  const i = text.indexOf('#');
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + 1)];
}

function splitQuery(text: string): [string, URLSearchParams] {
  const i = text.indexOf('?');
  return i < 0 ? [text, new URLSearchParams()] : [text.slice(0, i), new URLSearchParams(text.slice(i + 1))];
}

/**
 * Parses a secret reference. Errors are ConfigErrors naming `variable` and the scheme, never quoting the text: a
 * value pasted where a reference was expected may be the secret itself.
 *
 * @example
 * parseSecretReference('vault://vault.internal:8200/secret/wacloud/prod#master_key');
 * // { kind: 'vault', address: 'https://vault.internal:8200', mount: 'secret', key: 'wacloud/prod#master_key', ... }
 */
export function parseSecretReference(ref: string, variable = 'secret reference'): SecretReference {
  const bad = (why: string): ConfigError => new ConfigError(variable, why);
  if (typeof ref !== 'string' || !isSecretReference(ref)) {
    throw bad(`is not a secret reference (expected ${EXPECTED})`);
  }
  if (ref.startsWith('env:')) {
    const key = ref.slice(4);
    if (!/^[A-Za-z_][A-Za-z0-9_]*(#.+)?$/.test(key))
      throw bad('env: needs a variable name, as in env:WA_APP_SECRET');
    return { kind: 'env', key };
  }
  if (ref.startsWith('file:')) {
    let rest = ref.slice(5);
    if (rest.startsWith('//')) {
      if (!rest.startsWith('///'))
        throw bad('file: URLs must not name a host; use file:/path or file:///path');
      rest = rest.slice(2);
    }
    const [path, field] = splitHash(rest);
    if (path === '' || path.endsWith('/'))
      throw bad('file: needs the path of one file, as in file:/run/secrets/app_secret');
    const base = path.slice(path.lastIndexOf('/') + 1);
    return { kind: 'file', path, key: field ? `${base}#${field}` : base };
  }
  if (ref.startsWith('dotenv:')) {
    const [path, key] = splitHash(ref.slice(7));
    if (path === '' || !key)
      throw bad('dotenv: needs a path and a variable, as in dotenv:/etc/wacloud/.env#WA_APP_SECRET');
    return { kind: 'dotenv', path, key };
  }
  if (ref.startsWith('vault://') || ref.startsWith('vault+http://')) {
    const http = ref.startsWith('vault+http://');
    const [beforeHash, field] = splitHash(ref.slice(http ? 13 : 8));
    const [hostAndPath, query] = splitQuery(beforeHash);
    const slash = hostAndPath.indexOf('/');
    const host = slash < 0 ? hostAndPath : hostAndPath.slice(0, slash);
    const segments = slash < 0 ? [] : hostAndPath.slice(slash + 1).split('/');
    if (host === '' || segments.length < 2 || segments.some((s) => s === '')) {
      throw bad(
        'vault:// needs a host, a mount and a path, as in vault://vault.internal:8200/secret/wacloud/prod#field',
      );
    }
    let address: string;
    try {
      address = new URL(`${http ? 'http' : 'https'}://${host}`).origin;
    } catch {
      throw bad('vault:// has an invalid host');
    }
    const path = segments.slice(1).join('/');
    return {
      kind: 'vault',
      address,
      mount: segments[0] as string,
      namespace: query.get('namespace') ?? undefined,
      key: field ? `${path}#${field}` : path,
    };
  }
  if (ref.startsWith('aws-sm://')) {
    const [beforeHash, field] = splitHash(ref.slice(9));
    const [id, query] = splitQuery(beforeHash);
    if (id === '') throw bad('aws-sm:// needs a secret name or ARN, as in aws-sm://wacloud/prod#app_secret');
    const arnRegion = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(id)?.[1];
    return { kind: 'aws-sm', region: query.get('region') ?? arnRegion, key: field ? `${id}#${field}` : id };
  }
  // gcp-sm://
  const [beforeHash, field] = splitHash(ref.slice(9));
  const parts = beforeHash.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw bad(
      'gcp-sm:// needs a project and a secret id, as in gcp-sm://my-project/wacloud-app-secret#field',
    );
  }
  return { kind: 'gcp-sm', project: parts[0], key: field ? `${parts[1]}#${field}` : parts[1] };
}

/** What {@link secretSourceFromUrl} needs to build remote sources. */
export interface SecretSourceFromUrlOptions {
  /** The environment for `env:` references and for VAULT_TOKEN / VAULT_NAMESPACE (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Vault token (default: VAULT_TOKEN from `env`). */
  vaultToken?: Secret | string | (() => Promise<Secret | string>);
  /** GCP access token provider (default: the metadata server, as on GCE, GKE and Cloud Run). */
  gcpAccessToken?: () => Promise<Secret | string>;
  /** GCP Secret Manager API root (a regional endpoint; default the global one). */
  gcpEndpoint?: string;
  /** Extra options for the AWS source (client, credentials, endpoint). */
  aws?: Omit<AwsSecretsManagerSourceOptions, 'region'>;
  /** HTTP seam for Vault and GCP. */
  transport?: Transport;
  timeoutMs?: number;
  /** Names the setting in error messages (e.g. `WACLOUD_MASTER_KEY`). */
  variable?: string;
}

/**
 * Turns a reference such as `vault://vault.internal:8200/secret/wacloud/prod#master_key` into a source and the key to
 * ask it for, so any setting that holds a secret can point at any backend. Pure: it connects to nothing until `get`.
 *
 * @example
 * const { source, key } = secretSourceFromUrl('aws-sm://wacloud/prod#app_secret');
 * const appSecret = await source.get(key);
 */
export function secretSourceFromUrl(
  ref: string,
  options: SecretSourceFromUrlOptions = {},
): { source: SecretSource; key: string; reference: SecretReference } {
  const variable = options.variable ?? 'secret reference';
  const reference = parseSecretReference(ref, variable);
  const env = options.env ?? process.env;
  const http = {
    ...(options.transport ? { transport: options.transport } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
  switch (reference.kind) {
    case 'env':
      return { source: createEnvSource(env), key: reference.key, reference };
    case 'file':
      return { source: createFileSource(reference.path, { kind: 'file' }), key: reference.key, reference };
    case 'dotenv':
      return { source: createDotenvSource(reference.path), key: reference.key, reference };
    case 'vault': {
      const token = options.vaultToken ?? env.VAULT_TOKEN;
      if (token === undefined || token === '') {
        throw new ConfigError(variable, 'a vault:// reference needs a Vault token: set VAULT_TOKEN');
      }
      const namespace = reference.namespace ?? env.VAULT_NAMESPACE;
      const source = createVaultKvSource({
        address: reference.address,
        token,
        mount: reference.mount,
        ...(namespace ? { namespace } : {}),
        ...http,
      });
      return { source, key: reference.key, reference };
    }
    case 'aws-sm': {
      const source = createAwsSecretsManagerSource({
        ...options.aws,
        ...(reference.region ? { region: reference.region } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      });
      return { source, key: reference.key, reference };
    }
    case 'gcp-sm': {
      const source = createGcpSecretManagerSource({
        project: reference.project,
        accessToken: options.gcpAccessToken ?? createGcpMetadataTokenProvider(http),
        ...(options.gcpEndpoint ? { endpoint: options.gcpEndpoint } : {}),
        ...http,
      });
      return { source, key: reference.key, reference };
    }
  }
}

/**
 * Resolves a reference to its value; a missing secret is an error naming the setting and the reference's kind.
 *
 * @example
 * const masterKey = await resolveSecretReference(process.env.WACLOUD_MASTER_KEY!, { variable: 'WACLOUD_MASTER_KEY' });
 */
export async function resolveSecretReference(
  ref: string,
  options: SecretSourceFromUrlOptions = {},
): Promise<Secret> {
  const { source, key } = secretSourceFromUrl(ref, options);
  const value = await source.get(key);
  if (value === undefined) {
    throw new SecretSourceError(
      'not-found',
      source.name,
      `${options.variable ?? 'the secret reference'} points at "${key}", which does not exist`,
      { key },
    );
  }
  return value;
}

/** A setting's value fetched through its reference, and where it came from (names only, never a credential). */
export interface ResolvedSetting {
  value: Secret;
  /** `<source name> <key>`, e.g. `vault(vault.internal:8200/secret) wacloud/prod#app_secret`. */
  where: string;
}

/**
 * Fetches the value of a setting that holds a secret reference (`WACLOUD_MASTER_KEY`, `WA_APP_SECRET`,
 * `DATABASE_URL`, …): the one resolver every setting uses. Errors name `variable` and the source, never the value:
 * an unreadable source is a {@link SecretSourceError} (`<source>: cannot read VAR (key): why`); a malformed reference,
 * a missing secret or an empty value is a ConfigError naming `variable`.
 */
export async function resolveSecretSetting(
  variable: string,
  ref: string,
  options: Omit<SecretSourceFromUrlOptions, 'variable'> = {},
): Promise<ResolvedSetting> {
  const { source, key } = secretSourceFromUrl(ref.trim(), { ...options, variable });
  const where = `${source.name} ${key}`;
  let value: Secret | undefined;
  try {
    value = await source.get(key);
  } catch (err) {
    if (err instanceof SecretSourceError) {
      // Same failure and source, with the variable named: the source's message never holds the value.
      throw new SecretSourceError(
        err.failure,
        err.source,
        `cannot read ${variable} (${key}): ${err.message.slice(err.source.length + 2)}`,
        { key, httpStatus: err.httpStatus, cause: err },
      );
    }
    throw err;
  }
  if (value === undefined) throw new ConfigError(variable, `points at ${where}, which does not exist`);
  if (value.reveal().trim() === '') throw new ConfigError(variable, `the value at ${where} is empty`);
  return { value, where };
}
