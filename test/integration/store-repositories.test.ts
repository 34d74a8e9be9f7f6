import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import type { Store } from '../../src/store/open-store.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../support/store.js';
import { draft } from './store-credential-contract.js';

announcePgSkip('store-repositories');

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`store repositories (${engine})`, () => {
    let home: TestStoreHome;
    let store: Store;
    beforeAll(async () => {
      home = await createTestStoreHome(engine);
      store = await home.open();
    });
    afterAll(async () => home?.cleanup());

    it('tenants: create, read, update, list, conflict', async () => {
      const t = await store.tenants.create({ id: 'acme', name: 'Acme', metadata: { plan: 'pro' } }, 10);
      expect(t).toEqual({
        id: 'acme',
        name: 'Acme',
        status: 'active',
        metadata: { plan: 'pro' },
        createdAtMs: 10,
        updatedAtMs: 10,
      });
      expect(await store.tenants.get('acme')).toEqual(t);
      const gen = await store.tenants.create({ name: 'Generated' }, 11);
      expect(gen.id).toMatch(/^[0-9a-f-]{36}$/);
      await expect(store.tenants.create({ id: 'acme', name: 'again' }, 12)).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      const upd = await store.tenants.update('acme', { status: 'suspended', name: 'Acme Ltd' }, 20);
      expect(upd).toMatchObject({
        status: 'suspended',
        name: 'Acme Ltd',
        metadata: { plan: 'pro' },
        updatedAtMs: 20,
      });
      expect(await store.tenants.update('nope', { name: 'x' }, 1)).toBeUndefined();
      expect((await store.tenants.list()).map((x) => x.id)).toEqual(['acme', gen.id]);
    });

    it('phone numbers: upsert keeps created time, routes by phone id and WABA', async () => {
      const p = {
        id: '1065432109876',
        tenantId: 'acme',
        wabaId: '2001',
        displayPhoneNumber: '+1 555 0100',
        verifiedName: 'Acme',
        credentialId: null,
      };
      await store.phoneNumbers.upsert(p, 5);
      const again = await store.phoneNumbers.upsert(
        { ...p, verifiedName: 'Acme Ltd', credentialId: 'c1' },
        9,
      );
      expect(again).toMatchObject({
        verifiedName: 'Acme Ltd',
        credentialId: 'c1',
        createdAtMs: 5,
        updatedAtMs: 9,
      });
      expect(await store.phoneNumbers.findTenantId('1065432109876')).toBe('acme');
      expect(await store.phoneNumbers.findTenantId('000')).toBeUndefined();
      expect(await store.phoneNumbers.tenantOfWaba('2001')).toBe('acme');
      expect(await store.phoneNumbers.tenantOfWaba('999')).toBeUndefined();
      expect((await store.phoneNumbers.listByTenant('acme')).map((x) => x.id)).toEqual(['1065432109876']);
      expect(await store.phoneNumbers.delete('1065432109876')).toBe(true);
      expect(await store.phoneNumbers.get('1065432109876')).toBeUndefined();
    });

    it('OAuth states: hash only, single use even under concurrency, expiry, purge', async () => {
      const state = 'the-state-value-from-the-dialog';
      await store.oauthStates.save({
        stateHash: sha(state),
        flow: 'embedded-signup',
        redirectUri: 'https://broker.test/cb',
        codeVerifier: new Secret('verifier-0123456789-0123456789-0123456789'),
        scopes: ['whatsapp_business_management'],
        configId: 'cfg1',
        tenantId: 'acme',
        createdAtMs: 100,
        expiresAtMs: 700,
      });
      await expect(
        store.oauthStates.save({
          stateHash: state,
          redirectUri: 'x',
          codeVerifier: undefined,
          scopes: [],
          configId: undefined,
          tenantId: undefined,
          createdAtMs: 1,
          expiresAtMs: 2,
        }),
      ).rejects.toMatchObject({ code: 'VALIDATION' });
      const results = await Promise.all([
        store.oauthStates.consume(sha(state), 200),
        store.oauthStates.consume(sha(state), 200),
        store.oauthStates.consume(sha(state), 200),
      ]);
      const ok = results.filter((r) => r.status === 'ok');
      expect(ok).toHaveLength(1);
      expect(results.filter((r) => r.status === 'used')).toHaveLength(2);
      const rec = ok[0]?.status === 'ok' ? ok[0].record : undefined;
      expect(rec).toMatchObject({
        flow: 'embedded-signup',
        tenantId: 'acme',
        configId: 'cfg1',
        expiresAtMs: 700,
      });
      expect(rec?.codeVerifier?.reveal()).toBe('verifier-0123456789-0123456789-0123456789');
      expect(await store.oauthStates.consume(sha('unknown'), 200)).toEqual({ status: 'unknown' });

      await store.oauthStates.save({
        stateHash: sha('late'),
        redirectUri: 'https://broker.test/cb',
        codeVerifier: undefined,
        scopes: [],
        configId: undefined,
        tenantId: undefined,
        createdAtMs: 100,
        expiresAtMs: 700,
      });
      expect(await store.oauthStates.consume(sha('late'), 700)).toEqual({ status: 'expired' });
      expect(await store.oauthStates.consume(sha('late'), 701)).toEqual({ status: 'used' });
      expect(await store.oauthStates.purgeExpired(700 + 3_600_000)).toBe(2);
      expect(await store.oauthStates.consume(sha('late'), 1)).toEqual({ status: 'unknown' });
    });

    it('API keys: hash only, find by hash, admin keys, revoke, count', async () => {
      const key = 'wck_k1k1k1k1_thefullkeyvalue-thefullkeyvalue-abcdefg';
      await expect(
        store.apiKeys.insert({ keyId: 'bad', hash: key, tenantId: null, label: 'x' }, 1),
      ).rejects.toMatchObject({ code: 'VALIDATION' });
      await store.apiKeys.insert({ keyId: 'k1k1k1k1', hash: sha(key), tenantId: null, label: 'admin' }, 1);
      await store.apiKeys.insert(
        { keyId: 'k2k2k2k2', hash: sha('other'), tenantId: 'acme', label: 'acme app' },
        2,
      );
      expect(await store.apiKeys.findByHash(sha(key))).toMatchObject({
        keyId: 'k1k1k1k1',
        tenantId: null,
        revokedAtMs: null,
      });
      expect(await store.apiKeys.findByHash(sha('nope'))).toBeUndefined();
      expect(await store.apiKeys.findByHash('not-hex')).toBeUndefined();
      expect((await store.apiKeys.listByTenant(null)).map((k) => k.keyId)).toEqual(['k1k1k1k1']);
      expect((await store.apiKeys.listByTenant('acme')).map((k) => k.keyId)).toEqual(['k2k2k2k2']);
      expect(await store.apiKeys.count()).toBe(2);
      await store.apiKeys.touch('k1k1k1k1', 50);
      expect((await store.apiKeys.get('k1k1k1k1'))?.lastUsedAtMs).toBe(50);
      expect(await store.apiKeys.revoke('k2k2k2k2', 60)).toBe(true);
      expect(await store.apiKeys.revoke('k2k2k2k2', 61)).toBe(false);
      expect((await store.apiKeys.get('k2k2k2k2'))?.revokedAtMs).toBe(60);
      expect(await store.apiKeys.count()).toBe(1);
      await expect(
        store.apiKeys.insert({ keyId: 'k3k3k3k3', hash: sha(key), tenantId: null, label: 'dup' }, 3),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
    });

    it('webhook inbox: raw bytes kept exactly, duplicates detected, claim/retry/dead/requeue', async () => {
      const body = Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x22, 0x7d, 0x0a]);
      const first = await store.inbox.insert({
        body,
        signatureValid: true,
        dedupeKey: 'sha256:aa',
        receivedAtMs: 100,
      });
      expect(first.duplicate).toBe(false);
      expect(first.item.body.equals(body)).toBe(true);
      expect(first.item.status).toBe('pending');
      const dup = await store.inbox.insert({
        body,
        signatureValid: true,
        dedupeKey: 'sha256:aa',
        receivedAtMs: 101,
      });
      expect(dup).toMatchObject({ duplicate: true, item: { id: first.item.id, receivedAtMs: 100 } });
      const bad = await store.inbox.insert({
        body,
        signatureValid: false,
        dedupeKey: 'sha256:bb',
        receivedAtMs: 102,
      });
      expect(bad.item.status).toBe('rejected');
      await store.inbox.insert({
        body: Buffer.from('{}'),
        signatureValid: true,
        dedupeKey: 'sha256:cc',
        receivedAtMs: 103,
      });

      const [a, b] = await Promise.all([
        store.inbox.claimPending(200, 1, 'w1', 1_000),
        store.inbox.claimPending(200, 1, 'w2', 1_000),
      ]);
      expect([...a, ...b].map((x) => x.dedupeKey).sort()).toEqual(['sha256:aa', 'sha256:cc']);
      expect(a[0]).toMatchObject({ status: 'processing', attempts: 1 });
      expect(await store.inbox.claimPending(200, 10, 'w3', 1_000)).toEqual([]);

      await store.inbox.markFailed(first.item.id, 'routing failed', 500);
      expect(await store.inbox.claimPending(400, 10, 'w1', 1_000)).toEqual([]);
      const retried = await store.inbox.claimPending(500, 10, 'w1', 1_000);
      expect(retried.map((x) => [x.id, x.attempts])).toEqual([[first.item.id, 2]]);
      await store.inbox.markFailed(first.item.id, 'still failing', null);
      expect((await store.inbox.get(first.item.id))?.status).toBe('dead');
      expect(await store.inbox.requeue(first.item.id, 600)).toBe(true);
      await store.inbox.claimPending(600, 10, 'w1', 1_000);
      await store.inbox.markDone(first.item.id, 700, 'acme');
      expect(await store.inbox.get(first.item.id)).toMatchObject({
        status: 'done',
        tenantId: 'acme',
        processedAtMs: 700,
      });
      // The other claimed item's lease lapses: it is claimable again.
      const lapsed = await store.inbox.claimPending(10_000, 10, 'w9', 1_000);
      expect(lapsed.map((x) => x.dedupeKey)).toEqual(['sha256:cc']);
      expect((await store.inbox.recent(10, 'acme')).map((x) => x.id)).toEqual([first.item.id]);
      expect(await store.inbox.countByStatus()).toEqual({ done: 1, processing: 1, rejected: 1 });
    });

    it('subscriptions and deliveries: secret encrypted, event filter, exactly-once fan-out, retries', async () => {
      const sub = await store.subscriptions.create(
        {
          id: 'sub1',
          tenantId: 'acme',
          url: 'https://hooks.test/a',
          secret: new Secret('whsec_subscription_secret_1'),
          events: ['messages'],
        },
        1,
      );
      expect(sub.secret.reveal()).toBe('whsec_subscription_secret_1');
      await store.subscriptions.create(
        {
          id: 'sub2',
          tenantId: 'acme',
          url: 'https://hooks.test/b',
          secret: new Secret('whsec_two'),
          events: [],
        },
        2,
      );
      await store.subscriptions.create(
        {
          id: 'sub3',
          tenantId: 'acme',
          url: 'https://hooks.test/c',
          secret: new Secret('whsec_three'),
          events: ['*'],
          active: false,
        },
        3,
      );
      expect((await store.subscriptions.listForEvent('acme', 'messages')).map((s) => s.id)).toEqual([
        'sub1',
        'sub2',
      ]);
      expect((await store.subscriptions.listForEvent('acme', 'statuses')).map((s) => s.id)).toEqual(['sub2']);
      const rotated = await store.subscriptions.update(
        'sub1',
        { secret: new Secret('whsec_rotated'), active: true },
        4,
      );
      expect(rotated?.secret.reveal()).toBe('whsec_rotated');

      const d1 = await store.deliveries.enqueue(
        {
          subscriptionId: 'sub1',
          tenantId: 'acme',
          eventId: 'evt1',
          eventType: 'messages',
          payload: '{"a":1}',
        },
        10,
      );
      const d1again = await store.deliveries.enqueue(
        {
          subscriptionId: 'sub1',
          tenantId: 'acme',
          eventId: 'evt1',
          eventType: 'messages',
          payload: '{"a":2}',
        },
        11,
      );
      expect(d1.duplicate).toBe(false);
      expect(d1again).toMatchObject({
        duplicate: true,
        delivery: { id: d1.delivery.id, payload: '{"a":1}' },
      });
      await store.deliveries.enqueue(
        {
          subscriptionId: 'sub2',
          tenantId: 'acme',
          eventId: 'evt1',
          eventType: 'messages',
          payload: '{}',
          nextAttemptAtMs: 50,
        },
        10,
      );
      const claimed = await store.deliveries.claimDue(20, 10, 'out1', 1_000);
      expect(claimed.map((d) => d.subscriptionId)).toEqual(['sub1']);
      expect(claimed[0]).toMatchObject({ attempts: 1, leaseOwner: 'out1' });
      await store.deliveries.markFailed(d1.delivery.id, 'HTTP 500', 100);
      expect((await store.deliveries.claimDue(60, 10, 'out1', 1_000)).map((d) => d.subscriptionId)).toEqual([
        'sub2',
      ]);
      const second = await store.deliveries.claimDue(100, 10, 'out2', 1_000);
      expect(second.map((d) => [d.subscriptionId, d.attempts])).toEqual([['sub1', 2]]);
      await store.deliveries.markDelivered(d1.delivery.id, 150);
      expect(await store.deliveries.get(d1.delivery.id)).toMatchObject({
        status: 'delivered',
        deliveredAtMs: 150,
        lastError: 'HTTP 500',
      });
      await store.deliveries.markFailed(d1.delivery.id, 'gone', null);
      expect((await store.deliveries.get(d1.delivery.id))?.status).toBe('dead');
      expect(await store.deliveries.requeue(d1.delivery.id, 300)).toBe(true);
      expect((await store.deliveries.listByTenant('acme')).length).toBe(2);
      expect((await store.deliveries.listBySubscription('sub1')).map((d) => d.eventId)).toEqual(['evt1']);
      expect(await store.subscriptions.delete('sub1')).toBe(true);
      expect(await store.deliveries.get(d1.delivery.id)).toBeUndefined();
    });

    it('audit log: appends, filters, pages, and never stores a token', async () => {
      const token = 'EAAGauditTokenValue1234567890abcdefXYZ';
      await store.audit.append(
        {
          tenantId: 'acme',
          credentialId: 'c1',
          event: 'credential.refreshed',
          detail: { token: new Secret(token), version: 2 },
        },
        1,
      );
      await store.audit.append(
        { tenantId: 'acme', event: 'credential.expiring', detail: { note: `access_token=${token}` } },
        2,
      );
      await store.audit.append({ tenantId: 'other', event: 'credential.invalid' }, 3);
      const acme = await store.audit.list({ tenantId: 'acme' });
      expect(acme.map((a) => a.event)).toEqual(['credential.expiring', 'credential.refreshed']);
      expect(acme[1]?.detail.version).toBe(2);
      expect(String(acme[1]?.detail.token)).toMatch(/^\[secret sha256:[0-9a-f]{8}\]$|^\[access-token sha256/);
      expectNoSecrets(JSON.stringify(await store.audit.list()), [token], 'audit log');
      expect((await store.audit.list({ credentialId: 'c1' })).length).toBe(1);
      const page = await store.audit.list({ limit: 1, beforeId: acme[0]?.id });
      expect(page.map((a) => a.event)).toEqual(['credential.refreshed']);
    });

    it('deleting a tenant removes what belongs to it and keeps the audit log', async () => {
      await store.tenants.create({ id: 'gone', name: 'Gone' }, 1);
      await store.credentials.insert(draft({ id: 'gone-cred', tenantId: 'gone' }), 1);
      await store.phoneNumbers.upsert(
        {
          id: '77',
          tenantId: 'gone',
          wabaId: '7',
          displayPhoneNumber: '+1',
          verifiedName: null,
          credentialId: 'gone-cred',
        },
        1,
      );
      await store.apiKeys.insert({ keyId: 'gonegone', hash: sha('gone'), tenantId: 'gone', label: 'x' }, 1);
      await store.subscriptions.create(
        { id: 'gone-sub', tenantId: 'gone', url: 'https://x.test', secret: new Secret('s'), events: [] },
        1,
      );
      await store.deliveries.enqueue(
        { subscriptionId: 'gone-sub', tenantId: 'gone', eventId: 'e', eventType: 't', payload: '{}' },
        1,
      );
      await store.audit.append({ tenantId: 'gone', event: 'tenant.created' }, 1);
      expect(await store.tenants.delete('gone')).toBe(true);
      expect(await store.tenants.delete('gone')).toBe(false);
      expect(await store.credentials.get('gone-cred')).toBeUndefined();
      expect(await store.phoneNumbers.get('77')).toBeUndefined();
      expect(await store.apiKeys.get('gonegone')).toBeUndefined();
      expect(await store.subscriptions.get('gone-sub')).toBeUndefined();
      expect(await store.deliveries.listByTenant('gone')).toEqual([]);
      expect((await store.audit.list({ tenantId: 'gone' })).length).toBe(1);
    });
  });
}
