import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_API_VERSION,
  DEFAULT_DIALOG_URL,
  DEFAULT_GRAPH_URL,
  loadConfig,
  parseBaseUrl,
  readEnvFile,
} from './config.js';
import { ConfigError } from './errors.js';
import { Secret } from './secret.js';

const TOKEN = 'EAAJconfigTestToken0123456789abcdefghij';
const APP_SECRET = 'f00dfeedcafebabe0123456789abcdef';

/** Loads from an explicit environment only: no process.env, no .env file. */
function fromEnv(env: Record<string, string>, options = {}) {
  return loadConfig(options, { env, envFile: false });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig: every variable of the contract', () => {
  it('reads each variable from the environment', () => {
    const c = fromEnv({
      CLOUD_API_ACCESS_TOKEN: TOKEN,
      WA_PHONE_NUMBER_ID: '106540352242922',
      WA_BUSINESS_ACCOUNT_ID: '102290129340398',
      CLOUD_API_VERSION: 'v23.0',
      WA_LISTENER_PORT: '3001',
      WEBHOOK_ENDPOINT: '/hooks/wa',
      WEBHOOK_VERIFICATION_TOKEN: 'verify-me',
      REQUEST_TIMEOUT: '1500',
      DEBUG: 'true',
      WA_APP_ID: '634974688087057',
      WA_APP_SECRET: APP_SECRET,
      WA_GRAPH_URL: 'http://127.0.0.1:4010/',
      WA_DIALOG_URL: 'https://dialog.example.com',
      WACLOUD_DATA_DIR: '/tmp/wacloud-data',
      DATABASE_URL: 'postgres://u:p@db.example.com/wacloud',
      WACLOUD_MASTER_KEY: 'master-key-material',
      PORT: '9090',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(c.accessToken).toBeInstanceOf(Secret);
    expect(c.accessToken?.reveal()).toBe(TOKEN);
    expect(c.phoneNumberId).toBe('106540352242922');
    expect(c.businessAccountId).toBe('102290129340398');
    expect(c.apiVersion).toBe('v23.0');
    expect(c.listenerPort).toBe(3001);
    expect(c.webhookEndpoint).toBe('/hooks/wa');
    expect(c.webhookVerificationToken?.reveal()).toBe('verify-me');
    expect(c.requestTimeoutMs).toBe(1500);
    expect(c.debug).toBe(true);
    expect(c.appId).toBe('634974688087057');
    expect(c.appSecret?.reveal()).toBe(APP_SECRET);
    expect(c.graphUrl).toBe('http://127.0.0.1:4010');
    expect(c.dialogUrl).toBe('https://dialog.example.com');
    expect(c.dataDir).toBe('/tmp/wacloud-data');
    expect(c.databaseUrl?.reveal()).toBe('postgres://u:p@db.example.com/wacloud');
    expect(c.masterKey?.reveal()).toBe('master-key-material');
    expect(c.brokerPort).toBe(9090);
    expect(c.redisUrl?.reveal()).toBe('redis://127.0.0.1:6379');
  });

  it('reads WA_LOGIN_CONFIG_ID (a Login for Business configuration id) and refuses a non-numeric one', () => {
    const env = (v: string) => loadConfig({}, { env: { WA_LOGIN_CONFIG_ID: v }, envFile: false });
    expect(env(' 1402837746938113 ').loginConfigId).toBe('1402837746938113');
    expect(() => env('my-config')).toThrow(/WA_LOGIN_CONFIG_ID.*not a numeric Meta id/);
  });

  it('has the documented defaults', () => {
    const c = loadConfig({}, { env: {}, envFile: false, cwd: '/srv/app' });
    expect(c.accessToken).toBeUndefined();
    expect(c.phoneNumberId).toBeUndefined();
    expect(c.businessAccountId).toBeUndefined();
    expect(c.apiVersion).toBe(DEFAULT_API_VERSION);
    expect(DEFAULT_API_VERSION).toBe('v26.0');
    expect(c.webhookEndpoint).toBe('/webhook');
    expect(c.graphUrl).toBe(DEFAULT_GRAPH_URL);
    expect(DEFAULT_GRAPH_URL).toBe('https://graph.facebook.com');
    expect(c.dialogUrl).toBe(DEFAULT_DIALOG_URL);
    expect(DEFAULT_DIALOG_URL).toBe('https://www.facebook.com');
    expect(c.loginConfigId).toBeUndefined();
    expect(c.dataDir).toBe(resolve('/srv/app', '.wacloud'));
    expect(c.databaseUrl).toBeUndefined();
    expect(c.debug).toBe(false);
    expect(c.requestTimeoutMs).toBeGreaterThan(0);
  });

  it('keeps every secret in a Secret, so printing the config leaks nothing', () => {
    const c = fromEnv({
      CLOUD_API_ACCESS_TOKEN: TOKEN,
      WA_APP_SECRET: APP_SECRET,
      WEBHOOK_VERIFICATION_TOKEN: 'verify-me-please',
      DATABASE_URL: 'postgres://user:db-password-123@db/x',
      WACLOUD_MASTER_KEY: 'master-key-material',
    });
    const printed = JSON.stringify(c) + String(Object.values(c));
    for (const s of [TOKEN, APP_SECRET, 'verify-me-please', 'db-password-123', 'master-key-material']) {
      expect(printed).not.toContain(s);
    }
  });

  it('falls back to LISTENER_PORT when WA_LISTENER_PORT is unset, and prefers WA_LISTENER_PORT', () => {
    expect(fromEnv({ LISTENER_PORT: '4242' }).listenerPort).toBe(4242);
    expect(fromEnv({ LISTENER_PORT: '4242', WA_LISTENER_PORT: '5151' }).listenerPort).toBe(5151);
    expect(fromEnv({ LISTENER_PORT: '4242' }, { listenerPort: 6000 }).listenerPort).toBe(6000);
  });

  it('accepts M4D_APP_ID / M4D_APP_SECRET, with WA_* winning when both are set', () => {
    const m4d = fromEnv({ M4D_APP_ID: '111111', M4D_APP_SECRET: 'm4d-secret' });
    expect(m4d.appId).toBe('111111');
    expect(m4d.appSecret?.reveal()).toBe('m4d-secret');
    const both = fromEnv({
      M4D_APP_ID: '111111',
      M4D_APP_SECRET: 'm4d-secret',
      WA_APP_ID: '222222',
      WA_APP_SECRET: 'wa-secret',
    });
    expect(both.appId).toBe('222222');
    expect(both.appSecret?.reveal()).toBe('wa-secret');
    expect(configError(() => fromEnv({ M4D_APP_ID: 'nope' })).variable).toBe('M4D_APP_ID');
  });

  it('accepts DEBUG spellings and the debug-package namespace convention', () => {
    for (const v of ['1', 'true', 'TRUE', 'yes', 'on', '*', 'wacloud', 'wacloud*', 'express:*,wacloud:sdk']) {
      expect(fromEnv({ DEBUG: v }).debug, v).toBe(true);
    }
    for (const v of ['0', 'false', 'no', 'off', 'express:*', 'koa:router,express:*']) {
      expect(fromEnv({ DEBUG: v }).debug, v).toBe(false);
    }
  });

  it('accepts both postgres:// and postgresql:// DATABASE_URLs', () => {
    expect(fromEnv({ DATABASE_URL: 'postgresql://h/db' }).databaseUrl?.reveal()).toBe('postgresql://h/db');
  });

  it('treats blank values as unset', () => {
    const c = fromEnv({ WA_PHONE_NUMBER_ID: '   ', CLOUD_API_ACCESS_TOKEN: '' });
    expect(c.phoneNumberId).toBeUndefined();
    expect(c.accessToken).toBeUndefined();
  });

  it('accepts loopback http Graph URLs (emulator, local broker) and https with a path prefix', () => {
    expect(fromEnv({ WA_GRAPH_URL: 'http://localhost:4010' }).graphUrl).toBe('http://localhost:4010');
    expect(fromEnv({ WA_GRAPH_URL: 'http://[::1]:4010' }).graphUrl).toBe('http://[::1]:4010');
    expect(fromEnv({ WA_GRAPH_URL: 'http://127.0.0.2:1' }).graphUrl).toBe('http://127.0.0.2:1');
    expect(fromEnv({ WA_GRAPH_URL: 'https://broker.example.com/graph/' }).graphUrl).toBe(
      'https://broker.example.com/graph',
    );
  });
});

describe('loadConfig: bad values are one ConfigError naming the variable', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['WA_PHONE_NUMBER_ID=abc', { WA_PHONE_NUMBER_ID: 'abc' }, 'WA_PHONE_NUMBER_ID'],
    ['WA_BUSINESS_ACCOUNT_ID=12a', { WA_BUSINESS_ACCOUNT_ID: '12a' }, 'WA_BUSINESS_ACCOUNT_ID'],
    ['WA_APP_ID=x', { WA_APP_ID: 'x' }, 'WA_APP_ID'],
    ['REQUEST_TIMEOUT=-1', { REQUEST_TIMEOUT: '-1' }, 'REQUEST_TIMEOUT'],
    ['REQUEST_TIMEOUT=0', { REQUEST_TIMEOUT: '0' }, 'REQUEST_TIMEOUT'],
    ['REQUEST_TIMEOUT=1.5', { REQUEST_TIMEOUT: '1.5' }, 'REQUEST_TIMEOUT'],
    ['REQUEST_TIMEOUT=soon', { REQUEST_TIMEOUT: 'soon' }, 'REQUEST_TIMEOUT'],
    ['WA_GRAPH_URL=http://graph.example.com', { WA_GRAPH_URL: 'http://graph.example.com' }, 'WA_GRAPH_URL'],
    ['WA_GRAPH_URL=not a url', { WA_GRAPH_URL: 'not a url' }, 'WA_GRAPH_URL'],
    ['WA_GRAPH_URL=ftp://x', { WA_GRAPH_URL: 'ftp://graph.example.com' }, 'WA_GRAPH_URL'],
    ['WA_GRAPH_URL with query', { WA_GRAPH_URL: 'https://g.example.com/?a=1' }, 'WA_GRAPH_URL'],
    ['WA_DIALOG_URL=http://www.facebook.com', { WA_DIALOG_URL: 'http://www.facebook.com' }, 'WA_DIALOG_URL'],
    ['CLOUD_API_VERSION=26', { CLOUD_API_VERSION: '26' }, 'CLOUD_API_VERSION'],
    ['CLOUD_API_VERSION=v26', { CLOUD_API_VERSION: 'v26' }, 'CLOUD_API_VERSION'],
    ['CLOUD_API_VERSION=latest', { CLOUD_API_VERSION: 'latest' }, 'CLOUD_API_VERSION'],
    ['DEBUG=maybe', { DEBUG: 'maybe' }, 'DEBUG'],
    ['DATABASE_URL=mysql://…', { DATABASE_URL: 'mysql://root:hunter2@db/x' }, 'DATABASE_URL'],
    ['DATABASE_URL=./file.db', { DATABASE_URL: './file.db' }, 'DATABASE_URL'],
    ['WA_LISTENER_PORT=70000', { WA_LISTENER_PORT: '70000' }, 'WA_LISTENER_PORT'],
    ['LISTENER_PORT=http', { LISTENER_PORT: 'http' }, 'LISTENER_PORT'],
    ['WEBHOOK_ENDPOINT=webhook', { WEBHOOK_ENDPOINT: 'webhook' }, 'WEBHOOK_ENDPOINT'],
    ['WEBHOOK_ENDPOINT=/a?b', { WEBHOOK_ENDPOINT: '/a?b' }, 'WEBHOOK_ENDPOINT'],
    ['PORT=-5', { PORT: '-5' }, 'PORT'],
  ];
  it.each(cases)('%s', (_label, env, variable) => {
    const err = configError(() => fromEnv(env));
    expect(err.variable).toBe(variable);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.name).toBe('ConfigError');
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
  });

  it('does not echo a DATABASE_URL password in the error', () => {
    const err = configError(() => fromEnv({ DATABASE_URL: 'mysql://root:hunter2@db/x' }));
    expect(err.message).not.toContain('hunter2');
  });

  it('quotes short bad values but not long ones (often a secret pasted into the wrong variable)', () => {
    expect(configError(() => fromEnv({ WA_PHONE_NUMBER_ID: 'abc' })).message).toContain('"abc"');
    const secret = 'f00dfeedcafebabe0123456789abcdef';
    for (const variable of [
      'WA_APP_ID',
      'WA_LISTENER_PORT',
      'CLOUD_API_VERSION',
      'DEBUG',
      'REQUEST_TIMEOUT',
    ]) {
      const err = configError(() => fromEnv({ [variable]: secret }));
      expect(err.variable).toBe(variable);
      expect(err.message).not.toContain(secret.slice(0, 12));
      expect(err.message).toContain('32-character value');
    }
    const endpoint = configError(() => fromEnv({ WEBHOOK_ENDPOINT: 'my-verify-token-1234567890' }));
    expect(endpoint.message).not.toContain('my-verify-token');
  });

  it('names the option when the bad value came from an option', () => {
    const err = configError(() => fromEnv({}, { phoneNumberId: 'abc' }));
    expect(err.variable).toMatch(/^options\./);
    expect(configError(() => fromEnv({}, { requestTimeout: -1 })).variable).toBe('options.requestTimeout');
    expect(configError(() => fromEnv({}, { apiVersion: 'v1' })).variable).toMatch(/^options\./);
  });
});

