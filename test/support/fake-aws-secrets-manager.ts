import { createHash, createHmac, randomUUID } from 'node:crypto';
import { type FakeServer, type RecordedRequest, sendJson, startFakeHttpServer } from './fake-http.js';

/**
 * A small server speaking AWS Secrets Manager's JSON 1.1 protocol (`POST /`, `X-Amz-Target: secretsmanager.<Op>`,
 * `Content-Type: application/x-amz-json-1.1`, errors as `{"__type": ..., "message": ...}` with HTTP 400) for
 * GetSecretValue, PutSecretValue and CreateSecret, and verifying each request's Signature Version 4 against the
 * credentials it knows, as AWS does. The real `@aws-sdk/client-secrets-manager` is pointed at it via `endpoint`.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/Welcome.html
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 */
export interface FakeAwsOptions {
  /** accessKeyId → secretAccessKey. */
  credentials: Record<string, string>;
  region?: string;
  /** Access keys that authenticate but may not read or write (AccessDeniedException). */
  denied?: string[];
}

interface StoredSecret {
  arn: string;
  name: string;
  versions: Array<{ id: string; string?: string; binary?: string; stages: string[]; created: number }>;
}

export interface FakeAws extends FakeServer {
  secrets: Map<string, StoredSecret>;
  /** Stores a secret directly, as the console would. */
  create(name: string, value: { string?: string; binary?: Uint8Array }): StoredSecret;
  current(name: string): string | undefined;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

function awsError(type: string, message: string) {
  return { status: 400, body: { __type: type, message } };
}

/** Recomputes the SigV4 signature of a request; returns an error body or undefined when it matches. */
function verifySigV4(
  req: RecordedRequest,
  credentials: Record<string, string>,
  region: string,
): { status: number; body: unknown } | undefined {
  const auth = req.headers.authorization;
  const amzDate = req.headers['x-amz-date'];
  if (typeof auth !== 'string' || typeof amzDate !== 'string') {
    return awsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return awsError('IncompleteSignatureException', 'Authorization header is malformed');
  const [, accessKeyId, date, scopeRegion, service, signedHeaders, signature] = m as unknown as string[];
  const secret = credentials[accessKeyId!];
  if (secret === undefined) {
    return awsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (scopeRegion !== region || service !== 'secretsmanager' || !amzDate.startsWith(date!)) {
    return awsError('InvalidSignatureException', 'Credential should be scoped to a valid region.');
  }
  const url = new URL(req.path, 'http://aws');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = signedHeaders!.split(';');
  const canonicalHeaders = names
    .map((n) => {
      const v = req.headers[n];
      const text = Array.isArray(v) ? v.join(',') : (v ?? '');
      return `${n}:${text.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonicalRequest = [
    req.method,
    url.pathname,
    query,
    canonicalHeaders,
    signedHeaders,
    sha256(req.body),
  ].join('\n');
  const scope = `${date}/${scopeRegion}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), scopeRegion!), service!), 'aws4_request');
  const expected = createHmac('sha256', kSigning).update(stringToSign).digest('hex');
  if (expected !== signature) {
    return awsError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  if (!names.includes('host') || !names.includes('x-amz-date')) {
    return awsError('InvalidSignatureException', 'host and x-amz-date must be signed');
  }
  return undefined;
}

export async function startFakeAwsSecretsManager(options: FakeAwsOptions): Promise<FakeAws> {
  const region = options.region ?? 'us-east-1';
  const secrets = new Map<string, StoredSecret>();
  const find = (id: unknown): StoredSecret | undefined => {
    if (typeof id !== 'string') return undefined;
    for (const s of secrets.values()) if (s.name === id || s.arn === id) return s;
    return undefined;
  };
  const addVersion = (
    s: StoredSecret,
    value: { string?: string; binary?: string },
    id: string = randomUUID(),
  ) => {
    for (const v of s.versions) {
      v.stages = v.stages.includes('AWSCURRENT') ? ['AWSPREVIOUS'] : [];
    }
    s.versions.push({ id, ...value, stages: ['AWSCURRENT'], created: Date.now() / 1000 });
    return id;
  };
  const create = (name: string, value: { string?: string; binary?: Uint8Array }): StoredSecret => {
    const suffix = randomUUID().slice(0, 6);
    const s: StoredSecret = {
      arn: `arn:aws:secretsmanager:${region}:123456789012:secret:${name}-${suffix}`,
      name,
      versions: [],
    };
    secrets.set(name, s);
    addVersion(s, {
      ...(value.string !== undefined ? { string: value.string } : {}),
      ...(value.binary ? { binary: Buffer.from(value.binary).toString('base64') } : {}),
    });
    return s;
  };

  const server = await startFakeHttpServer((req, res) => {
    const reply = (status: number, body: unknown) =>
      sendJson(res, status, body, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': randomUUID(),
      });
    if (req.method !== 'POST' || new URL(req.path, 'http://aws').pathname !== '/') {
      return reply(404, { __type: 'UnknownOperationException' });
    }
    const authError = verifySigV4(req, options.credentials, region);
    if (authError) return reply(authError.status, authError.body);
    const accessKeyId = /Credential=([^/]+)/.exec(String(req.headers.authorization))![1]!;
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') {
      return reply(400, { __type: 'SerializationException', message: 'bad content type' });
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(req.body || '{}');
    } catch {
      return reply(400, {
        __type: 'SerializationException',
        message: 'Start of structure or map found where not expected.',
      });
    }
    if (options.denied?.includes(accessKeyId)) {
      const e = awsError(
        'AccessDeniedException',
        `User: arn:aws:iam::123456789012:user/test is not authorized to perform: ${target.replace('secretsmanager.', 'secretsmanager:')}`,
      );
      return reply(e.status, e.body);
    }
    const notFound = awsError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret.",
    );
    switch (target) {
      case 'secretsmanager.GetSecretValue': {
        const s = find(input.SecretId);
        if (!s) return reply(notFound.status, notFound.body);
        const stage = typeof input.VersionStage === 'string' ? input.VersionStage : 'AWSCURRENT';
        const v =
          typeof input.VersionId === 'string'
            ? s.versions.find((x) => x.id === input.VersionId)
            : s.versions.find((x) => x.stages.includes(stage));
        if (!v) return reply(notFound.status, notFound.body);
        return reply(200, {
          ARN: s.arn,
          Name: s.name,
          VersionId: v.id,
          ...(v.string !== undefined ? { SecretString: v.string } : {}),
          ...(v.binary !== undefined ? { SecretBinary: v.binary } : {}),
          VersionStages: v.stages,
          CreatedDate: v.created,
        });
      }
      case 'secretsmanager.PutSecretValue': {
        const s = find(input.SecretId);
        if (!s) return reply(notFound.status, notFound.body);
        if (typeof input.SecretString !== 'string' && typeof input.SecretBinary !== 'string') {
          const e = awsError(
            'InvalidParameterException',
            'You must provide either SecretString or SecretBinary.',
          );
          return reply(e.status, e.body);
        }
        const token = typeof input.ClientRequestToken === 'string' ? input.ClientRequestToken : randomUUID();
        const existing = s.versions.find((v) => v.id === token);
        const id =
          existing?.id ??
          addVersion(
            s,
            typeof input.SecretString === 'string'
              ? { string: input.SecretString }
              : { binary: String(input.SecretBinary) },
            token,
          );
        return reply(200, { ARN: s.arn, Name: s.name, VersionId: id, VersionStages: ['AWSCURRENT'] });
      }
      case 'secretsmanager.CreateSecret': {
        if (typeof input.Name !== 'string') {
          const e = awsError('InvalidParameterException', 'Name is required');
          return reply(e.status, e.body);
        }
        if (find(input.Name)) {
          const e = awsError(
            'ResourceExistsException',
            `The operation failed because the secret ${input.Name} already exists.`,
          );
          return reply(e.status, e.body);
        }
        const s = create(
          input.Name,
          typeof input.SecretString === 'string' ? { string: input.SecretString } : {},
        );
        return reply(200, { ARN: s.arn, Name: s.name, VersionId: s.versions[0]!.id });
      }
      default:
        return reply(400, { __type: 'UnknownOperationException', message: `unknown operation ${target}` });
    }
  });

  return Object.assign(server, {
    secrets,
    create,
    current: (name: string) => find(name)?.versions.find((v) => v.stages.includes('AWSCURRENT'))?.string,
  });
}
