import { type FakeServer, sendJson, startFakeHttpServer } from './fake-http.js';

/**
 * A small server speaking GCP Secret Manager's REST API v1 as documented at
 * https://cloud.google.com/secret-manager/docs/reference/rest (versions.access, secrets.addVersion, secrets.create),
 * with OAuth bearer tokens, CRC-32C payload checksums, Google's error body, and the metadata server's token route
 * (https://cloud.google.com/compute/docs/access/authenticate-workloads). No GCP here, so the source is tested
 * against this.
 */
export interface FakeGcpOptions {
  project: string;
  /** The project number Google puts in resource names. */
  projectNumber?: string;
  /** Access tokens that authenticate. */
  tokens: string[];
  /** Tokens that authenticate but lack the IAM role. */
  denied?: string[];
  /** What the metadata route hands out. */
  metadataToken?: { access_token: string; expires_in: number };
}

interface Version {
  data: string; // base64
  state: 'ENABLED' | 'DISABLED' | 'DESTROYED';
}

export interface FakeGcp extends FakeServer {
  secrets: Map<string, Version[]>;
  addVersion(secret: string, text: string, state?: Version['state']): number;
  latest(secret: string): string | undefined;
  /** When true, access answers carry a wrong dataCrc32c. */
  corruptChecksums: boolean;
  metadataCalls: number;
}

/** Bitwise CRC-32C, independent of the table-driven one in src. */
export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const googleError = (code: number, status: string, message: string) => ({ error: { code, message, status } });

