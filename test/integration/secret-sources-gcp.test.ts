import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { createUndiciTransport } from '../../src/transport/undici-transport.js';
import {
  createGcpMetadataTokenProvider,
  createGcpSecretManagerSource,
  SecretSourceError,
} from '../../src/vault/secret-sources/index.js';
import { type FakeGcp, startFakeGcpSecretManager } from '../support/fake-gcp-secret-manager.js';
import { expectNoSecrets } from '../support/secret-scan.js';

// No GCP here: test/support/fake-gcp-secret-manager.ts speaks Secret Manager's documented REST API v1 over a real
// loopback socket (bearer tokens, base64 payloads with CRC-32C, Google error bodies).
const TOKEN = 'ya29.a0AfB_byFAKEaccessTOKENforTESTSonly0123456789abcdef';
const DENIED = 'ya29.a0AfB_byDENIEDaccessTOKEN000000000000000000000000';
const VALUE = 'gcp-secret-value-fedcba98765432100123456789abcdef';

let gcp: FakeGcp;
beforeAll(async () => {
  gcp = await startFakeGcpSecretManager({
    project: 'wacloud-test',
    tokens: [TOKEN],
    denied: [DENIED],
    metadataToken: { access_token: TOKEN, expires_in: 3599 },
  });
});
afterAll(async () => {
  await gcp.close();
});
beforeEach(() => {
  gcp.secrets.clear();
  gcp.corruptChecksums = false;
  gcp.requests.length = 0;
});