describe('loadConfig: options > environment > .env', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wacloud-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, '.env'),
    [
      '# a comment',
      'CLOUD_API_ACCESS_TOKEN=EAAfileTokenAbcdefghijklmnop0123',
      'WA_PHONE_NUMBER_ID=111111',
      'WA_BUSINESS_ACCOUNT_ID=222222',
      'CLOUD_API_VERSION=v22.0',
      'WEBHOOK_ENDPOINT="/from-file"',
      'REQUEST_TIMEOUT=7000',
      '',
    ].join('\n'),
  );

  it('reads .env when present', () => {
    const c = loadConfig({}, { env: {}, cwd: dir });
    expect(c.accessToken?.reveal()).toBe('EAAfileTokenAbcdefghijklmnop0123');
    expect(c.phoneNumberId).toBe('111111');
    expect(c.apiVersion).toBe('v22.0');
    expect(c.webhookEndpoint).toBe('/from-file');
    expect(c.requestTimeoutMs).toBe(7000);
  });

  it('lets the environment win over .env, and options over both', () => {
    const env = { WA_PHONE_NUMBER_ID: '333333', CLOUD_API_VERSION: 'v24.0' };
    const c = loadConfig({}, { env, cwd: dir });
    expect(c.phoneNumberId).toBe('333333');
    expect(c.apiVersion).toBe('v24.0');
    expect(c.businessAccountId).toBe('222222');
    const o = loadConfig(
      { phoneNumberId: '444444', apiVersion: 'v25.0', accessToken: 'EAAoptionToken', requestTimeout: 10 },
      { env, cwd: dir },
    );
    expect(o.phoneNumberId).toBe('444444');
    expect(o.apiVersion).toBe('v25.0');
    expect(o.accessToken?.reveal()).toBe('EAAoptionToken');
    expect(o.requestTimeoutMs).toBe(10);
    expect(o.businessAccountId).toBe('222222');
  });

  it('reads a named env file, and skips files with envFile: false', () => {
    writeFileSync(join(dir, 'other.env'), 'WA_PHONE_NUMBER_ID=555555\n');
    expect(loadConfig({}, { env: {}, cwd: dir, envFile: 'other.env' }).phoneNumberId).toBe('555555');
    expect(loadConfig({}, { env: {}, cwd: dir, envFile: false }).phoneNumberId).toBeUndefined();
  });

  it('is fine without a .env file, and reports an unreadable one as a ConfigError', () => {
    expect(loadConfig({}, { env: {}, cwd: join(dir, 'missing') }).phoneNumberId).toBeUndefined();
    expect(readEnvFile(join(dir, 'nope.env'))).toEqual({});
    mkdirSync(join(dir, 'dir.env'));
    const err = configError(() => loadConfig({}, { env: {}, cwd: dir, envFile: 'dir.env' }));
    expect(err.message).toContain('.env');
  });

  it('reports a bad value in .env by its variable name', () => {
    const bad = mkdtempSync(join(tmpdir(), 'wacloud-config-bad-'));
    try {
      writeFileSync(join(bad, '.env'), 'WA_PHONE_NUMBER_ID=abc\n');
      expect(configError(() => loadConfig({}, { env: {}, cwd: bad })).variable).toBe('WA_PHONE_NUMBER_ID');
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});

describe('parseBaseUrl', () => {
  it('strips trailing slashes and rejects non-loopback http', () => {
    expect(parseBaseUrl('X', 'https://graph.facebook.com///')).toBe('https://graph.facebook.com');
    expect(() => parseBaseUrl('X', 'http://10.0.0.1')).toThrow(ConfigError);
    expect(() => parseBaseUrl('X', 'http://127.0.0.1.evil.com')).toThrow(ConfigError);
    expect(() => parseBaseUrl('X', 'http://localhost.evil.com')).toThrow(ConfigError);
  });
});
