import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { createJsonLogger } from '../../src/core/logger.js';
import { Secret } from '../../src/core/secret.js';
import {
  createAwsSecretsManagerSource,
  createCachedSource,
  createDotenvSource,
  createEnvSource,
  createFileSource,
  createGcpSecretManagerSource,
  createVaultKvSource,
  resolveSecretReference,
  type SecretSource,
} from '../../src/vault/secret-sources/index.js';
import { type FakeServer, sendJson, startFakeHttpServer } from '../support/fake-http.js';
import { type FakeVault, startFakeVault } from '../support/fake-vault-kv.js';
import { expectNoSecrets } from '../support/secret-scan.js';

// Every error and log line the secret sources produce, across their failure paths, scanned for the secret values,
// the credentials used and the values being written, including from backends that echo requests back in errors.
const VALUE = 'leak-scan-secret-VALUE-5e4d3c2b1a09f8e7d6c5b4a3';
const WRITTEN = 'leak-scan-NEW-value-being-written-0a1b2c3d4e5f';
const VAULT_TOKEN = 'hvs.leakSCANtokenLEAKscanTOKEN000000000001';
const GCP_TOKEN = 'ya29.leakSCANgcpTOKENleakSCANgcpTOKEN0000001';
const AWS_SECRET_KEY = 'leakScanAwsSecretAccessKey/0000000000000001';
const SECRETS = [VALUE, WRITTEN, VAULT_TOKEN, GCP_TOKEN, AWS_SECRET_KEY];

function describeError(err: unknown): string {
  const parts: string[] = [inspect(err, { depth: 8 }), JSON.stringify(err) ?? ''];
  let cur: unknown = err;
  for (let i = 0; i < 6 && cur; i++) {
    if (cur instanceof Error) parts.push(cur.message, cur.stack ?? '', String(cur));
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}

async function failureText(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return describeError(err);
  }
  throw new Error('expected a rejection');
}

let dir: string;
let vault: FakeVault;
let echo: FakeServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wacloud-leaks-'));
  vault = await startFakeVault({ tokens: { [VAULT_TOKEN]: { read: true, write: true } } });
  // A backend that reflects the whole request (headers with the credential, body with the value) in its errors,
  // in each backend's own error format.
  echo = await startFakeHttpServer((req, res) => {
    const reflected = `${JSON.stringify(req.headers)} ${req.body}`;
    if (req.headers['x-vault-token']) return sendJson(res, 400, { errors: [`rejected: ${reflected}`] });
    if (req.headers['x-amz-target']) {
      return sendJson(
        res,
        400,
        { __type: 'InvalidParameterException', message: `rejected: ${reflected}` },
        {
          'content-type': 'application/x-amz-json-1.1',
        },
      );
    }
    return sendJson(res, 400, {
      error: { code: 400, status: 'INVALID_ARGUMENT', message: `rejected: ${reflected}` },
    });
  });
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await Promise.all([vault.close(), echo.close()]);
});

describe('no secret in any error or log line', () => {
  it('backends that echo the request: Vault, AWS (real SDK) and GCP errors are redacted', async () => {
    const texts: string[] = [];
    const v = createVaultKvSource({ address: echo.url, token: new Secret(VAULT_TOKEN) });
    texts.push(await failureText(v.get('p')));
    texts.push(await failureText(v.put!('p#f', WRITTEN)));
    const a = createAwsSecretsManagerSource({
      region: 'us-east-1',
      endpoint: echo.url,
      credentials: { accessKeyId: 'AKIALEAKSCAN00000001', secretAccessKey: new Secret(AWS_SECRET_KEY) },
    });
    texts.push(await failureText(a.get('p')));
    texts.push(await failureText(a.put!('p', WRITTEN)));
    const g = createGcpSecretManagerSource({
      project: 'p',
      endpoint: echo.url,
      accessToken: async () => GCP_TOKEN,
    });
    texts.push(await failureText(g.get('p')));
    texts.push(await failureText(g.put!('p', WRITTEN)));
    // The echo really carried the secrets: the redaction is what keeps them out.
    expect(echo.requests.some((r) => r.body.includes(WRITTEN))).toBe(true);
    expect(echo.requests.some((r) => JSON.stringify(r.headers).includes(GCP_TOKEN))).toBe(true);
    for (const t of texts) expect(t).toMatch(/rejected|HTTP 400|InvalidParameter/);
    expectNoSecrets(texts.join('\n'), SECRETS, 'errors from echoing backends');
  });

  it('local sources: bad values, bad keys, unsupported cas, read-only targets', async () => {
    writeFileSync(join(dir, 'plain'), VALUE);
    writeFileSync(join(dir, '.env'), `A=${VALUE}\n`);
    const sources: SecretSource[] = [
      createEnvSource({ A: VALUE }),
      createDotenvSource(join(dir, '.env')),
      createFileSource(dir),
    ];
    const texts: string[] = [];
    for (const s of sources) {
      const key = s.name.startsWith('file') ? 'plain' : 'A';
      texts.push(await failureText(s.get(`${key}#field`)));
      texts.push(await failureText(s.get('../x#y')).catch(() => ''));
      if (s.put) {
        texts.push(await failureText(s.put(key, WRITTEN, { cas: 3 })));
        texts.push(await failureText(s.put(`${key}#f`, WRITTEN)));
      }
    }
    const impossible = `'"\`${WRITTEN}`;
    texts.push(await failureText(createDotenvSource(join(dir, '.env')).put!('B', impossible)));
    texts.push(await failureText(createFileSource(join(dir, 'no', 'such')).put!('x', WRITTEN)));
    texts.push(await failureText(resolveSecretReference(VALUE)));
    texts.push(await failureText(resolveSecretReference(`env:${VALUE}`)));
    expectNoSecrets(texts.join('\n'), SECRETS, 'errors from local sources');
  });

  it('the cache warning and the watch warnings hold no value', async () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ level: 'debug', write: (l) => lines.push(l) });
    vault.write('secret', 'k', { value: VALUE });
    const clock = new ManualClock();
    const v = createVaultKvSource({ address: vault.url, token: VAULT_TOKEN });
    const cached = createCachedSource(v, { ttlMs: 1_000, clock, logger });
    expect((await cached.get('k'))?.reveal()).toBe(VALUE);
    vault.sealed = true;
    await clock.advance(2_000);
    expect((await cached.get('k'))?.reveal()).toBe(VALUE);
    vault.sealed = false;
    // A watched JSON file that turns into non-JSON: the watch logs the read failure.
    writeFileSync(join(dir, 'doc'), JSON.stringify({ f: VALUE }));
    const files = createFileSource(dir, { watch: { logger } });
    const stop = files.watch!('doc#f', () => {});
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(join(dir, 'doc'), `not json ${VALUE}`);
    const end = Date.now() + 3_000;
    while (!lines.some((l) => l.includes('secret watch')) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 10));
    stop();
    expect(lines.some((l) => l.includes('serving the cached value'))).toBe(true);
    expect(lines.some((l) => l.includes('secret watch'))).toBe(true);
    expectNoSecrets(lines.join('\n'), SECRETS, 'log lines');
    // And a Secret from any source prints as a fingerprint.
    expectNoSecrets(
      `${String(await v.get('k'))} ${JSON.stringify({ s: await v.get('k') })} ${inspect(await v.get('k'))}`,
      SECRETS,
    );
  });
});
