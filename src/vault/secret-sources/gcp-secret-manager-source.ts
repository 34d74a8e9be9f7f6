import { parseBaseUrl } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { reveal, Secret } from '../../core/secret.js';
import { createFetchTransport } from '../../transport/fetch-transport.js';
import type { Transport } from '../../transport/types.js';
import { crc32c } from './crc32c.js';
import { isObject, type JsonResponse, requestJson } from './http.js';
import { mergeField, parseSecretKey, selectField } from './secret-key.js';
import { redactText, SecretSourceError } from './secret-source-error.js';
import type { PutSecretOptions, PutSecretResult, SecretSource } from './types.js';

/** Options for {@link createGcpSecretManagerSource}. */
export interface GcpSecretManagerSourceOptions {
  /** Project id or number that owns the secrets. */
  project: string;
  /**
   * Returns a current OAuth 2 access token with the `cloud-platform` scope: google-auth-library's
   * `auth.getAccessToken()`, {@link createGcpMetadataTokenProvider} on Google Cloud, or `gcloud auth
   * print-access-token` in development. Called before each request; cache inside it.
   */
  accessToken: () => Promise<Secret | string>;
  /** API root (default `https://secretmanager.googleapis.com`; a regional `https://secretmanager.LOCATION.rep.googleapis.com`). */
  endpoint?: string;
  transport?: Transport;
  /** Budget per request (default 10 s). */
  timeoutMs?: number;
  /** `put` creates the secret (automatic replication) when it does not exist yet (default true). */
  createIfMissing?: boolean;
}

const SECRET_ID_RE = /^[A-Za-z0-9_-]{1,255}$/;
const VERSION_RE = /^(latest|[1-9][0-9]*)$/;

/** Google's error body is `{"error": {"code", "message", "status"}}`. */
function googleError(
  json: unknown,
  redact: ReadonlyArray<Secret | string | undefined>,
): { status: string; text: string } {
  const error = isObject(json) && isObject(json.error) ? json.error : undefined;
  const status = typeof error?.status === 'string' ? error.status : '';
  const message = typeof error?.message === 'string' ? redactText(error.message, redact) : '';
  return { status, text: [status, message].filter(Boolean).join(': ') };
}

/**
 * GCP Secret Manager over its REST API v1 with an injected access-token provider, instead of the
 * `@google-cloud/secret-manager` gRPC client and its dependency tree. A key is a secret id, optionally
 * `@version` (default `latest`) and `#field` for one field of a JSON payload: `get('wacloud-prod#app_secret')`
 * reads `GET /v1/projects/{project}/secrets/wacloud-prod/versions/latest:access`. Payload checksums (CRC-32C) are
 * verified on read and sent on write. GCP has no check-and-set on versions, so `put` with `cas` is refused.
 *
 * @see https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
 * @example
 * const gcp = createGcpSecretManagerSource({ project: 'my-project', accessToken: () => auth.getAccessToken() });
 * const appSecret = await gcp.get('wacloud-prod#app_secret');
 */
