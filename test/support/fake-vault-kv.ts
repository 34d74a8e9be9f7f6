import { randomUUID } from 'node:crypto';
import { type FakeServer, type RecordedRequest, sendJson, startFakeHttpServer } from './fake-http.js';

/**
 * A small server speaking HashiCorp Vault's KV version 2 HTTP API, as documented at
 * https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2 (read, create/update with `options.cas`, delete
 * latest version) plus token auth (`X-Vault-Token`), namespaces (`X-Vault-Namespace`) and the sealed state. Neither
 * Debian nor npm ships a Vault or OpenBao server, so the sources are tested against this.
 */
export interface FakeVaultOptions {
  /** token → what it may do. */
  tokens: Record<string, { read?: boolean; write?: boolean }>;
  /** KV v2 mounts (default ["secret"]). */
  mounts?: string[];
  /** When set, requests must carry this X-Vault-Namespace. */
  namespace?: string;
  /** The mount's cas_required setting. */
  casRequired?: boolean;
}

interface Version {
  data: Record<string, unknown>;
  created: string;
  deleted: string;
}

export interface FakeVault extends FakeServer {
  /** mount → path → versions (index 0 is version 1). */
  store: Map<string, Map<string, Version[]>>;
  sealed: boolean;
  /** Writes directly, as another client would. Returns the new version. */
  write(mount: string, path: string, data: Record<string, unknown>): number;
  /** Before the next write request is handled, run this (to simulate a concurrent writer). */
  beforeNextWrite: (() => void) | undefined;
}

export async function startFakeVault(options: FakeVaultOptions): Promise<FakeVault> {
  const mounts = options.mounts ?? ['secret'];
  const store = new Map<string, Map<string, Version[]>>(mounts.map((m) => [m, new Map()]));
  const now = () => new Date().toISOString();
  const write = (mount: string, path: string, data: Record<string, unknown>): number => {
    const m = store.get(mount)!;
    const versions = m.get(path) ?? [];
    versions.push({ data, created: now(), deleted: '' });
    m.set(path, versions);
    return versions.length;
  };
  const metadata = (v: Version, n: number) => ({
    created_time: v.created,
    custom_metadata: null,
    deletion_time: v.deleted,
    destroyed: false,
    version: n,
  });
  const envelope = (data: unknown) => ({
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
    mount_type: 'kv',
  });

  const fake = {} as FakeVault;
  const server = await startFakeHttpServer((req: RecordedRequest, res) => {
    if (fake.sealed) return sendJson(res, 503, { errors: ['Vault is sealed'] });
    const url = new URL(req.path, 'http://vault');
    const token = req.headers['x-vault-token'];
    const grant = typeof token === 'string' ? options.tokens[token] : undefined;
    if (!grant) {
      return sendJson(res, 403, {
        errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'],
      });
    }
    if (options.namespace !== undefined && req.headers['x-vault-namespace'] !== options.namespace) {
      return sendJson(res, 403, { errors: ['permission denied'] });
    }
    const match = /^\/v1\/(.+?)\/data\/(.+)$/.exec(url.pathname);
    const mount = match ? decodeURIComponent(match[1]!) : undefined;
    if (!match || !mount || !store.has(mount)) {
      return sendJson(res, 404, {
        errors: [`no handler for route "${url.pathname.slice(4)}". route entry not found.`],
      });
    }
    const path = match[2]!.split('/').map(decodeURIComponent).join('/');
    const versions = store.get(mount)!.get(path);

    if (req.method === 'GET') {
      if (!grant.read)
        return sendJson(res, 403, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
      const wanted = url.searchParams.get('version');
      const n = wanted && wanted !== '0' ? Number(wanted) : (versions?.length ?? 0);
      const v = versions?.[n - 1];
      if (!v) return sendJson(res, 404, { errors: [] });
      if (v.deleted) return sendJson(res, 404, envelope({ data: null, metadata: metadata(v, n) }));
      return sendJson(res, 200, envelope({ data: v.data, metadata: metadata(v, n) }));
    }
    if (req.method === 'POST' || req.method === 'PUT') {
      if (!grant.write)
        return sendJson(res, 403, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
      let body: { data?: unknown; options?: { cas?: unknown } };
      try {
        body = JSON.parse(req.body);
      } catch {
        return sendJson(res, 400, { errors: ['error parsing JSON'] });
      }
      if (!body || typeof body.data !== 'object' || body.data === null || Array.isArray(body.data)) {
        return sendJson(res, 400, { errors: ['no data provided'] });
      }
      fake.beforeNextWrite?.();
      fake.beforeNextWrite = undefined;
      const current = store.get(mount)!.get(path)?.length ?? 0;
      const cas = body.options?.cas;
      if (cas === undefined && options.casRequired) {
        return sendJson(res, 400, { errors: ['check-and-set parameter required for this call'] });
      }
      if (cas !== undefined && Number(cas) !== current) {
        return sendJson(res, 400, { errors: ['check-and-set parameter did not match the current version'] });
      }
      const n = write(mount, path, body.data as Record<string, unknown>);
      const v = store.get(mount)!.get(path)![n - 1]!;
      return sendJson(res, 200, envelope(metadata(v, n)));
    }
    if (req.method === 'DELETE') {
      if (!grant.write)
        return sendJson(res, 403, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
      const last = versions?.[versions.length - 1];
      if (last) last.deleted = now();
      res.writeHead(204);
      return res.end();
    }
    return sendJson(res, 405, { errors: ['1 error occurred:\n\t* unsupported operation\n\n'] });
  });
  return Object.assign(fake, server, { store, sealed: false, write, beforeNextWrite: undefined });
}
