import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import {
  createAwsSecretsManagerSource,
  loadAwsSecretsManagerSdk,
  SecretSourceError,
} from '../../src/vault/secret-sources/index.js';
import { type FakeAws, startFakeAwsSecretsManager } from '../support/fake-aws-secrets-manager.js';
import { expectNoSecrets } from '../support/secret-scan.js';

// The real @aws-sdk/client-secrets-manager, over real HTTP, against test/support/fake-aws-secrets-manager.ts: a small
// server speaking the JSON 1.1 protocol that checks every request's SigV4 signature (no AWS here).
const KEY_ID = 'AKIAFAKEFAKEFAKE0001';
const KEY_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKEKEY0001';
const DENIED_ID = 'AKIAFAKEFAKEDENIED01';
const VALUE = 'aws-secret-value-0f1e2d3c4b5a69788796a5b4c3d2e1f0';

let aws: FakeAws;
beforeAll(async () => {
  aws = await startFakeAwsSecretsManager({
    credentials: { [KEY_ID]: KEY_SECRET, [DENIED_ID]: 'deniedSecretKeyDeniedSecretKey000000001' },
    denied: [DENIED_ID],
  });
});
afterAll(async () => {
  await aws.close();
});

function source(extra: Partial<Parameters<typeof createAwsSecretsManagerSource>[0]> = {}) {
  return createAwsSecretsManagerSource({
    region: 'us-east-1',
    endpoint: aws.url,
    credentials: { accessKeyId: KEY_ID, secretAccessKey: new Secret(KEY_SECRET) },
    timeoutMs: 3_000,
    ...extra,
  });
}

async function caught(p: Promise<unknown>): Promise<SecretSourceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SecretSourceError);
    return err as SecretSourceError;
  }
  throw new Error('expected a rejection');
}

describe('AWS Secrets Manager source (real SDK, fake server)', () => {
  it('reads a SecretString, a JSON field and a binary secret; missing is undefined', async () => {
    aws.create('plain', { string: VALUE });
    aws.create('wacloud/prod', { string: JSON.stringify({ app_secret: VALUE, port: 8080 }) });
    aws.create('bin', { binary: new Uint8Array([0, 1, 2, 255]) });
    const s = source();
    expect((await s.get('plain'))?.reveal()).toBe(VALUE);
    expect((await s.get('wacloud/prod#app_secret'))?.reveal()).toBe(VALUE);
    expect((await s.get('wacloud/prod#port'))?.reveal()).toBe('8080');
    expect(await s.get('wacloud/prod#nope')).toBeUndefined();
    expect((await s.get('bin'))?.reveal()).toBe('AAEC/w==');
    expect(await s.get('does/not/exist')).toBeUndefined();
    const arn = aws.secrets.get('plain')!.arn;
    expect((await s.get(arn))?.reveal()).toBe(VALUE);
    const req = aws.requests.at(-1)!;
    expect(req.headers['x-amz-target']).toBe('secretsmanager.GetSecretValue');
    expect(req.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE0001\//);
  });

  it('a field of a value that is not JSON is a bad-value error that does not quote it', async () => {
    aws.create('not-json', { string: VALUE });
    const err = await caught(source().get('not-json#f'));
    expect(err.failure).toBe('bad-value');
    expectNoSecrets(err.message, [VALUE]);
  });

  it('put writes a new AWSCURRENT version, creates missing secrets, merges JSON fields', async () => {
    const s = source();
    aws.create('rotating', { string: 'old' });
    const r = await s.put!('rotating', new Secret(VALUE));
    expect(r.version).toMatch(/^[0-9a-f-]{36}$/);
    expect(aws.current('rotating')).toBe(VALUE);
    expect(aws.secrets.get('rotating')!.versions[0]!.stages).toEqual(['AWSPREVIOUS']);

    const created = await s.put!('brand/new', 'first');
    expect(created.version).toBeDefined();
    expect(aws.current('brand/new')).toBe('first');

    await s.put!('doc#a', '1');
    await s.put!('doc#b', VALUE);
    expect(JSON.parse(aws.current('doc')!)).toEqual({ a: '1', b: VALUE });
    expect((await s.get('doc#b'))?.reveal()).toBe(VALUE);

    const noCreate = source({ createIfMissing: false });
    expect((await caught(noCreate.put!('absent', 'x'))).message).toMatch(/no secret "absent"/);
    expect((await caught(s.put!('rotating', 'x', { cas: 1 }))).failure).toBe('not-supported');
  });

  it('a wrong secret key fails the signature check: unauthorized, no key or value in the error', async () => {
    const wrong = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY999';
    aws.create('sig', { string: VALUE });
    const err = await caught(
      source({ credentials: { accessKeyId: KEY_ID, secretAccessKey: wrong } }).get('sig'),
    );
    expect(err.failure).toBe('unauthorized');
    expect(err.message).toMatch(/InvalidSignatureException/);
    expectNoSecrets(`${err.message}\n${err.stack}\n${String(err.cause)}`, [wrong, VALUE, KEY_SECRET]);
  });

  it('an unknown access key and a denied one are unauthorized; a denied put leaks nothing', async () => {
    const unknown = await caught(
      source({ credentials: { accessKeyId: 'AKIANOBODY0000000000', secretAccessKey: 'x'.repeat(40) } }).get(
        'plain',
      ),
    );
    expect(unknown.failure).toBe('unauthorized');
    expect(unknown.message).toMatch(/UnrecognizedClientException/);
    const denied = source({
      credentials: { accessKeyId: DENIED_ID, secretAccessKey: 'deniedSecretKeyDeniedSecretKey000000001' },
    });
    const err = await caught(denied.put!('plain', VALUE));
    expect(err.failure).toBe('unauthorized');
    expect(err.message).toMatch(/AccessDeniedException/);
    expectNoSecrets(`${err.message}\n${String(err.cause)}`, [
      VALUE,
      'deniedSecretKeyDeniedSecretKey000000001',
    ]);
  });

  it('accepts a client you built (your credentials chain, retries, proxy)', async () => {
    aws.create('own-client', { string: VALUE });
    const client = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: aws.url,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: KEY_SECRET },
    });
    try {
      expect((await createAwsSecretsManagerSource({ client }).get('own-client'))?.reveal()).toBe(VALUE);
    } finally {
      client.destroy();
    }
  });

  it('a server that is down fails fast; one that never answers times out within the budget', async () => {
    const down = await startFakeAwsSecretsManager({ credentials: {} });
    await down.close();
    const started = Date.now();
    const err = await caught(source({ endpoint: down.url }).get('x'));
    expect(err.failure).toBe('unavailable');
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(3_000);

    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const t0 = Date.now();
      const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const slow = await caught(source({ endpoint, timeoutMs: 300 }).get('x'));
      expect(slow.failure).toBe('unavailable');
      expect(slow.message).toMatch(/timed out \(limit 300 ms\)/);
      expect(Date.now() - t0).toBeLessThan(3_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('a missing optional peer is a clear error naming the package to install', async () => {
    const err = await caught(
      loadAwsSecretsManagerSdk(() => import(`@aws-sdk/client-secrets-manager-${'not-installed'}`)),
    );
    expect(err.failure).toBe('missing-dependency');
    expect(err.message).toMatch(/npm install @aws-sdk\/client-secrets-manager/);
  });
});