export function createGcpSecretManagerSource(options: GcpSecretManagerSourceOptions): SecretSource {
  if (
    !options ||
    typeof options.project !== 'string' ||
    !/^[a-z0-9][a-z0-9.:-]{0,127}$/i.test(options.project)
  ) {
    throw new ConfigError('createGcpSecretManagerSource: project', 'must be a GCP project id or number');
  }
  if (typeof options.accessToken !== 'function') {
    throw new ConfigError(
      'createGcpSecretManagerSource: accessToken',
      'must be a function returning an OAuth 2 access token',
    );
  }
  const endpoint = parseBaseUrl(
    'createGcpSecretManagerSource: endpoint',
    options.endpoint ?? 'https://secretmanager.googleapis.com',
  ).replace(/\/+$/, '');
  const project = options.project;
  const transport = options.transport ?? createFetchTransport();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const createIfMissing = options.createIfMissing ?? true;
  const name = `gcp-sm(${project})`;

  function parseKey(key: string): { secretId: string; version: string; field: string | undefined } {
    const parsed = parseSecretKey(name, key);
    const at = parsed.name.lastIndexOf('@');
    const secretId = at < 0 ? parsed.name : parsed.name.slice(0, at);
    const version = at < 0 ? 'latest' : parsed.name.slice(at + 1);
    if (!SECRET_ID_RE.test(secretId)) {
      throw new SecretSourceError(
        'invalid-key',
        name,
        `"${secretId}" is not a secret id (letters, digits, _ and -, at most 255)`,
        { key },
      );
    }
    if (!VERSION_RE.test(version)) {
      throw new SecretSourceError('invalid-key', name, `"${version}" is not a version (a number or latest)`, {
        key,
      });
    }
    return { secretId, version, field: parsed.field };
  }

  /** One request; on 401 asks the provider for a token again and retries once (it may have just expired). */
  async function call(
    key: string,
    method: 'GET' | 'POST',
    path: string,
    redact: Array<Secret | string | undefined>,
    body?: unknown,
  ): Promise<JsonResponse & { redact: Array<Secret | string | undefined> }> {
    let res: JsonResponse | undefined;
    let tokens: Secret[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      let token: Secret;
      try {
        token = Secret.from(await options.accessToken(), 'gcp access token');
      } catch (err) {
        throw new SecretSourceError('unauthorized', name, 'the access token provider failed', {
          key,
          cause: err instanceof Error ? new Error(redactText(err.message, redact)) : undefined,
        });
      }
      tokens = [...tokens, token];
      const headers: Record<string, string> = {
        authorization: `Bearer ${token.reveal()}`,
        accept: 'application/json',
      };
      if (body !== undefined) headers['content-type'] = 'application/json';
      res = await requestJson(
        { transport, source: name, key, timeoutMs, redact: [...tokens, ...redact] },
        {
          method,
          url: `${endpoint}/v1/${path}`,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        },
      );
      if (res.status !== 401) break;
    }
    return { ...(res as JsonResponse), redact: [...tokens, ...redact] };
  }

  function failure(
    key: string,
    action: string,
    what: string,
    res: JsonResponse & { redact: Array<Secret | string | undefined> },
  ): SecretSourceError {
    const { text } = googleError(res.json, res.redact);
    const detail = text ? `: ${text}` : '';
    const opts = { key, httpStatus: res.status };
    if (res.status === 401 || res.status === 403) {
      return new SecretSourceError(
        'unauthorized',
        name,
        `GCP refused to ${action} ${what} (HTTP ${res.status}${detail}); check the access token and the IAM role (roles/secretmanager.secretAccessor to read, secretVersionAdder to write)`,
        opts,
      );
    }
    if (res.status === 429 || res.status >= 500) {
      return new SecretSourceError(
        'unavailable',
        name,
        `GCP answered HTTP ${res.status} to ${action} ${what}${detail}`,
        opts,
      );
    }
    return new SecretSourceError(
      'bad-response',
      name,
      `GCP answered HTTP ${res.status} to ${action} ${what}${detail}`,
      opts,
    );
  }

  async function access(
    key: string,
    secretId: string,
    version: string,
    redact: Array<Secret | string>,
  ): Promise<{ text: string; version: number | undefined } | undefined> {
    const path = `projects/${encodeURIComponent(project)}/secrets/${secretId}/versions/${version}:access`;
    const res = await call(key, 'GET', path, redact);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw failure(key, 'read', `secret "${secretId}" version ${version}`, res);
    const payload = isObject(res.json) && isObject(res.json.payload) ? res.json.payload : undefined;
    if (!payload || (payload.data !== undefined && typeof payload.data !== 'string')) {
      throw new SecretSourceError('bad-response', name, `the answer for "${secretId}" has no payload`, {
        key,
        httpStatus: 200,
      });
    }
    const bytes = Buffer.from(typeof payload.data === 'string' ? payload.data : '', 'base64');
    if (payload.dataCrc32c !== undefined && String(payload.dataCrc32c) !== String(crc32c(bytes))) {
      throw new SecretSourceError(
        'bad-response',
        name,
        `the payload of "${secretId}" fails its CRC-32C check`,
        { key, httpStatus: 200 },
      );
    }
    const versionName = isObject(res.json) && typeof res.json.name === 'string' ? res.json.name : '';
    const n = /\/versions\/(\d+)$/.exec(versionName)?.[1];
    return { text: bytes.toString('utf8'), version: n === undefined ? undefined : Number(n) };
  }

  return {
    name,
    async get(key: string): Promise<Secret | undefined> {
      const { secretId, version, field } = parseKey(key);
      const found = await access(key, secretId, version, []);
      if (!found) return undefined;
      const value = field === undefined ? found.text : selectField(name, key, found.text, field);
      return value === undefined ? undefined : new Secret(value, key);
    },

    async put(key: string, value: Secret | string, putOptions?: PutSecretOptions): Promise<PutSecretResult> {
      if (putOptions?.cas !== undefined) {
        throw new SecretSourceError(
          'not-supported',
          name,
          'GCP Secret Manager has no check-and-set on versions; write without cas',
          { key },
        );
      }
      const { secretId, version, field } = parseKey(key);
      if (version !== 'latest') {
        throw new SecretSourceError(
          'invalid-key',
          name,
          'a write always adds a new version; drop the @version',
          { key },
        );
      }
      const redact: Array<Secret | string> = [value];
      // A field write reads, merges and adds a version: GCP has no atomic merge, so two field writers can race.
      const current = field === undefined ? undefined : await access(key, secretId, 'latest', redact);
      const text =
        field === undefined ? reveal(value) : mergeField(name, key, current?.text, field, reveal(value));
      redact.push(text);
      const bytes = Buffer.from(text, 'utf8');
      const body = { payload: { data: bytes.toString('base64'), dataCrc32c: String(crc32c(bytes)) } };
      const secretPath = `projects/${encodeURIComponent(project)}/secrets/${secretId}`;
      let res = await call(key, 'POST', `${secretPath}:addVersion`, redact, body);
      if (res.status === 404 && createIfMissing) {
        const created = await call(
          key,
          'POST',
          `projects/${encodeURIComponent(project)}/secrets?secretId=${secretId}`,
          redact,
          { replication: { automatic: {} } },
        );
        // 409: someone created it meanwhile; adding the version is still right.
        if (created.status !== 200 && created.status !== 409)
          throw failure(key, 'create', `secret "${secretId}"`, created);
        res = await call(key, 'POST', `${secretPath}:addVersion`, redact, body);
      }
      if (res.status !== 200) throw failure(key, 'write', `secret "${secretId}"`, res);
      const versionName = isObject(res.json) && typeof res.json.name === 'string' ? res.json.name : '';
      const n = /\/versions\/(\d+)$/.exec(versionName)?.[1];
      return n === undefined ? {} : { version: Number(n) };
    },
  };
}

