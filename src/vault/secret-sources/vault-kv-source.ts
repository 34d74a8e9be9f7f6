import { parseBaseUrl } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { reveal, Secret } from '../../core/secret.js';
import { createFetchTransport } from '../../transport/fetch-transport.js';
import type { Transport } from '../../transport/types.js';
import { isObject, type JsonResponse, requestJson } from './http.js';
import { fieldText, parseSecretKey } from './secret-key.js';
import { redactText, SecretConflictError, SecretSourceError } from './secret-source-error.js';
import type { PutSecretOptions, PutSecretResult, SecretSource } from './types.js';

/** Options for {@link createVaultKvSource}. */
export interface VaultKvSourceOptions {
  /** Vault's address, e.g. `https://vault.internal:8200` (plain http only on loopback unless `allowHttp`). */
  address: string;
  /** A Vault token (`X-Vault-Token`), or a function returning the current one (for tokens that an agent renews). */
  token: Secret | string | (() => Promise<Secret | string>);
  /** Where the KV v2 engine is mounted (default `secret`, Vault's dev-server default). */
  mount?: string;
  /** Vault Enterprise / OpenBao namespace (`X-Vault-Namespace`). */
  namespace?: string;
  /** The field of the KV map a key without `#field` reads and writes (default `value`). */
  defaultField?: string;
  /** HTTP seam (default: a fetch transport). */
  transport?: Transport;
  /** Budget per request (default 10 s). */
  timeoutMs?: number;
  /** Allow plain http to a non-loopback address (a private network you trust). Default false. */
  allowHttp?: boolean;
  /** How often `put` retries when another writer wins the implicit check-and-set (default 3). */
  maxWriteAttempts?: number;
}

const CAS_MISMATCH = 'check-and-set parameter did not match the current version';

/** Vault's error body is `{"errors": ["..."]}`; joins them, redacted and capped. */
function vaultErrors(json: unknown, redact: ReadonlyArray<Secret | string | undefined>): string {
  if (!isObject(json) || !Array.isArray(json.errors)) return '';
  const text = json.errors.filter((e): e is string => typeof e === 'string').join('; ');
  return text ? `: ${redactText(text, redact)}` : '';
}

interface KvRead {
  /** The secret's key/value map, or undefined when absent or its latest version is deleted. */
  data: Record<string, unknown> | undefined;
  /** The current version (0 when the secret was never written). */
  version: number;
}

/**
 * HashiCorp Vault (or OpenBao) KV version 2 over its HTTP API, token auth. A key is the secret's path under the mount,
 * with `#field` for one field of its key/value map (default field `value`): `get('wacloud/prod#app_secret')` reads
 * `GET /v1/secret/data/wacloud/prod` and returns `data.data.app_secret`.
 *
 * `put` merges the field into the map with check-and-set (`options.cas`): with `{ cas }` it fails with a
 * {@link SecretConflictError} unless `cas` is the current version; without it, it uses the version it just read and
 * retries if another writer got in between, so a field is never written over a concurrent change.
 *
 * @see https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2
 * @example
 * const vault = createVaultKvSource({ address: 'https://vault:8200', token: process.env.VAULT_TOKEN!, mount: 'secret' });
 * const secret = await vault.get('wacloud/prod#app_secret');
 * const { version } = await vault.put('wacloud/prod#app_secret', rotated, { cas: 3 });
 */