export async function startFakeGcpSecretManager(options: FakeGcpOptions): Promise<FakeGcp> {
  const number = options.projectNumber ?? '123456789012';
  const secrets = new Map<string, Version[]>();
  const addVersion = (secret: string, text: string, state: Version['state'] = 'ENABLED'): number => {
    const list = secrets.get(secret) ?? [];
    list.push({ data: Buffer.from(text, 'utf8').toString('base64'), state });
    secrets.set(secret, list);
    return list.length;
  };
  const fake = {} as FakeGcp;
  const server = await startFakeHttpServer((req, res) => {
    const url = new URL(req.path, 'http://gcp');
    if (url.pathname.startsWith('/computeMetadata/')) {
      fake.metadataCalls++;
      if (req.headers['metadata-flavor'] !== 'Google' || !options.metadataToken)
        return sendJson(res, 403, {});
      return sendJson(res, 200, { ...options.metadataToken, token_type: 'Bearer' });
    }
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!options.tokens.includes(token) && !options.denied?.includes(token)) {
      return sendJson(
        res,
        401,
        googleError(
          401,
          'UNAUTHENTICATED',
          'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        ),
      );
    }
    const projectPrefix = `/v1/projects/${options.project}/`;
    if (
      !url.pathname.startsWith(projectPrefix) &&
      url.pathname !== `/v1/projects/${options.project}/secrets`
    ) {
      return sendJson(res, 404, googleError(404, 'NOT_FOUND', 'Requested entity was not found.'));
    }
    const denied = options.denied?.includes(token);
    const access = /^\/v1\/projects\/[^/]+\/secrets\/([^/]+)\/versions\/([^/:]+):access$/.exec(url.pathname);
    if (req.method === 'GET' && access) {
      const [, secret, version] = access as unknown as [string, string, string];
      const resource = `projects/${options.project}/secrets/${secret}/versions/${version}`;
      if (denied) {
        return sendJson(
          res,
          403,
          googleError(
            403,
            'PERMISSION_DENIED',
            `Permission 'secretmanager.versions.access' denied for resource '${resource}' (or it may not exist).`,
          ),
        );
      }
      const list = secrets.get(secret);
      const n = version === 'latest' ? (list?.length ?? 0) : Number(version);
      const v = list?.[n - 1];
      if (!v) {
        return sendJson(
          res,
          404,
          googleError(
            404,
            'NOT_FOUND',
            `Secret [projects/${number}/secrets/${secret}] not found or has no versions.`,
          ),
        );
      }
      if (v.state !== 'ENABLED') {
        return sendJson(
          res,
          400,
          googleError(
            400,
            'FAILED_PRECONDITION',
            `Secret Version [projects/${number}/secrets/${secret}/versions/${n}] is in ${v.state} state.`,
          ),
        );
      }
      const crc = crc32cBitwise(Buffer.from(v.data, 'base64')) + (fake.corruptChecksums ? 1 : 0);
      return sendJson(res, 200, {
        name: `projects/${number}/secrets/${secret}/versions/${n}`,
        payload: { data: v.data, dataCrc32c: String(crc) },
      });
    }
    const add = /^\/v1\/projects\/[^/]+\/secrets\/([^/:]+):addVersion$/.exec(url.pathname);
    if (req.method === 'POST' && add) {
      const secret = add[1]!;
      if (denied) {
        return sendJson(
          res,
          403,
          googleError(
            403,
            'PERMISSION_DENIED',
            `Permission 'secretmanager.versions.add' denied for resource 'projects/${options.project}/secrets/${secret}' (or it may not exist).`,
          ),
        );
      }
      if (!secrets.has(secret)) {
        return sendJson(
          res,
          404,
          googleError(404, 'NOT_FOUND', `Secret [projects/${number}/secrets/${secret}] not found.`),
        );
      }
      let body: { payload?: { data?: unknown; dataCrc32c?: unknown } };
      try {
        body = JSON.parse(req.body);
      } catch {
        return sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'));
      }
      const data = body.payload?.data;
      if (typeof data !== 'string') {
        return sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', 'Payload data is required.'));
      }
      const bytes = Buffer.from(data, 'base64');
      if (
        body.payload?.dataCrc32c !== undefined &&
        String(body.payload.dataCrc32c) !== String(crc32cBitwise(bytes))
      ) {
        return sendJson(
          res,
          400,
          googleError(400, 'INVALID_ARGUMENT', 'Checksum mismatch: data_crc32c does not match the payload.'),
        );
      }
      const list = secrets.get(secret)!;
      list.push({ data, state: 'ENABLED' });
      return sendJson(res, 200, {
        name: `projects/${number}/secrets/${secret}/versions/${list.length}`,
        createTime: new Date().toISOString(),
        state: 'ENABLED',
        etag: `"${Date.now()}"`,
        clientSpecifiedPayloadChecksum: body.payload?.dataCrc32c !== undefined,
      });
    }
    if (req.method === 'POST' && url.pathname === `/v1/projects/${options.project}/secrets`) {
      const id = url.searchParams.get('secretId') ?? '';
      if (denied)
        return sendJson(
          res,
          403,
          googleError(403, 'PERMISSION_DENIED', "Permission 'secretmanager.secrets.create' denied."),
        );
      if (!/^[A-Za-z0-9_-]{1,255}$/.test(id)) {
        return sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', 'Secret id is invalid.'));
      }
      if (secrets.has(id)) {
        return sendJson(
          res,
          409,
          googleError(409, 'ALREADY_EXISTS', `Secret [projects/${number}/secrets/${id}] already exists.`),
        );
      }
      secrets.set(id, []);
      return sendJson(res, 200, {
        name: `projects/${number}/secrets/${id}`,
        replication: { automatic: {} },
        createTime: new Date().toISOString(),
      });
    }
    return sendJson(res, 404, googleError(404, 'NOT_FOUND', 'Requested entity was not found.'));
  });
  return Object.assign(fake, server, {
    secrets,
    addVersion,
    latest: (secret: string) => {
      const v = secrets.get(secret)?.at(-1);
      return v ? Buffer.from(v.data, 'base64').toString('utf8') : undefined;
    },
    corruptChecksums: false,
    metadataCalls: 0,
  });
}
