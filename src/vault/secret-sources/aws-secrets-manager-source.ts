import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../core/errors.js';
import { reveal, Secret } from '../../core/secret.js';
import { mergeField, parseSecretKey, selectField } from './secret-key.js';
import { redactText, SecretSourceError } from './secret-source-error.js';
import type { PutSecretOptions, PutSecretResult, SecretSource } from './types.js';

/**
 * What this source needs of an AWS SDK v3 Secrets Manager client: its `send`. A `SecretsManagerClient` you built
 * (with your credentials provider, retry and proxy settings) fits.
 */
export interface AwsSecretsManagerClientLike {
  send(command: object, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/** Options for {@link createAwsSecretsManagerSource}. */
export interface AwsSecretsManagerSourceOptions {
  /** A ready client. Without it one is built from `region`, `endpoint` and `credentials` (or the SDK's defaults). */
  client?: AwsSecretsManagerClientLike;
  /** AWS region (default: the SDK's resolution: AWS_REGION, the shared config). */
  region?: string;
  /** Another endpoint (a VPC endpoint, LocalStack, a test server). */
  endpoint?: string;
  /** Static credentials (default: the SDK's provider chain: env, shared files, IMDS, …). */
  credentials?: { accessKeyId: string; secretAccessKey: Secret | string; sessionToken?: Secret | string };
  /** Budget per call, retries included (default 10 s). */
  timeoutMs?: number;
  /** SDK attempts per call (default 2: one retry). */
  maxAttempts?: number;
  /** `put` creates the secret when it does not exist yet (default true). */
  createIfMissing?: boolean;
}

type SdkModule = typeof import('@aws-sdk/client-secrets-manager');

const PEER = '@aws-sdk/client-secrets-manager';

/**
 * Imports the optional peer `@aws-sdk/client-secrets-manager`, turning "not installed" into a clear error.
 * `importer` exists for tests. Typed `object` so that wacloud's declarations never name the optional package.
 */
export async function loadAwsSecretsManagerSdk(
  importer: () => Promise<unknown> = () => import('@aws-sdk/client-secrets-manager'),
): Promise<object> {
  try {
    return (await importer()) as object;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new SecretSourceError(
        'missing-dependency',
        'aws-sm',
        `the AWS Secrets Manager source needs the optional peer dependency ${PEER}: npm install ${PEER}`,
        { cause: err },
      );
    }
    throw new SecretSourceError('missing-dependency', 'aws-sm', `${PEER} failed to load`, { cause: err });
  }
}

const UNAUTHORIZED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'CredentialsProviderError',
  'DecryptionFailure',
]);

/** Copies what is safe to keep of an SDK error: its name, a redacted message, network codes. */
function safeCause(err: unknown, redact: ReadonlyArray<Secret | string | undefined>): Error | undefined {
  if (!(err instanceof Error)) return undefined;
  const copy = new Error(redactText(err.message, redact));
  copy.name = err.name;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') (copy as Error & { code?: string }).code = code;
  return copy;
}

/**
 * AWS Secrets Manager through the AWS SDK v3 (`GetSecretValue`, `PutSecretValue`, `CreateSecret`), loaded only when
 * first used so that wacloud does not pull the SDK into installs that never touch AWS. A key is a secret name or ARN,
 * with `#field` for one field of a JSON `SecretString` (`wacloud/prod#app_secret`). A binary secret is returned
 * base64-encoded, as the AWS CLI prints it. AWS has no check-and-set, so `put` with `cas` is refused.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
 * @example
 * const aws = createAwsSecretsManagerSource({ region: 'eu-west-1' });
 * const appSecret = await aws.get('wacloud/prod#app_secret');
 */