export function createVaultKvSource(options: VaultKvSourceOptions): SecretSource {
  if (!options || typeof options.address !== 'string') {
    throw new ConfigError('createVaultKvSource: address', 'is required (e.g. https://vault.internal:8200)');
  }
  let base: string;
  try {
    base = parseBaseUrl('createVaultKvSource: address', options.address).replace(/\/+$/, '');
  } catch (err) {
    if (!(options.allowHttp && /^http:\/\//i.test(options.address))) throw err;
    base = new URL(options.address).toString().replace(/\/+$/, '');
  }
  if (options.token === undefined || options.token === null || options.token === '') {
    throw new ConfigError(
      'createVaultKvSource: token',
      'is required (a Vault token or a function returning one)',
    );
  }
  const mount = (options.mount ?? 'secret').replace(/^\/+|\/+$/g, '');
  if (mount === '' || mount.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new ConfigError('createVaultKvSource: mount', 'must be a mount path such as "secret" or "kv/team"');
  }
  const defaultField = options.defaultField ?? 'value';
  const transport = options.transport ?? createFetchTransport();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxWriteAttempts = Math.max(1, options.maxWriteAttempts ?? 3);
  const name = `vault(${new URL(base).host}/${mount})`;
  const tokenOption = options.token;

  async function token(): Promise<Secret> {
    const t = typeof tokenOption === 'function' ? await tokenOption() : tokenOption;
    return Secret.from(t, 'vault token');
  }

  function dataUrl(key: string, path: string): string {
    const segments = path.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new SecretSourceError(
        'invalid-key',
        name,
        `"${path}" is not a secret path (empty, . or .. segment)`,
        {
          key,
        },
      );
    }
    return `${base}/v1/${mount.split('/').map(encodeURIComponent).join('/')}/data/${segments.map(encodeURIComponent).join('/')}`;
  }

  async function call(
    key: string,
    method: 'GET' | 'POST',
    url: string,
    redact: Array<Secret | string | undefined>,
    body?: unknown,
  ): Promise<JsonResponse & { token: Secret }> {
    const t = await token();
    const headers: Record<string, string> = {
      'x-vault-token': t.reveal(),
      'x-vault-request': 'true',
      accept: 'application/json',
    };
    if (options.namespace) headers['x-vault-namespace'] = options.namespace;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await requestJson(
      { transport, source: name, key, timeoutMs, redact: [t, ...redact] },
      { method, url, headers, body: body === undefined ? undefined : JSON.stringify(body) },
    );
    return { ...res, token: t };
  }

  function failure(
    key: string,
    action: string,
    path: string,
    res: JsonResponse,
    redact: ReadonlyArray<Secret | string | undefined>,
  ): SecretSourceError {
    const detail = vaultErrors(res.json, redact);
    const opts = { key, httpStatus: res.status };
    if (res.status === 401 || res.status === 403 || /missing client token|invalid token/i.test(detail)) {
      return new SecretSourceError(
        'unauthorized',
        name,
        `Vault refused to ${action} "${path}" (HTTP ${res.status}${detail}); check the token and that its policy allows ${action} on ${mount}/data/${path}`,
        opts,
      );
    }
    if (res.status === 503) {
      return new SecretSourceError(
        'unavailable',
        name,
        `Vault is sealed or not active (HTTP 503${detail})`,
        opts,
      );
    }
    if (res.status === 429 || res.status >= 500) {
      return new SecretSourceError('unavailable', name, `Vault answered HTTP ${res.status}${detail}`, opts);
    }
    return new SecretSourceError(
      'bad-response',
      name,
      `Vault answered HTTP ${res.status} to ${action} "${path}"${detail}`,
      opts,
    );
  }

  function badShape(key: string, status: number): SecretSourceError {
    return new SecretSourceError(
      'bad-response',
      name,
      `Vault's answer has no data.data map; is ${mount} a KV version 2 mount?`,
      { key, httpStatus: status },
    );
  }

  async function read(
    key: string,
    path: string,
    redact: Array<Secret | string | undefined>,
  ): Promise<KvRead> {
    const res = await call(key, 'GET', dataUrl(key, path), redact);
    const body = isObject(res.json) ? res.json : undefined;
    const data = body && isObject(body.data) ? body.data : undefined;
    const metadata = data && isObject(data.metadata) ? data.metadata : undefined;
    const version = typeof metadata?.version === 'number' ? metadata.version : 0;
    if (res.status === 404) {
      // A missing secret is 404 with `"errors": []`; a message there means the route itself is wrong.
      const errors = body && Array.isArray(body.errors) ? body.errors : [];
      if (errors.length > 0) {
        const detail = vaultErrors(res.json, [res.token, ...redact]);
        throw new SecretSourceError(
          'bad-response',
          name,
          `Vault has no route for "${path}" (HTTP 404${detail}); is "${mount}" a KV version 2 mount?`,
          { key, httpStatus: 404 },
        );
      }
      // Absent, or its latest version deleted (then the body still carries the metadata and the version).
      return { data: undefined, version };
    }
    if (res.status !== 200) throw failure(key, 'read', path, res, [res.token, ...redact]);
    if (!data) throw badShape(key, res.status);
    if (data.data === null) return { data: undefined, version };
    if (!isObject(data.data)) throw badShape(key, res.status);
    return { data: data.data, version };
  }

  return {
    name,
    async get(key: string): Promise<Secret | undefined> {
      const parsed = parseSecretKey(name, key);
      const current = await read(key, parsed.name, []);
      if (!current.data) return undefined;
      const field = parsed.field ?? defaultField;
      const value = Object.hasOwn(current.data, field) ? fieldText(current.data[field]) : undefined;
      return value === undefined ? undefined : new Secret(value, key);
    },

    async put(
      key: string,
      value: Secret | string,
      putOptions: PutSecretOptions = {},
    ): Promise<PutSecretResult> {
      const parsed = parseSecretKey(name, key);
      const field = parsed.field ?? defaultField;
      const expected = putOptions.cas;
      if (expected !== undefined && !(Number.isInteger(expected) && expected >= 0)) {
        throw new SecretSourceError('invalid-key', name, 'cas must be a version number >= 0', { key });
      }
      const redact = [value];
      for (let attempt = 1; ; attempt++) {
        const current = await read(key, parsed.name, redact);
        if (expected !== undefined && current.version !== expected) {
          throw new SecretConflictError(
            name,
            `"${parsed.name}" is at version ${current.version}, not ${expected}; read it again and retry`,
            { key, expectedVersion: expected },
          );
        }
        const res = await call(key, 'POST', dataUrl(key, parsed.name), redact, {
          options: { cas: current.version },
          data: { ...current.data, [field]: reveal(value) },
        });
        if (res.status === 200 || res.status === 204) {
          const body = isObject(res.json) && isObject(res.json.data) ? res.json.data : undefined;
          const version = typeof body?.version === 'number' ? body.version : undefined;
          return version === undefined ? {} : { version };
        }
        const detail = vaultErrors(res.json, [res.token, ...redact]);
        if (res.status === 400 && detail.includes(CAS_MISMATCH)) {
          // Someone wrote between our read and our write.
          if (expected === undefined && attempt < maxWriteAttempts) continue;
          throw new SecretConflictError(
            name,
            `"${parsed.name}" changed while writing (${CAS_MISMATCH}); read it again and retry`,
            { key, httpStatus: 400, ...(expected === undefined ? {} : { expectedVersion: expected }) },
          );
        }
        throw failure(key, 'write', parsed.name, res, [res.token, ...redact]);
      }
    },
  };
}
