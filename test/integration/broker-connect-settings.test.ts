import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkMetaApp,
  dialogOnAnotherSite,
  parsePublicUrl,
  readBrokerSettings,
} from '../../src/broker/broker-settings.js';
import { clientAddress } from '../../src/broker/security/auth-guard.js';
import { Secret } from '../../src/core/secret.js';
import { runCliInProcess } from '../support/cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'wacloud-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('WACLOUD_PUBLIC_URL', () => {
  it('takes an https origin anywhere and http on loopback only; no path, query, fragment or user', () => {
    expect(parsePublicUrl('WACLOUD_PUBLIC_URL', 'https://wa.example.com/')).toBe('https://wa.example.com');
    expect(parsePublicUrl('WACLOUD_PUBLIC_URL', ' https://wa.example.com:8443 ')).toBe(
      'https://wa.example.com:8443',
    );
    expect(parsePublicUrl('WACLOUD_PUBLIC_URL', 'http://localhost:8080')).toBe('http://localhost:8080');
    expect(parsePublicUrl('WACLOUD_PUBLIC_URL', 'http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    for (const [bad, why] of [
      ['http://wa.example.com', /plain http is allowed only for loopback/],
      ['https://wa.example.com/broker', /no path/],
      ['https://wa.example.com/?x=1', /query string/],
      ['https://user:pw@wa.example.com', /user name or password/],
      ['ftp://wa.example.com', /http\(s\) URL/],
      ['wa.example.com', /not a URL/],
    ] as const)
      expect(() => parsePublicUrl('WACLOUD_PUBLIC_URL', bad), bad).toThrow(why);
  });

  it('the flag wins over the variable and errors name where the value came from', () => {
    const env = { WACLOUD_PUBLIC_URL: 'https://a.example.com' };
    expect(readBrokerSettings(env, dir).publicUrl).toBe('https://a.example.com');
    expect(readBrokerSettings(env, dir, { publicUrl: 'https://b.example.com' }).publicUrl).toBe(
      'https://b.example.com',
    );
    expect(() => readBrokerSettings({}, dir, { publicUrl: 'http://b.example.com' })).toThrow(/--public-url/);
    expect(() => readBrokerSettings({ WACLOUD_PUBLIC_URL: 'http://b.example.com' }, dir)).toThrow(
      /WACLOUD_PUBLIC_URL/,
    );
  });

  it('other broker settings are validated, naming the variable', () => {
    expect(() => readBrokerSettings({ WACLOUD_TRUSTED_PROXIES: '10.0.0.1, nope' }, dir)).toThrow(
      /WACLOUD_TRUSTED_PROXIES/,
    );
    expect(() => readBrokerSettings({ WACLOUD_METRICS_TOKEN: 'short' }, dir)).toThrow(
      /WACLOUD_METRICS_TOKEN/,
    );
    expect(() => readBrokerSettings({ WACLOUD_METRICS_PORT: '70000' }, dir)).toThrow(/WACLOUD_METRICS_PORT/);
    const s = readBrokerSettings(
      {
        WACLOUD_TRUSTED_PROXIES: '10.0.0.1,::1',
        WACLOUD_METRICS_PORT: '9464',
        WACLOUD_METRICS_TENANT_LABELS: 'true',
      },
      dir,
    );
    expect(s).toMatchObject({
      trustedProxies: ['10.0.0.1', '::1'],
      metricsPort: 9464,
      metricsTenantLabels: true,
    });
  });
});

describe('half a Meta app', () => {
  it('WA_APP_ID without WA_APP_SECRET, or the reverse, names the missing variable', () => {
    expect(() => checkMetaApp({ appId: '123', appSecret: undefined })).toThrow(/WA_APP_SECRET.*WA_APP_ID/);
    expect(() => checkMetaApp({ appId: undefined, appSecret: new Secret('s') })).toThrow(
      /WA_APP_ID.*WA_APP_SECRET/,
    );
    expect(() => checkMetaApp({ appId: '123', appSecret: new Secret('s') })).not.toThrow();
    expect(() => checkMetaApp({ appId: undefined, appSecret: undefined })).not.toThrow();
  });

  it('`wacloud up` with half a Meta app exits 3 naming the missing variable, and starts no sandbox', async () => {
    for (const [env, missing] of [
      [{ WA_APP_ID: '1234567890' }, 'WA_APP_SECRET'],
      [{ WA_APP_SECRET: 'c0ffee00c0ffee00c0ffee00c0ffee00' }, 'WA_APP_ID'],
    ] as const) {
      const dataDir = join(dir, missing);
      const r = await runCliInProcess(['up', '--port', '0'], { ...env, WACLOUD_DATA_DIR: dataDir }, dir);
      expect(r.code).toBe(3);
      expect(r.err).toContain(missing);
      expect(r.out).not.toContain('sandbox');
      expect(r.err).not.toContain('c0ffee00');
    }
  });
});

describe('the sandbox dialog on another site', () => {
  it('takes the loopback name the broker does not use', () => {
    expect(dialogOnAnotherSite('http://127.0.0.1:4010', 'http://127.0.0.1:8080')).toBe(
      'http://localhost:4010',
    );
    expect(dialogOnAnotherSite('http://127.0.0.1:4010', 'http://localhost:8080')).toBe(
      'http://127.0.0.1:4010',
    );
    expect(dialogOnAnotherSite('http://127.0.0.1:4010', 'https://wa.example.com')).toBe(
      'http://127.0.0.1:4010',
    );
  });
});

describe('the client address behind trusted proxies', () => {
  const trusted = new Set(['127.0.0.1', '10.0.0.2']);
  it('believes X-Forwarded-For only from a trusted proxy, taking the right-most untrusted hop', () => {
    expect(clientAddress('203.0.113.5', '198.51.100.1', trusted)).toBe('203.0.113.5');
    expect(clientAddress('127.0.0.1', undefined, trusted)).toBe('127.0.0.1');
    expect(clientAddress('::ffff:127.0.0.1', '198.51.100.1', trusted)).toBe('198.51.100.1');
    // A client that sends its own X-Forwarded-For does not choose its address: the proxy appended the real one.
    expect(clientAddress('127.0.0.1', '6.6.6.6, 198.51.100.1', trusted)).toBe('198.51.100.1');
    expect(clientAddress('127.0.0.1', '198.51.100.1, 10.0.0.2', trusted)).toBe('198.51.100.1');
    expect(clientAddress('127.0.0.1', 'garbage', trusted)).toBe('127.0.0.1');
  });
});
