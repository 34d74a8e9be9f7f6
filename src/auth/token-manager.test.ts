import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { createGraphError } from '../core/graph-error.js';
import { Secret } from '../core/secret.js';
import { openStore } from '../store/open-store.js';
import { createFetchTransport } from '../transport/fetch-transport.js';
import { masterKeyId } from '../vault/crypto/master-key.js';
import { createAuthClient } from './auth-client.js';
import { type CredentialStore, MemoryCredentialStore } from './credential-store.js';
import { setEnvFileVariable } from './env-file.js';
import type { TokenEvent } from './token-events.js';
import { CredentialUnavailableError, createTokenManager, NEVER_MS } from './token-manager.js';

const DAY = 86_400_000;
const APP = '1234567890';

/** A tiny Graph: debug_token answers from a table the test edits; revoke records; every call is counted. */
function fakeGraph(clock: ManualClock) {
  const tokens = new Map<
    string,
    { type: string; expiresAt: number; dataAccess: number; valid: boolean; subcode?: number }
  >();
  const calls: string[] = [];
  const fetchImpl = async (input: Request | string | URL): Promise<Response> => {
    const url = new URL(String(input));
    const path = url.pathname.replace(/^\/v\d+\.\d+\//, '');
    calls.push(path);
    if (path === 'debug_token') {
      const t = tokens.get(url.searchParams.get('input_token') ?? '');
      if (!t)
        return Response.json({
          data: { is_valid: false, error: { code: 190, message: 'Invalid OAuth access token' } },
        });
      return Response.json({
        data: {
          app_id: APP,
          type: t.type,
          is_valid: t.valid,
          expires_at: t.expiresAt / 1000,
          data_access_expires_at: t.dataAccess / 1000,
          scopes: ['whatsapp_business_messaging'],
          user_id: '42',
          ...(t.valid ? {} : { error: { code: 190, subcode: t.subcode, message: 'dead' } }),
        },
      });
    }
    if (path === 'oauth/revoke') {
      const t = tokens.get(url.searchParams.get('revoke_token') ?? '');
      if (t) t.valid = false;
      return Response.json({ success: true });
    }
    return Response.json({ error: { code: 100, message: `unexpected ${path}` } }, { status: 400 });
  };
  const auth = createAuthClient({
    appId: APP,
    appSecret: 'app-secret-value-123456',
    transport: createFetchTransport(fetchImpl),
    graphUrl: 'http://127.0.0.1:9',
    clock,
  });
  return { tokens, calls, auth };
}

const pgUrl = process.env.WACLOUD_TEST_DATABASE_URL?.trim() || undefined;
if (!pgUrl) console.log('[token-manager] WACLOUD_TEST_DATABASE_URL is not set: PostgreSQL tests skipped');

/**
 * The credential stores the unit tests run on: the in-memory reference, SQLite in a temp dir and PostgreSQL in a fresh
 * schema (test/integration/auth-manager-stores.ts does the same for the integration tests; src/ cannot import it).
 */
const ENGINES: {
  name: string;
  skip: boolean;
  open(): Promise<{ store: CredentialStore; close(): Promise<void> }>;
}[] = [
  {
    name: 'memory',
    skip: false,
    open: async () => ({ store: new MemoryCredentialStore(), close: async () => {} }),
  },
  {
    name: 'sqlite',
    skip: false,
    async open() {
      const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-tm-'));
      const s = await openStore(
        { dataDir, databaseUrl: undefined, masterKey: undefined },
        { masterKey: testKey() },
      );
      return {
        store: s.credentials,
        async close() {
          await s.close();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    skip: !pgUrl,
    async open() {
      const schema = `wacloud_tm_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-tm-'));
      const s = await openStore(
        { dataDir, databaseUrl: new Secret(pgUrl as string), masterKey: undefined },
        { masterKey: testKey(), postgres: { schema } },
      );
      return {
        store: s.credentials,
        async close() {
          await s.close();
          await admin.query(`DROP SCHEMA ${schema} CASCADE`);
          await admin.end();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
];

function testKey() {
  const key = randomBytes(32);
  return { key, id: masterKeyId(key), source: 'option' as const };
}

function setup(store: CredentialStore) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const g = fakeGraph(clock);
  const events: TokenEvent[] = [];
  const rotated: unknown[] = [];
  const manager = createTokenManager({
    auth: g.auth,
    store,
    clock,
    random: () => 0.5,
    policies: { pollIntervalMs: DAY },
    onRotated: (info) => rotated.push(info),
  });
  manager.on('*', (e) => events.push(e));
  return { clock, ...g, events, rotated, store, manager };
}

describe.each(ENGINES)('TokenManager (unit, fake Graph, manual clock) on the $name store', (engine) => {
  let opened: { store: CredentialStore; close(): Promise<void> } | undefined;
  beforeEach(async () => {
    opened = engine.skip ? undefined : await engine.open();
  });
  afterEach(async () => {
    await opened?.close();
  });
  const setupOn = () => setup((opened as { store: CredentialStore }).store);

  it.skipIf(engine.skip)('validates its options', () => {
    const clock = new ManualClock();
    const { auth } = fakeGraph(clock);
    expect(() => createTokenManager({ auth, policies: { leaseMs: 0 } })).toThrow(/policies.leaseMs/);
    expect(() => createTokenManager({ configSource: { env: {}, envFile: false } })).toThrow(/WA_APP_ID/);
  });

  it.skipIf(engine.skip)(
    'warns about data access ending before the token, and schedules exactly at the boundaries',
    async () => {
      const s = setupOn();
      const now = s.clock.now();
      s.tokens.set('EAAlong', { type: 'PAGE', expiresAt: 0, dataAccess: now + 10 * DAY, valid: true });
      const cred = await s.manager.addCredential({ tenantId: 't', token: 'EAAlong' });
      expect(cred.kind).toBe('page');
      expect(cred.nextCheckAtMs).toBe(now + DAY);
      s.manager.start();
      for (let step = 0; step < 24; step++) {
        await s.clock.advance(DAY / 2);
        await s.manager.idle();
      }
      const warnings = s.events.filter((e) => e.type === 'credential.expiring');
      expect(warnings.map((e) => (e as { which: string }).which)).toEqual([
        'data-access',
        'data-access',
        'data-access',
      ]);
      expect(warnings.map((e) => e.atMs - now)).toEqual([3 * DAY, 7 * DAY, 9 * DAY]);
      await s.manager.stop();
    },
  );

  it.skipIf(engine.skip)(
    'replaces a token (rotated event + onRotated hook), revokes and removes',
    async () => {
      const s = setupOn();
      s.tokens.set('EAAone', { type: 'SYSTEM_USER', expiresAt: 0, dataAccess: 0, valid: true });
      s.tokens.set('EAAtwo', { type: 'SYSTEM_USER', expiresAt: 0, dataAccess: 0, valid: true });
      const cred = await s.manager.addCredential({ tenantId: 't', token: 'EAAone' });
      expect(cred.nextCheckAtMs).toBe(s.clock.now() + DAY);
      const provider = s.manager.tokenProvider(cred.id);
      expect((provider.getToken() as { reveal(): string }).reveal()).toBe('EAAone');
      const replaced = await s.manager.replaceToken(cred.id, 'EAAtwo');
      expect(replaced.version).toBe(2);
      expect((provider.getToken() as { reveal(): string }).reveal()).toBe('EAAtwo');
      expect(s.rotated).toEqual([{ credentialId: cred.id, tenantId: 't', version: 2 }]);
      await expect(s.manager.replaceToken(cred.id, 'EAAunknown')).rejects.toMatchObject({
        reason: 'token-invalid',
      });
      const revoked = await s.manager.revoke(cred.id);
      expect(revoked).toMatchObject({ status: 'revoked', nextCheckAtMs: NEVER_MS });
      expect(() => provider.getToken()).toThrow(CredentialUnavailableError);
      await s.manager.removeCredential(cred.id);
      expect(await s.store.get(cred.id)).toBeUndefined();
      expect(s.events.map((e) => e.type)).toEqual([
        'credential.added',
        'credential.rotated',
        'credential.revoked',
        'credential.removed',
      ]);
      await expect(Promise.resolve().then(() => provider.getToken())).rejects.toMatchObject({
        code: 'STORE',
      });
    },
  );

  it.skipIf(engine.skip)(
    'trusts given fields with inspect: false, and refuses a never-renewable renewal request',
    async () => {
      const s = setupOn();
      const cred = await s.manager.addCredential({
        tenantId: 't',
        token: 'EAAtrusted',
        inspect: false,
        kind: 'user-long',
        expiresAtMs: s.clock.now() + 2 * DAY,
      });
      expect(s.calls).toEqual([]);
      expect(cred.status).toBe('expiring');
      // Already inside the warning window when added: one warning at once.
      expect(s.events.filter((e) => e.type === 'credential.expiring')).toHaveLength(1);
      await expect(s.manager.renew(cred.id)).rejects.toThrow(/must log in again/);
    },
  );

  it.skipIf(engine.skip)(
    'currentToken gives each token with its own version, and a rejected token the version to retry with',
    async () => {
      const s = setupOn();
      const cred = await s.manager.addCredential({
        tenantId: 't',
        token: 'EAAfirst',
        inspect: false,
        kind: 'page',
      });
      const first = await s.manager.currentToken(cred.id);
      expect(first.token.equals('EAAfirst')).toBe(true);
      expect(first.version).toBe(cred.version);
      s.tokens.set('EAAsecond', { type: 'PAGE', expiresAt: 0, dataAccess: 0, valid: true });
      const replaced = await s.manager.replaceToken(cred.id, 'EAAsecond');
      const second = await s.manager.currentToken(cred.id);
      expect(second.token.equals('EAAsecond')).toBe(true);
      expect(second.version).toBe(replaced.version);
      expect(second.version).toBeGreaterThan(first.version);
      // The proxy saw a 190 with the old token: the newer one comes back with its version, no store read needed.
      const retry = await s.manager.tokenRejected(
        cred.id,
        first.token,
        createGraphError({ httpStatus: 401, body: { code: 190, message: 'expired' } }),
      );
      expect(retry?.version).toBe(second.version);
      expect(retry?.token.equals('EAAsecond')).toBe(true);
      await s.manager.revoke(cred.id);
      expect(() => s.manager.currentToken(cred.id)).toThrow(CredentialUnavailableError);
    },
  );
});

describe('setEnvFileVariable', () => {
  it('replaces or appends the variable, keeps the rest, and leaves the file 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-env-'));
    try {
      const file = join(dir, '.env');
      writeFileSync(file, '# keep\nA=1\nexport CLOUD_API_ACCESS_TOKEN=old\nCLOUD_API_ACCESS_TOKEN=dup\n', {
        mode: 0o644,
      });
      await setEnvFileVariable(file, 'CLOUD_API_ACCESS_TOKEN', 'EAAnew|x y');
      expect(readFileSync(file, 'utf8')).toBe('# keep\nA=1\nCLOUD_API_ACCESS_TOKEN="EAAnew|x y"\n');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const fresh = join(dir, 'sub', '.env');
      await setEnvFileVariable(fresh, 'T', 'v1');
      expect(readFileSync(fresh, 'utf8')).toBe('T=v1\n');
      expect(statSync(fresh).mode & 0o777).toBe(0o600);
      await expect(setEnvFileVariable(fresh, 'BAD NAME', 'v')).rejects.toThrow(/valid variable name/);
      await expect(setEnvFileVariable(fresh, 'T', 'a\nb')).rejects.toThrow(/line breaks/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
