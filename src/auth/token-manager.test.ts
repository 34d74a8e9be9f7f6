import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { createFetchTransport } from '../transport/fetch-transport.js';
import { createAuthClient } from './auth-client.js';
import { MemoryCredentialStore } from './credential-store.js';
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

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const g = fakeGraph(clock);
  const events: TokenEvent[] = [];
  const rotated: unknown[] = [];
  const store = new MemoryCredentialStore();
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

describe('TokenManager (unit, fake Graph, manual clock)', () => {
  it('validates its options', () => {
    const clock = new ManualClock();
    const { auth } = fakeGraph(clock);
    expect(() => createTokenManager({ auth, policies: { leaseMs: 0 } })).toThrow(/policies.leaseMs/);
    expect(() => createTokenManager({ configSource: { env: {}, envFile: false } })).toThrow(/WA_APP_ID/);
  });

  it('warns about data access ending before the token, and schedules exactly at the boundaries', async () => {
    const s = setup();
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
  });

  it('replaces a token (rotated event + onRotated hook), revokes and removes', async () => {
    const s = setup();
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
    await expect(Promise.resolve().then(() => provider.getToken())).rejects.toMatchObject({ code: 'STORE' });
  });

  it('trusts given fields with inspect: false, and refuses a never-renewable renewal request', async () => {
    const s = setup();
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
  });
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