export function createAwsSecretsManagerSource(options: AwsSecretsManagerSourceOptions = {}): SecretSource {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const createIfMissing = options.createIfMissing ?? true;
  if (options.endpoint !== undefined) {
    try {
      new URL(options.endpoint);
    } catch {
      throw new ConfigError('createAwsSecretsManagerSource: endpoint', 'is not a URL');
    }
  }
  const name = `aws-sm(${options.endpoint ? new URL(options.endpoint).host : (options.region ?? 'default region')})`;
  const credentialSecrets = [options.credentials?.secretAccessKey, options.credentials?.sessionToken];
  let sdk: Promise<{ module: SdkModule; client: AwsSecretsManagerClientLike }> | undefined;

  function load(): Promise<{ module: SdkModule; client: AwsSecretsManagerClientLike }> {
    sdk ??= loadAwsSecretsManagerSdk().then((loaded) => {
      const module = loaded as SdkModule;
      if (options.client) return { module, client: options.client };
      const creds = options.credentials;
      const client = new module.SecretsManagerClient({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        maxAttempts: options.maxAttempts ?? 2,
        ...(creds
          ? {
              credentials: {
                accessKeyId: creds.accessKeyId,
                secretAccessKey: reveal(creds.secretAccessKey),
                ...(creds.sessionToken ? { sessionToken: reveal(creds.sessionToken) } : {}),
              },
            }
          : {}),
      });
      return { module, client };
    });
    // A failed load (peer missing) is retried on the next call: the package may be installed meanwhile.
    sdk.catch(() => {
      sdk = undefined;
    });
    return sdk;
  }

  async function send(
    key: string,
    build: (m: SdkModule) => object,
    action: string,
    redact: ReadonlyArray<Secret | string | undefined>,
  ): Promise<Record<string, unknown>> {
    const { module, client } = await load();
    const all = [...credentialSecrets, ...redact];
    try {
      const out = await client.send(build(module), { abortSignal: AbortSignal.timeout(timeoutMs) });
      return (out ?? {}) as Record<string, unknown>;
    } catch (err) {
      const errName = err instanceof Error ? err.name : 'Error';
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const message = err instanceof Error ? redactText(err.message, all) : '';
      const opts = { key, httpStatus: status, cause: safeCause(err, all) };
      if (errName === 'ResourceNotFoundException') {
        throw new SecretSourceError('not-found', name, `no secret "${parseSecretKey(name, key).name}"`, opts);
      }
      if (UNAUTHORIZED.has(errName)) {
        throw new SecretSourceError(
          'unauthorized',
          name,
          `AWS refused to ${action} "${parseSecretKey(name, key).name}" (${errName}: ${message}); check the credentials and the IAM policy`,
          opts,
        );
      }
      if (errName === 'TimeoutError' || errName === 'AbortError') {
        throw new SecretSourceError(
          'unavailable',
          name,
          `${action} "${parseSecretKey(name, key).name}" timed out (limit ${timeoutMs} ms)`,
          opts,
        );
      }
      if (errName === 'InvalidRequestException' || errName === 'InvalidParameterException') {
        throw new SecretSourceError(
          'bad-value',
          name,
          `AWS rejected ${action} "${parseSecretKey(name, key).name}" (${errName}: ${message})`,
          opts,
        );
      }
      throw new SecretSourceError(
        'unavailable',
        name,
        `${action} "${parseSecretKey(name, key).name}" failed (${errName}: ${message})`,
        opts,
      );
    }
  }

  function isNotFound(err: unknown): boolean {
    return err instanceof SecretSourceError && err.failure === 'not-found';
  }

  async function readString(
    key: string,
    secretId: string,
    redact: Array<Secret | string>,
  ): Promise<string | undefined> {
    let out: Record<string, unknown>;
    try {
      out = await send(key, (m) => new m.GetSecretValueCommand({ SecretId: secretId }), 'read', redact);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    if (typeof out.SecretString === 'string') return out.SecretString;
    if (out.SecretBinary instanceof Uint8Array) return Buffer.from(out.SecretBinary).toString('base64');
    throw new SecretSourceError('bad-response', name, `GetSecretValue for "${secretId}" returned no value`, {
      key,
    });
  }

  return {
    name,
    async get(key: string): Promise<Secret | undefined> {
      const parsed = parseSecretKey(name, key);
      const raw = await readString(key, parsed.name, []);
      if (raw === undefined) return undefined;
      const value = parsed.field === undefined ? raw : selectField(name, key, raw, parsed.field);
      return value === undefined ? undefined : new Secret(value, key);
    },

    async put(key: string, value: Secret | string, putOptions?: PutSecretOptions): Promise<PutSecretResult> {
      if (putOptions?.cas !== undefined) {
        throw new SecretSourceError(
          'not-supported',
          name,
          'AWS Secrets Manager has no check-and-set; write without cas (AWS keeps the previous version as AWSPREVIOUS)',
          { key },
        );
      }
      const parsed = parseSecretKey(name, key);
      const redact = [value];
      // A field write reads, merges and writes: AWS offers no atomic merge, so two concurrent field writes can race.
      const current = parsed.field === undefined ? undefined : await readString(key, parsed.name, redact);
      const text =
        parsed.field === undefined
          ? reveal(value)
          : mergeField(name, key, current, parsed.field, reveal(value));
      redact.push(text);
      let out: Record<string, unknown>;
      try {
        out = await send(
          key,
          (m) =>
            new m.PutSecretValueCommand({
              SecretId: parsed.name,
              SecretString: text,
              ClientRequestToken: randomUUID(),
            }),
          'write',
          redact,
        );
      } catch (err) {
        if (!isNotFound(err) || !createIfMissing || parsed.name.startsWith('arn:')) throw err;
        out = await send(
          key,
          (m) =>
            new m.CreateSecretCommand({
              Name: parsed.name,
              SecretString: text,
              ClientRequestToken: randomUUID(),
            }),
          'create',
          redact,
        );
      }
      return typeof out.VersionId === 'string' ? { version: out.VersionId } : {};
    },
  };
}
