import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import {
  isSecretReference,
  parseSecretReference,
  resolveSecretReference,
  SecretSourceError,
  secretSourceFromUrl,
} from '../../src/vault/secret-sources/index.js';
import { type FakeAws, startFakeAwsSecretsManager } from '../support/fake-aws-secrets-manager.js';
import { type FakeGcp, startFakeGcpSecretManager } from '../support/fake-gcp-secret-manager.js';
import { type FakeVault, startFakeVault } from '../support/fake-vault-kv.js';

const VALUE = 'referenced-secret-0123456789abcdef01234567';
const VAULT_TOKEN = 'hvs.urlTESTtokenURLtestTOKEN0000000001';
const GCP_TOKEN = 'ya29.urlTESTtokenURLtestTOKEN000000001';

describe('parseSecretReference', () => {
  it('parses every documented form', () => {
    expect(parseSecretReference('env:WACLOUD_MASTER_KEY')).toEqual({
      kind: 'env',
      key: 'WACLOUD_MASTER_KEY',
    });
    expect(parseSecretReference('env:APP_JSON#secret')).toEqual({ kind: 'env', key: 'APP_JSON#secret' });
    expect(parseSecretReference('file:/run/secrets/master_key')).toEqual({
      kind: 'file',
      path: '/run/secrets/master_key',
      key: 'master_key',
    });
    expect(parseSecretReference('file:///run/secrets/app.json#secret')).toEqual({
      kind: 'file',
      path: '/run/secrets/app.json',
      key: 'app.json#secret',
    });
    expect(parseSecretReference('dotenv:/etc/wacloud/.env#WA_APP_SECRET')).toEqual({
      kind: 'dotenv',
      path: '/etc/wacloud/.env',
      key: 'WA_APP_SECRET',
    });
    expect(parseSecretReference('vault://vault.internal:8200/secret/wacloud/prod#master_key')).toEqual({
      kind: 'vault',
      address: 'https://vault.internal:8200',
      mount: 'secret',
      namespace: undefined,
      key: 'wacloud/prod#master_key',
    });
    expect(parseSecretReference('vault+http://127.0.0.1:8200/kv/a?namespace=team-a')).toMatchObject({
      address: 'http://127.0.0.1:8200',
      mount: 'kv',
      namespace: 'team-a',
      key: 'a',
    });
    expect(parseSecretReference('aws-sm://wacloud/prod#app_secret')).toEqual({
      kind: 'aws-sm',
      region: undefined,
      key: 'wacloud/prod#app_secret',
    });
    expect(parseSecretReference('aws-sm://name?region=eu-west-1')).toMatchObject({
      region: 'eu-west-1',
      key: 'name',
    });
    expect(
      parseSecretReference('aws-sm://arn:aws:secretsmanager:ap-south-1:123456789012:secret:wacloud-AbCdEf#k'),
    ).toEqual({
      kind: 'aws-sm',
      region: 'ap-south-1',
      key: 'arn:aws:secretsmanager:ap-south-1:123456789012:secret:wacloud-AbCdEf#k',
    });
    expect(parseSecretReference('gcp-sm://my-project/wacloud-app@3#secret')).toEqual({
      kind: 'gcp-sm',
      project: 'my-project',
      key: 'wacloud-app@3#secret',
    });
  });

  it('rejects malformed references with a ConfigError that never quotes the input', () => {
    const bad = [
      VALUE, // a raw secret pasted where a reference belongs
      `env:${VALUE}-with-dash`,
      'env:',
      'file:',
      'file://host/x',
      `dotenv:/x/.env`,
      'vault://host-only',
      'vault://host/mountonly',
      'aws-sm://',
      'gcp-sm://only-project',
      'gcp-sm://a/b/c',
    ];
    for (const ref of bad) {
      let err: unknown;
      try {
        parseSecretReference(ref, 'WACLOUD_MASTER_KEY');
      } catch (e) {
        err = e;
      }
      expect(err, ref).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe('WACLOUD_MASTER_KEY');
      expect((err as Error).message).not.toContain(VALUE);
      if (ref.length > 12) expect((err as Error).message).not.toContain(ref);
    }
    expect(isSecretReference(VALUE)).toBe(false);
    expect(isSecretReference('dGhpcyBpcyBhIGtleQ==')).toBe(false);
    expect(isSecretReference('env:X')).toBe(true);
  });
});

describe('secretSourceFromUrl against every backend', () => {
  let dir: string;
  let vault: FakeVault;
  let aws: FakeAws;
  let gcp: FakeGcp;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wacloud-refs-'));
    vault = await startFakeVault({ tokens: { [VAULT_TOKEN]: { read: true, write: true } } });
    aws = await startFakeAwsSecretsManager({
      credentials: { AKIAURLTEST000000001: 'urlTestSecretKey000000000000000000000001' },
    });
    gcp = await startFakeGcpSecretManager({ project: 'proj', tokens: [GCP_TOKEN] });
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([vault.close(), aws.close(), gcp.close()]);
  });

  it('resolves env, file, dotenv, vault, aws-sm and gcp-sm references to the same value', async () => {
    writeFileSync(join(dir, 'master_key'), `${VALUE}\n`);
    writeFileSync(join(dir, '.env'), `WACLOUD_MASTER_KEY=${VALUE}\n`);
    vault.write('secret', 'wacloud/prod', { master_key: VALUE });
    aws.create('wacloud/prod', { string: JSON.stringify({ master_key: VALUE }) });
    gcp.addVersion('wacloud-master-key', VALUE);
    const port = new URL(vault.url).port;
    const options = {
      env: { FROM_ENV: VALUE, VAULT_TOKEN },
      gcpAccessToken: async () => GCP_TOKEN,
      gcpEndpoint: gcp.url,
      aws: {
        endpoint: aws.url,
        credentials: {
          accessKeyId: 'AKIAURLTEST000000001',
          secretAccessKey: 'urlTestSecretKey000000000000000000000001',
        },
      },
    };
    const refs = [
      'env:FROM_ENV',
      `file:${join(dir, 'master_key')}`,
      `dotenv:${join(dir, '.env')}#WACLOUD_MASTER_KEY`,
      `vault+http://127.0.0.1:${port}/secret/wacloud/prod#master_key`,
      'aws-sm://wacloud/prod?region=us-east-1#master_key',
      'gcp-sm://proj/wacloud-master-key',
    ];
    for (const ref of refs) {
      expect((await resolveSecretReference(ref, options)).reveal(), ref).toBe(VALUE);
    }
    const { source, key } = secretSourceFromUrl(
      `vault+http://127.0.0.1:${port}/secret/wacloud/prod#master_key`,
      options,
    );
    expect(source.name).toBe(`vault(127.0.0.1:${port}/secret)`);
    expect(key).toBe('wacloud/prod#master_key');
  });

  it('a missing secret and a missing Vault token are clear errors', async () => {
    const err = await resolveSecretReference('env:NOPE', { env: {}, variable: 'WACLOUD_MASTER_KEY' }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(SecretSourceError);
    expect(err.failure).toBe('not-found');
    expect(err.message).toMatch(/WACLOUD_MASTER_KEY points at "NOPE"/);
    expect(() => secretSourceFromUrl('vault://v:8200/secret/x', { env: {} })).toThrow(/VAULT_TOKEN/);
  });
});