/** Options for {@link createGcpMetadataTokenProvider}. */
export interface GcpMetadataTokenProviderOptions {
  /** Default `http://metadata.google.internal` (what GCE, GKE workload identity, Cloud Run serve). */
  endpoint?: string;
  /** Service account (default `default`). */
  serviceAccount?: string;
  transport?: Transport;
  /** Time source for expiry (default Date.now). */
  now?: () => number;
  timeoutMs?: number;
}

/**
 * An access-token provider for {@link createGcpSecretManagerSource} on Google Cloud: asks the metadata server
 * (`/computeMetadata/v1/instance/service-accounts/{sa}/token`, header `Metadata-Flavor: Google`) and reuses the
 * token until a minute before it expires.
 *
 * @see https://cloud.google.com/compute/docs/access/authenticate-workloads#applications
 */
export function createGcpMetadataTokenProvider(
  options: GcpMetadataTokenProviderOptions = {},
): () => Promise<Secret> {
  const base = (options.endpoint ?? 'http://metadata.google.internal').replace(/\/+$/, '');
  const transport = options.transport ?? createFetchTransport();
  const now = options.now ?? Date.now;
  const account = encodeURIComponent(options.serviceAccount ?? 'default');
  const source = 'gcp-metadata';
  let cached: { token: Secret; refreshAt: number } | undefined;
  let inflight: Promise<Secret> | undefined;
  const fetchToken = async (): Promise<Secret> => {
    const res = await requestJson(
      { transport, source, key: 'token', timeoutMs: options.timeoutMs ?? 5_000, redact: [] },
      {
        method: 'GET',
        url: `${base}/computeMetadata/v1/instance/service-accounts/${account}/token`,
        headers: { 'metadata-flavor': 'Google', accept: 'application/json' },
      },
    );
    const body = isObject(res.json) ? res.json : undefined;
    if (res.status !== 200 || typeof body?.access_token !== 'string') {
      throw new SecretSourceError(
        'unauthorized',
        source,
        `the metadata server gave no access token (HTTP ${res.status})`,
        {
          httpStatus: res.status,
        },
      );
    }
    const token = new Secret(body.access_token, 'gcp access token');
    const expiresInSec = typeof body.expires_in === 'number' ? body.expires_in : 300;
    cached = { token, refreshAt: now() + Math.max(0, expiresInSec - 60) * 1000 };
    return token;
  };
  return async () => {
    if (cached && now() < cached.refreshAt) return cached.token;
    inflight ??= fetchToken().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
}
