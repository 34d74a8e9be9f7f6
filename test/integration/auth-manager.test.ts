import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CredentialRecord,
  type CredentialStore,
  CredentialUnavailableError,
  createClientRegistry,
  createTokenManager,
  type TokenEvent,
  type TokenManager,
  type TokenPolicies,
} from '../../src/auth/index.js';
import { WhatsApp } from '../../src/whatsapp/index.js';
import { announcePgSkip } from '../support/pg.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { type ManagerStores, managerStoreEngines } from './auth-manager-stores.js';
import { type AuthWorld, createAuthWorld, IN_PROCESS_URL } from './auth-support.js';

announcePgSkip('auth-manager');

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const EXCHANGE = 'GET /oauth/access_token grant_type=fb_exchange_token';
const DEBUG = 'GET /debug_token';
const SEND = 'POST /{phone-number-id}/messages';

// The lifecycle tests run on every credential store engine: what the manager does must not depend on where it keeps
// its credentials (the in-memory store is the reference; SQLite and PostgreSQL encrypt, serialise and compare-and-set).
describe.each(managerStoreEngines)('token manager on the $name store', (engine) => {
  describe.skipIf(engine.skip)(engine.name, () => {
    let w: AuthWorld;
    let managers: TokenManager[];
    let events: TokenEvent[];
    let stores: ManagerStores;

    beforeEach(async () => {
      w = await createAuthWorld();
      stores = await engine.open();
      managers = [];
      events = [];
    });
    afterEach(async () => {
      for (const m of managers) await m.stop();
      await stores.close();
      await w.close();
    });

    function manager(
      store: CredentialStore = stores.store,
      policies: Partial<TokenPolicies> = {},
      instanceId?: string,
    ): TokenManager {
      const m = createTokenManager({
        auth: w.auth,
        store,
        clock: w.emu.clock,
        policies: { pollIntervalMs: 6 * HOUR, ...policies },
        instanceId,
        random: () => 0.5,
      });
      m.on('*', (e) => events.push(e));
      managers.push(m);
      return m;
    }

    function client(m: TokenManager, credentialId: string): WhatsApp {
      return new WhatsApp({
        tokenProvider: m.tokenProvider(credentialId),
        phoneNumberId: w.emu.seed?.phoneNumberId,
        graphUrl: IN_PROCESS_URL,
        transport: w.transport,
        clock: w.emu.clock,
        configSource: { env: {}, envFile: false },
      });
    }

    const send = (wa: WhatsApp) => wa.messages.text({ to: w.emu.seed?.recipient as string, body: 'hello' });
    const types = () => events.map((e) => e.type);

    /** Moves virtual time in steps, letting the manager finish its work after each. */
    async function pass(m: TokenManager, totalMs: number, stepMs = HOUR): Promise<void> {
      for (let t = 0; t < totalMs; t += stepMs) {
        await w.emu.clock.advance(Math.min(stepMs, totalMs - t));
        await m.idle();
      }
    }

    describe('policies per kind', () => {
      it('exchanges a short-lived token at once, and a client sees the new token on its next request', async () => {
        const m = manager();
        const short = await w.mint('user');
        const cred = await m.addCredential({ tenantId: 'acme', token: short });
        expect(cred.kind).toBe('user-long');
        expect(cred.version).toBe(2);
        expect(cred.token.equals(short)).toBe(false);
        expect(((cred.expiresAtMs ?? 0) - w.emu.clock.now()) / DAY).toBeCloseTo(60, 0);
        expect(w.count(EXCHANGE)).toBe(1);
        expect(types()).toEqual(['credential.added', 'credential.refreshed', 'credential.rotated']);
        expect(events[1]).toMatchObject({
          method: 'exchange-short-lived',
          previousVersion: 1,
          version: 2,
          trigger: 'add',
        });
        const wa = client(m, cred.id);
        await send(wa);
        expect(w.emu.sentMessages()).toHaveLength(1);
        // Events carry ids, kinds and times, never a token.
        expectNoSecrets(JSON.stringify(events), [short, cred.token.reveal(), w.appSecret], 'events');
      });

      it('refuses app tokens and expired or invalid tokens, storing nothing', async () => {
        const m = manager();
        await expect(m.addCredential({ tenantId: 't', token: w.auth.appToken })).rejects.toThrow(
          /never stored/,
        );
        const temp = w.emu.seed?.accessToken as string;
        await w.emu.clock.advance(25 * HOUR);
        await expect(m.addCredential({ tenantId: 't', token: temp })).rejects.toMatchObject({
          reason: 'token-expired',
        });
        await expect(m.addCredential({ tenantId: 't', token: `EAA${'z'.repeat(40)}` })).rejects.toMatchObject(
          {
            reason: 'token-invalid',
          },
        );
        expect(await stores.store.list()).toEqual([]);
      });

      it('renews a 60-day system-user token once in 61 days, on time, and clients keep sending throughout', async () => {
        const m = manager();
        const start = w.emu.clock.now();
        const token = await w.mint('system_user_60d');
        // Added 7 hours after it was issued, so daily checks and the renewal time do not coincide.
        await w.emu.clock.advance(7 * HOUR);
        const cred = await m.addCredential({ tenantId: 'acme', token });
        expect(cred.kind).toBe('system-user');
        const wa = client(m, cred.id);
        await send(wa);
        m.start();
        await pass(m, 61 * DAY);
        // Exactly one refresh, exactly 10 days before the first token's expiry: no drift, no overlap.
        expect(w.count(EXCHANGE)).toBe(1);
        const refreshed = events.filter((e) => e.type === 'credential.refreshed');
        expect(refreshed).toHaveLength(1);
        expect(refreshed[0]).toMatchObject({
          method: 'renew-60-day',
          trigger: 'schedule',
          atMs: start + 50 * DAY,
        });
        // A daily debug_token health check, no more.
        const checks = events.filter((e) => e.type === 'credential.checked');
        expect(checks.length).toBeGreaterThanOrEqual(59);
        expect(checks.length).toBeLessThanOrEqual(62);
        expect(w.count(DEBUG)).toBe(checks.length + 1);
        expect(types()).not.toContain('credential.expiring');
        expect(types()).not.toContain('credential.invalid');
        // Day 61: the first token has expired; the client uses the second without being told.
        await send(wa);
        expect(w.count(SEND)).toBe(2);
        const now = await m.getCredential(cred.id);
        expect(now).toMatchObject({ version: 2, status: 'active' });
      });

      it('warns before a long-lived user token expires (7, 3 and 1 days out), then marks it expired', async () => {
        const m = manager();
        const cred = await m.addCredential({ tenantId: 'acme', token: await w.mint('user_long') });
        expect(cred.kind).toBe('user-long');
        m.start();
        await pass(m, 61 * DAY, 6 * HOUR);
        const warnings = events.filter((e) => e.type === 'credential.expiring');
        expect(warnings.map((e) => Math.round((e as { msLeft: number }).msLeft / DAY))).toEqual([7, 3, 1]);
        expect(warnings.every((e) => (e as { renewable: boolean }).renewable === false)).toBe(true);
        expect(w.count(EXCHANGE)).toBe(0);
        const expired = events.filter((e) => e.type === 'credential.expired');
        expect(expired).toHaveLength(1);
        expect(expired[0]?.atMs).toBe(cred.expiresAtMs);
        expect(() => m.getToken(cred.id)).toThrow(CredentialUnavailableError);
        await expect(send(client(m, cred.id))).rejects.toMatchObject({ code: 'TOKEN_UNAVAILABLE' });
      });
    });

    describe('renewal happens once', () => {
      it('50 concurrent renewal requests → one exchange, one version', async () => {
        const m = manager();
        const cred = await m.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
        w.emu.injectFault({ kind: 'latency', latencyMs: 100, path: '*oauth/access_token*' });
        const results = await Promise.all(Array.from({ length: 50 }, () => m.renew(cred.id)));
        expect(w.count(EXCHANGE)).toBe(1);
        expect(new Set(results.map((r) => r.version))).toEqual(new Set([2]));
        expect(events.filter((e) => e.type === 'credential.refreshed')).toHaveLength(1);
      });

      it('two instances on one store → one exchange (lease), and the other instance sees the rotation', async () => {
        const a = manager(stores.store, {}, 'instance-a');
        const b = manager(await stores.another(), {}, 'instance-b');
        const cred = await a.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
        const oldToken = await b.getToken(cred.id);
        w.emu.injectFault({ kind: 'latency', latencyMs: 100, path: '*oauth/access_token*' });
        const [ra, rb] = await Promise.all([a.renew(cred.id), b.renew(cred.id)]);
        expect(w.count(EXCHANGE)).toBe(1);
        // One took the lease and renewed; the other saw the version before it. Which one wins is up to the database
        // (on PostgreSQL each instance has its own pool), so the test asks rather than assumes.
        expect([ra.version, rb.version].sort()).toEqual([1, 2]);
        const [loser, renewed] = ra.version === 2 ? [b, ra] : [a, rb];
        // The loser still holds the old token until told; the broker's NOTIFY becomes refreshFromStore.
        expect((await loser.getToken(cred.id)).equals(oldToken)).toBe(true);
        await loser.refreshFromStore(cred.id);
        expect((await loser.getToken(cred.id)).equals(renewed.token)).toBe(true);
        expect(
          events.filter((e) => e.type === 'credential.rotated').map((e) => (e as { source: string }).source),
        ).toEqual(['renewal', 'store']);
      });

      it('a slow scheduled renewal never overlaps with ticks, on-demand requests or another instance', async () => {
        const a = manager(stores.store, { leaseMs: 60_000, pollIntervalMs: 5_000 }, 'a');
        const b = manager(await stores.another(), { leaseMs: 60_000 }, 'b');
        const cred = await a.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
        await w.emu.clock.advance(50 * DAY);
        w.emu.injectFault({ kind: 'latency', latencyMs: 150, path: '*oauth/access_token*' });
        a.start();
        const asked: Promise<unknown>[] = [];
        // Ticks keep coming while the exchange is in flight; callers and a second instance ask too.
        for (let i = 0; i < 6; i++) {
          await w.emu.clock.advance(10_000);
          asked.push(
            b.runDue(),
            a.renew(cred.id).catch(() => undefined),
          );
          await new Promise((r) => setTimeout(r, 20));
        }
        await Promise.all(asked);
        await a.idle();
        expect(w.count(EXCHANGE)).toBe(1);
        expect((await a.getCredential(cred.id))?.version).toBe(2);
        expect(events.filter((e) => e.type === 'credential.refreshed')).toHaveLength(1);
      });
    });

    describe('health checks detect what Meta changed', () => {
      it('revocation → credential.invalid (467) at the next daily check', async () => {
        const m = manager();
        const token = await w.mint('system_user');
        const cred = await m.addCredential({ tenantId: 'acme', token });
        m.start();
        await pass(m, DAY);
        expect(types()).toContain('credential.checked');
        await w.control('tokens/revoke', { access_token: token });
        await pass(m, DAY);
        const invalid = events.find((e) => e.type === 'credential.invalid');
        expect(invalid).toMatchObject({
          graphCode: 190,
          graphSubcode: 467,
          trigger: 'schedule',
          credentialId: cred.id,
        });
        expect((await m.getCredential(cred.id))?.status).toBe('invalid');
        // Nothing further is scheduled for it.
        const debugBefore = w.count(DEBUG);
        await pass(m, 3 * DAY, 12 * HOUR);
        expect(w.count(DEBUG)).toBe(debugBefore);
      });

      it('password change → credential.invalid (460) at the next daily check, with a reason and no token in the event', async () => {
        const m = manager();
        const cred = await m.addCredential({ tenantId: 'acme', token: await w.mint('user_long') });
        m.start();
        await pass(m, 2 * HOUR);
        await w.control(`users/${w.emu.seed?.userId}/change-password`, {});
        expect(types()).not.toContain('credential.invalid');
        await pass(m, DAY);
        expect((await m.getCredential(cred.id))?.status).toBe('invalid');
        const invalid = events.find((e) => e.type === 'credential.invalid') as Extract<
          TokenEvent,
          { type: 'credential.invalid' }
        >;
        expect(invalid).toMatchObject({ graphSubcode: 460, trigger: 'schedule' });
        expect(invalid.reason).toMatch(/password/);
        expectNoSecrets(JSON.stringify(invalid), [cred.token.reveal()], 'the event');
      });

      it('Graph down during a check or a renewal changes nothing but the retry time, and the old token keeps working', async () => {
        const m = manager();
        const cred = await m.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
        const wa = client(m, cred.id);
        await w.emu.clock.advance(50 * DAY);
        w.emu.injectFault({ kind: 'status', status: 503, path: '*oauth/access_token*' });
        await expect(m.renew(cred.id)).rejects.toMatchObject({ reason: 'unavailable' });
        const failed = events.find((e) => e.type === 'credential.renewal_failed') as Extract<
          TokenEvent,
          { type: 'credential.renewal_failed' | 'credential.check_failed' }
        >;
        expect(failed).toMatchObject({ failures: 1, version: 1 });
        expect(failed.nextAttemptAtMs).toBeGreaterThan(w.emu.clock.now());
        const rec = (await m.getCredential(cred.id)) as CredentialRecord;
        expect(rec).toMatchObject({ version: 1, status: 'active', failures: 1 });
        expect(rec.token.equals(cred.token)).toBe(true);
        await send(wa);
        // Back up: the scheduler retries at the announced time and succeeds.
        w.emu.clearFaults();
        m.start();
        await pass(m, failed.nextAttemptAtMs - w.emu.clock.now() + 60_000, 30_000);
        expect((await m.getCredential(cred.id))?.version).toBe(2);
        await send(wa);
      });

      it('a store that fails while saving a renewal leaves the tenant on its last working token', async () => {
        const m = manager();
        const cred = await m.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
        await stores.refuseTokenWrites();
        await expect(m.renew(cred.id)).rejects.toThrow(/disk is full|the database is full/);
        expect(w.count(EXCHANGE)).toBe(1);
        expect((await m.getToken(cred.id)).equals(cred.token)).toBe(true);
        // Nothing was half-written: the stored row is still version 1 with the old token, and it still decrypts.
        const stored = (await stores.store.get(cred.id)) as CredentialRecord;
        expect(stored.version).toBe(1);
        expect(stored.token.equals(cred.token)).toBe(true);
        await send(client(m, cred.id));
      });
    });

    describe('a 190 in the middle of traffic', () => {
      it('retries once with the newer version when another instance rotated', async () => {
        const a = manager(stores.store, {}, 'a');
        const b = manager(await stores.another(), {}, 'b');
        const cred = await a.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
        const wa = client(a, cred.id);
        await send(wa);
        // Instance b renews and the old token gets revoked; a has not heard of it.
        const renewed = await b.renew(cred.id);
        await w.control('tokens/revoke', { access_token: cred.token.reveal() });
        await send(wa);
        expect(w.count(SEND)).toBe(3); // ok, 190, retried ok
        expect((await a.getToken(cred.id)).equals(renewed.token)).toBe(true);
        expect(types()).not.toContain('credential.invalid');
      });

      it('without a newer version: inspects once for many concurrent failures, marks invalid, emits one event', async () => {
        const m = manager();
        const token = await w.mint('system_user');
        const cred = await m.addCredential({ tenantId: 'acme', token });
        const wa = client(m, cred.id);
        await send(wa);
        const debugBefore = w.count(DEBUG);
        await w.control('tokens/revoke', { access_token: token });
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => send(wa)));
        expect(results.every((r) => r.status === 'rejected')).toBe(true);
        expect((results[0] as PromiseRejectedResult).reason).toMatchObject({
          graphCode: 190,
          graphSubcode: 467,
        });
        expect(w.count(DEBUG) - debugBefore).toBe(1);
        const invalid = events.filter((e) => e.type === 'credential.invalid');
        expect(invalid).toHaveLength(1);
        expect(invalid[0]).toMatchObject({ trigger: 'token-rejected', graphSubcode: 467 });
        // From now on the client fails fast, without calling Graph.
        const sends = w.count(SEND);
        await expect(send(wa)).rejects.toBeInstanceOf(CredentialUnavailableError);
        expect(w.count(SEND)).toBe(sends);
      });
    });

    describe('restarts and damaged rows', () => {
      it('an instance started later on the same data renews on time and keeps the tenant sending', async () => {
        const first = manager(stores.store, {}, 'first');
        const start = w.emu.clock.now();
        const cred = await first.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
        first.start();
        await pass(first, 20 * DAY, 6 * HOUR);
        await first.stop();
        // A new process: its own store handle (and keyring), an empty cache, nothing scheduled yet.
        const second = manager(await stores.another(), {}, 'second');
        expect((await second.getToken(cred.id)).equals(cred.token)).toBe(true);
        second.start();
        await pass(second, 41 * DAY, 6 * HOUR);
        expect(w.count(EXCHANGE)).toBe(1);
        const refreshed = events.filter((e) => e.type === 'credential.refreshed');
        expect(refreshed).toHaveLength(1);
        // Scheduled 10 days before expiry; the sweep runs at least every poll interval (6 h here).
        expect(refreshed[0]?.atMs).toBeGreaterThanOrEqual(start + 50 * DAY);
        expect(refreshed[0]?.atMs).toBeLessThanOrEqual(start + 50 * DAY + 6 * HOUR);
        await send(client(second, cred.id));
        expect((await second.getCredential(cred.id))?.version).toBe(2);
      });

      it('a credential whose ciphertext was tampered with fails clearly and does not stall the others', async () => {
        if (!stores.sql) return; // the memory store holds no ciphertext
        const m = manager();
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          ids.push((await m.addCredential({ tenantId: `t${i}`, token: await w.mint('system_user') })).id);
        }
        const [row] = await stores.sql('SELECT token_ct FROM credentials WHERE id = ?', [ids[1]]);
        const ct = Buffer.from(row?.token_ct as Uint8Array);
        ct[ct.length - 1] ^= 0x01;
        await stores.sql('UPDATE credentials SET token_ct = ? WHERE id = ?', [ct, ids[1]]);
        // A new instance (nothing cached) reads the damaged row: a clear CryptoError, never a garbage token.
        const other = manager(await stores.another(), {}, 'other');
        await expect(Promise.resolve().then(() => other.getToken(ids[1] as string))).rejects.toMatchObject({
          code: 'CRYPTO',
          message: expect.stringMatching(/credentials\/.+\/v1/),
        });
        m.start();
        await pass(m, DAY + HOUR);
        const checked = events.filter((e) => e.type === 'credential.checked').map((e) => e.credentialId);
        expect(checked.sort()).toEqual([ids[0], ids[2]].sort());
        expect(stores.errors).toContainEqual({
          msg: 'credential cannot be decrypted; the renewal sweep skips it',
          fields: expect.objectContaining({
            credentialId: ids[1],
            error: expect.stringMatching(/credentials\//),
          }),
        });
        // The damaged row is left as it was for an operator to look at (not rewritten, not marked).
        const [after] = await stores.sql('SELECT token_ct, version FROM credentials WHERE id = ?', [ids[1]]);
        expect(Buffer.from(after?.token_ct as Uint8Array).equals(ct)).toBe(true);
        expect(Number(after?.version)).toBe(1);
      });
    });

    describe('many tenants', () => {
      it('routes clients by tenant and by phone number id over one shared pool, each with its own token', async () => {
        const m = manager();
        const seed = w.emu.seed!;
        const waba2 = (await w.control('wabas', { name: 'Tenant two' })) as { id: string };
        const phone2 = (await w.control('phone-numbers', {
          waba_id: waba2.id,
          test: true,
          allowed_recipients: [seed.recipient],
        })) as { id: string };
        const user2 = (await w.control('users', { name: 'Two', waba_ids: [waba2.id] })) as { id: string };
        const c1 = await m.addCredential({ tenantId: 'one', token: await w.mint('system_user') });
        const c2 = await m.addCredential({
          tenantId: 'two',
          token: await w.mint('user_long', { subject_id: user2.id, target_ids: [waba2.id] }),
        });
        let requests = 0;
        const counting = {
          request: (req: Parameters<typeof w.transport.request>[0]) => {
            requests++;
            return w.transport.request(req);
          },
          close: async () => {},
        };
        const registry = createClientRegistry({
          manager: m,
          transport: counting,
          graphUrl: IN_PROCESS_URL,
          clock: w.emu.clock,
        });
        registry.register({ tenantId: 'one', credentialId: c1.id, phoneNumberIds: [seed.phoneNumberId] });
        registry.register({ tenantId: 'two', credentialId: c2.id, phoneNumberIds: [phone2.id] });
        expect(() =>
          registry.register({ tenantId: 'three', credentialId: c1.id, phoneNumberIds: [phone2.id] }),
        ).toThrow(/already belongs to tenant two/);
        expect(registry.tenantOf(phone2.id)).toBe('two');
        expect(registry.forTenant('one')).toBe(registry.forTenant('one'));
        await registry
          .forPhoneNumber(seed.phoneNumberId)
          .messages.text({ to: seed.recipient, body: 'from one' });
        await registry.forPhoneNumber(phone2.id).messages.text({ to: seed.recipient, body: 'from two' });
        expect(w.emu.sentMessages({ phoneNumberId: phone2.id })).toHaveLength(1);
        expect(w.emu.sentMessages({ phoneNumberId: seed.phoneNumberId })).toHaveLength(1);
        expect(requests).toBe(2);
        // Tenant one's token cannot send from tenant two's number: the registry never mixes them up.
        const wrong = client(m, c1.id);
        wrong.updateSenderNumberId(phone2.id);
        await expect(send(wrong)).rejects.toMatchObject({ code: 'GRAPH' });
        await registry.close();
      });
    });
  });
});