function source(token: string | (() => Promise<string | Secret>) = TOKEN, extra = {}) {
  return createGcpSecretManagerSource({
    project: 'wacloud-test',
    endpoint: gcp.url,
    accessToken: typeof token === 'string' ? async () => new Secret(token) : token,
    timeoutMs: 2_000,
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

describe('GCP Secret Manager source (REST v1, fake server)', () => {
  it('reads latest, a pinned version and a JSON field; missing is undefined', async () => {
    gcp.addVersion('app', 'v1');
    gcp.addVersion('app', VALUE);
    gcp.addVersion('doc', JSON.stringify({ app_secret: VALUE, n: 3 }));
    const s = source();
    expect((await s.get('app'))?.reveal()).toBe(VALUE);
    expect((await s.get('app@1'))?.reveal()).toBe('v1');
    expect((await s.get('doc#app_secret'))?.reveal()).toBe(VALUE);
    expect((await s.get('doc#n'))?.reveal()).toBe('3');
    expect(await s.get('missing')).toBeUndefined();
    expect(await s.get('app@9')).toBeUndefined();
    const req = gcp.requests.find((r) => r.method === 'GET')!;
    expect(req.path).toBe('/v1/projects/wacloud-test/secrets/app/versions/latest:access');
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('put adds versions with a CRC-32C the server checks, creates missing secrets, merges fields', async () => {
    const s = source();
    expect(await s.put!('new-secret', new Secret(VALUE))).toEqual({ version: 1 });
    expect(await s.put!('new-secret', 'second')).toEqual({ version: 2 });
    expect(gcp.latest('new-secret')).toBe('second');
    const add = gcp.requests.find((r) => r.path.endsWith(':addVersion'))!;
    expect(JSON.parse(add.body).payload.dataCrc32c).toMatch(/^\d+$/);
    await s.put!('doc#a', '1');
    await s.put!('doc#b', VALUE);
    expect(JSON.parse(gcp.latest('doc')!)).toEqual({ a: '1', b: VALUE });
    // Unicode survives the base64 round trip and its checksum.
    await s.put!('unicode', 'clé 🔑 секрет');
    expect((await s.get('unicode'))?.reveal()).toBe('clé 🔑 секрет');
    expect((await caught(s.put!('x', 'y', { cas: 1 }))).failure).toBe('not-supported');
    expect((await caught(s.put!('x@2', 'y'))).failure).toBe('invalid-key');
    const noCreate = source(TOKEN, { createIfMissing: false });
    expect((await caught(noCreate.put!('absent', 'x'))).httpStatus).toBe(404);
  });

  it('a corrupted payload fails the checksum check', async () => {
    gcp.addVersion('app', VALUE);
    gcp.corruptChecksums = true;
    const err = await caught(source().get('app'));
    expect(err.failure).toBe('bad-response');
    expect(err.message).toMatch(/CRC-32C/);
    expectNoSecrets(err.message, [VALUE]);
  });

  it('a disabled latest version is an error, not a silent undefined', async () => {
    gcp.addVersion('app', VALUE, 'DISABLED');
    const err = await caught(source().get('app'));
    expect(err.message).toMatch(/FAILED_PRECONDITION.*DISABLED/);
  });

  it('a bad token: unauthorized after one retry with a fresh token; neither token appears', async () => {
    gcp.addVersion('app', VALUE);
    const bad = ['ya29.BADbadBADbadBADbadBADbad000000000001', 'ya29.BADbadBADbadBADbadBADbad000000000002'];
    let calls = 0;
    const err = await caught(source(async () => bad[calls++]!).get('app'));
    expect(calls).toBe(2);
    expect(err.failure).toBe('unauthorized');
    expect(err.httpStatus).toBe(401);
    expect(err.message).toMatch(/UNAUTHENTICATED/);
    expectNoSecrets(`${err.message}\n${err.stack}`, [...bad, VALUE, TOKEN]);
  });

  it('an expired token is replaced by the provider on 401 and the read succeeds', async () => {
    gcp.addVersion('app', VALUE);
    const tokens = ['ya29.EXPIREDexpiredEXPIRED000000000000', TOKEN];
    let i = 0;
    expect((await source(async () => tokens[i++]!).get('app'))?.reveal()).toBe(VALUE);
    expect(i).toBe(2);
  });

  it('a token without the IAM role: unauthorized (403), nothing written', async () => {
    const err = await caught(source(DENIED).put!('app', VALUE));
    expect(err.failure).toBe('unauthorized');
    expect(err.httpStatus).toBe(403);
    expect(err.message).toMatch(/secretmanager/);
    expect(gcp.secrets.size).toBe(0);
    expectNoSecrets(err.message, [DENIED, VALUE]);
  });

  it('a failing token provider is a clear unauthorized error', async () => {
    const err = await caught(
      source(async () => {
        throw new Error('no credentials configured');
      }).get('app'),
    );
    expect(err.failure).toBe('unauthorized');
    expect(err.message).toMatch(/access token provider failed/);
  });

  it('server down fails fast; bad keys are refused before any request', async () => {
    const down = await startFakeGcpSecretManager({ project: 'p', tokens: [] });
    await down.close();
    const s = createGcpSecretManagerSource({
      project: 'p',
      endpoint: down.url,
      accessToken: async () => TOKEN,
    });
    const err = await caught(s.get('x'));
    expect(err.failure).toBe('unavailable');
    expect(err.message).toMatch(/connection refused/);
    expectNoSecrets(err.message, [TOKEN]);
    const before = gcp.requests.length;
    for (const key of ['../x', 'a/b', 'x@v1', 'x@0', '']) {
      expect((await caught(source().get(key))).failure).toBe('invalid-key');
    }
    expect(gcp.requests.length).toBe(before);
  });

  it('works over the undici transport too', async () => {
    gcp.addVersion('app', VALUE);
    const transport = createUndiciTransport();
    try {
      expect((await source(TOKEN, { transport }).get('app'))?.reveal()).toBe(VALUE);
    } finally {
      await transport.close();
    }
  });

  it('metadata-server token provider: one fetch, reused until a minute before expiry', async () => {
    let now = 1_000_000;
    const provider = createGcpMetadataTokenProvider({ endpoint: gcp.url, now: () => now });
    gcp.metadataCalls = 0;
    gcp.addVersion('app', VALUE);
    const s = source(provider);
    await Promise.all([s.get('app'), s.get('app'), s.get('app')]);
    expect(gcp.metadataCalls).toBe(1);
    expect(gcp.requests.find((r) => r.path.startsWith('/computeMetadata'))!.headers['metadata-flavor']).toBe(
      'Google',
    );
    now += (3599 - 61) * 1000;
    await s.get('app');
    expect(gcp.metadataCalls).toBe(1);
    now += 2_000;
    await s.get('app');
    expect(gcp.metadataCalls).toBe(2);
  });

  it('rejects bad options with a ConfigError', () => {
    expect(() => createGcpSecretManagerSource({ project: '', accessToken: async () => TOKEN })).toThrow(
      /project/,
    );
    expect(() =>
      createGcpSecretManagerSource({ project: 'p', accessToken: TOKEN as unknown as () => Promise<string> }),
    ).toThrow(/accessToken/);
    expect(() =>
      createGcpSecretManagerSource({
        project: 'p',
        accessToken: async () => TOKEN,
        endpoint: 'http://gcp.example',
      }),
    ).toThrow(/https/);
  });
});
