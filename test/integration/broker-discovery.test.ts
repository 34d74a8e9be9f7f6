import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerStore } from '../../src/broker/ports.js';
import {
  control,
  type InProcessBroker,
  sandboxSecrets,
  startInProcessBroker,
  Transcript,
} from '../support/broker.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome, type TestEngine } from '../support/store.js';

/**
 * Issue #7: a pasted system-user token discovers the WABAs and phone numbers it reaches (the same discovery as
 * Facebook Login), never takes a number from another tenant, and keeps the token when discovery fails; re-discover
 * (API, dashboard, health check) fills the numbers in later.
 */
describe('broker: discovery of WABAs and phone numbers for pasted tokens', () => {
  let h: InProcessBroker;
  const transcript = new Transcript();
  const pasted: string[] = [];
  const keys: string[] = [];

  beforeAll(async () => {
    h = await startInProcessBroker();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  /** An API call; its response goes into the transcript unless it carries a secret on purpose (a new API key). */
  async function call(key: string, method: string, path: string, body?: unknown, record = true) {
    const res = await fetch(`${h.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (record) transcript.add(`${method} ${path}`, res, text);
    // biome-ignore lint/suspicious/noExplicitAny: tests read API responses loosely and assert on them.
    return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, any> };
  }

  /** A WABA of its own with one number, and a system user assigned to it. */
  function newWaba() {
    const emu = h.sandbox.emulator;
    const seed = emu.seed as NonNullable<typeof emu.seed>;
    const waba = emu.world.createWaba({ businessId: seed.businessId });
    const phone = emu.world.createPhoneNumber({ wabaId: waba.id, allowedRecipients: [seed.recipient] });
    return { wabaId: waba.id, phoneNumberId: phone.id, recipient: seed.recipient };
  }

  /** A system user assigned to `wabaIds` (Business settings) and a token of it granted those WABAs. */
  async function systemUserToken(wabaIds: string[], kind = 'system_user'): Promise<string> {
    const emu = h.sandbox.emulator;
    const seed = emu.seed as NonNullable<typeof emu.seed>;
    const su = emu.world.createSystemUser({ businessId: seed.businessId, appIds: [seed.appId], wabaIds });
    const minted = await control(h, 'tokens', { kind, subject_id: su.id, target_ids: wabaIds });
    const token = String(minted.access_token);
    pasted.push(token);
    return token;
  }

  async function tenantWithKey(name: string) {
    const tenant = (await call(h.adminKey, 'POST', '/api/v1/tenants', { name })).json as { id: string };
    // Not recorded: the new key is in this response on purpose.
    const made = (await call(h.adminKey, 'POST', '/api/v1/api-keys', { tenantId: tenant.id }, false))
      .json as { key: string };
    keys.push(made.key);
    return { tenantId: tenant.id, key: made.key };
  }

  async function proxySend(key: string, phoneNumberId: string, to: string) {
    const res = await fetch(`${h.base}/graph/v26.0/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to, type: 'text', text: { body: 'hi' } }),
    });
    transcript.add(`proxy ${phoneNumberId}`, res, await res.text());
    return res.status;
  }

  const numbersOf = async (tenantId: string) =>
    (await call(h.adminKey, 'GET', `/api/v1/tenants/${tenantId}/phone-numbers`)).json.data as Array<{
      id: string;
      wabaId: string;
      credentialId: string | null;
    }>;

  it('a pasted system-user token records its WABA and numbers with its credential; the proxy then sends', async () => {
    const w = newWaba();
    const t = await tenantWithKey('Pasted');
    // The gap this closes: a tenant with a credential but no numbers is refused by the proxy.
    expect(await proxySend(t.key, w.phoneNumberId, w.recipient)).toBe(403);

    const token = await systemUserToken([w.wabaId]);
    const added = await call(t.key, 'POST', `/api/v1/tenants/${t.tenantId}/credentials`, { token });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ kind: 'system-user', status: 'active', tenantId: t.tenantId });
    expect(added.json.discovery).toEqual({
      wabaIds: [w.wabaId],
      phoneNumbers: 1,
      skipped: [],
      warnings: [],
      complete: true,
    });
    expect(await numbersOf(t.tenantId)).toEqual([
      expect.objectContaining({ id: w.phoneNumberId, wabaId: w.wabaId, credentialId: added.json.id }),
    ]);
    // Same discovery as the connect flow: the app is subscribed to the WABA's webhooks.
    expect(h.sandbox.emulator.state.wabas.get(w.wabaId)?.subscriptions.map((x) => x.appId)).toContain(
      h.sandbox.appId,
    );
    expect(await proxySend(t.key, w.phoneNumberId, w.recipient)).toBe(200);
    expect(h.sandbox.emulator.sentMessages({ phoneNumberId: w.phoneNumberId })).toHaveLength(1);

    const audit = (await call(h.adminKey, 'GET', `/api/v1/audit?tenant=${t.tenantId}`)).json.data as Array<{
      event: string;
      detail: Record<string, unknown>;
    }>;
    const discovered = audit.find((a) => a.event === 'credential.discovered');
    expect(discovered?.detail).toMatchObject({ trigger: 'paste', phoneNumbers: 1, wabaIds: [w.wabaId] });
  });

  it("never takes over another tenant's number: skipped with a warning, the owner keeps sending", async () => {
    const w = newWaba();
    const owner = await tenantWithKey('Owner');
    const first = await call(owner.key, 'POST', `/api/v1/tenants/${owner.tenantId}/credentials`, {
      token: await systemUserToken([w.wabaId]),
    });
    expect(first.json.discovery.phoneNumbers).toBe(1);

    // Another tenant pastes a token that reaches the same WABA (shared by mistake, or a stolen token).
    const other = await tenantWithKey('Other');
    const second = await call(other.key, 'POST', `/api/v1/tenants/${other.tenantId}/credentials`, {
      token: await systemUserToken([w.wabaId]),
    });
    // Decision: the credential is kept (it may reach other WABAs legitimately), the number is not recorded.
    expect(second.status).toBe(201);
    expect(second.json.discovery).toMatchObject({
      wabaIds: [w.wabaId],
      phoneNumbers: 0,
      skipped: [{ phoneNumberId: w.phoneNumberId, wabaId: w.wabaId, reason: 'owned-by-another-tenant' }],
      complete: true,
    });
    expect(second.json.discovery.warnings.join(' ')).toContain(
      `${w.phoneNumberId} (WABA ${w.wabaId}) belongs to another tenant`,
    );
    // The warning names ids only: nothing about the other tenant leaks.
    expect(JSON.stringify(second.json)).not.toContain(owner.tenantId);
    expect(await numbersOf(other.tenantId)).toEqual([]);
    expect(await numbersOf(owner.tenantId)).toEqual([
      expect.objectContaining({ id: w.phoneNumberId, credentialId: first.json.id }),
    ]);
    expect(await proxySend(other.key, w.phoneNumberId, w.recipient)).toBe(403);
    expect(await proxySend(owner.key, w.phoneNumberId, w.recipient)).toBe(200);

    // Re-discovering from the other tenant changes nothing either.
    const again = await call(other.key, 'POST', `/api/v1/credentials/${second.json.id}/discover`);
    expect(again.status).toBe(200);
    expect(again.json.skipped).toHaveLength(1);
    expect((await numbersOf(owner.tenantId))[0]?.credentialId).toBe(first.json.id);
  });

  it('Graph failing during discovery keeps the credential; re-discover through the API fills the numbers in', async () => {
    const w = newWaba();
    const t = await tenantWithKey('Flaky');
    const token = await systemUserToken([w.wabaId]);
    // debug_token works (the token is checked and stored), then listing the numbers fails: Graph is down.
    await control(h, 'faults', { kind: 'status', status: 503, path: '*/phone_numbers', count: 10 });
    const added = await call(t.key, 'POST', `/api/v1/tenants/${t.tenantId}/credentials`, { token });
    await fetch(`${h.sandbox.url}/_emulator/faults`, { method: 'DELETE' });
    expect(added.status).toBe(201);
    expect(added.json.discovery).toMatchObject({ wabaIds: [w.wabaId], phoneNumbers: 0, complete: false });
    expect(added.json.discovery.warnings[0]).toContain(`listing the numbers of WABA ${w.wabaId} failed`);
    const creds = (await call(t.key, 'GET', `/api/v1/tenants/${t.tenantId}/credentials`)).json.data;
    expect(creds.map((c: { id: string }) => c.id)).toEqual([added.json.id]);
    expect(await numbersOf(t.tenantId)).toEqual([]);
    expect(await proxySend(t.key, w.phoneNumberId, w.recipient)).toBe(403);
    const audit = (await call(h.adminKey, 'GET', `/api/v1/audit?tenant=${t.tenantId}`)).json.data as Array<{
      event: string;
    }>;
    expect(audit.map((a) => a.event)).toContain('credential.discovery_incomplete');

    const redone = await call(t.key, 'POST', `/api/v1/credentials/${added.json.id}/discover`);
    expect(redone.status).toBe(200);
    expect(redone.json).toEqual({
      wabaIds: [w.wabaId],
      phoneNumbers: 1,
      skipped: [],
      warnings: [],
      complete: true,
    });
    expect(await proxySend(t.key, w.phoneNumberId, w.recipient)).toBe(200);
  });

  it('the health check discovers a credential that has no numbers yet (Graph was down when it was added)', async () => {
    const w = newWaba();
    const t = await tenantWithKey('Healing');
    await control(h, 'faults', { kind: 'status', status: 503, path: '*/phone_numbers', count: 10 });
    const added = await call(t.key, 'POST', `/api/v1/tenants/${t.tenantId}/credentials`, {
      token: await systemUserToken([w.wabaId]),
    });
    await fetch(`${h.sandbox.url}/_emulator/faults`, { method: 'DELETE' });
    expect(added.json.discovery.complete).toBe(false);
    // A health check (the daily debug_token; here asked for at once) notices the missing numbers.
    expect((await call(t.key, 'POST', `/api/v1/credentials/${added.json.id}/check`)).status).toBe(200);
    let numbers = await numbersOf(t.tenantId);
    for (let i = 0; i < 100 && numbers.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      numbers = await numbersOf(t.tenantId);
    }
    expect(numbers).toEqual([expect.objectContaining({ id: w.phoneNumberId, credentialId: added.json.id })]);
    const audit = (await call(h.adminKey, 'GET', `/api/v1/audit?tenant=${t.tenantId}`)).json.data as Array<{
      event: string;
      detail: Record<string, unknown>;
    }>;
    expect(audit.find((a) => a.event === 'credential.discovered')?.detail.trigger).toBe('health-check');
  });

  it('dashboard: "Add a system-user token" discovers; a failed discovery offers "Re-discover numbers"', async () => {
    const w = newWaba();
    const t = await tenantWithKey('Dash');
    let cookie = '';
    const browse = async (path: string, form?: Record<string, string>) => {
      const res = await fetch(`${h.base}${path}`, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          ...(cookie ? { cookie } : {}),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: form ? new URLSearchParams(form).toString() : undefined,
      });
      const set = res.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0] as string;
      const text = await res.text();
      transcript.add(`dashboard ${path}`, res, text);
      return { status: res.status, location: res.headers.get('location'), text };
    };
    expect((await browse('/login', { key: h.adminKey })).status).toBe(303);
    const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1] as string;
    const page = await browse(`/tenants/${t.tenantId}`);
    await control(h, 'faults', { kind: 'status', status: 503, path: '*/phone_numbers', count: 10 });
    const added = await browse(`/tenants/${t.tenantId}/credentials`, {
      csrf: csrfOf(page.text),
      token: await systemUserToken([w.wabaId]),
    });
    await fetch(`${h.sandbox.url}/_emulator/faults`, { method: 'DELETE' });
    expect(added.location).toBe(`/tenants/${t.tenantId}?flash=token-added-partly`);
    const after = await browse(added.location as string);
    expect(after.text).toContain('Re-discover numbers');
    expect(after.text).toContain('use &quot;Re-discover numbers&quot;');
    const credentialId = /action="\/credentials\/([^/"]+)\/discover"/.exec(after.text)?.[1] as string;
    expect(credentialId).toBeTruthy();
    // Without the CSRF token: refused, nothing discovered.
    expect((await browse(`/credentials/${credentialId}/discover`, {})).status).toBe(403);
    expect(await numbersOf(t.tenantId)).toEqual([]);
    const redone = await browse(`/credentials/${credentialId}/discover`, { csrf: csrfOf(after.text) });
    expect(redone.location).toBe(`/tenants/${t.tenantId}?flash=discovered`);
    const final = await browse(redone.location as string);
    expect(final.text).toContain(w.phoneNumberId);
    expect(await proxySend(t.key, w.phoneNumberId, w.recipient)).toBe(200);
    expect((await browse('/credentials/nope/discover', { csrf: csrfOf(final.text) })).status).toBe(404);
  });

  it('bad input changes nothing: unusable tokens, foreign and unknown credentials, dead credentials', async () => {
    const w = newWaba();
    const a = await tenantWithKey('BadA');
    const b = await tenantWithKey('BadB');
    const before = (await call(h.adminKey, 'GET', `/api/v1/tenants/${a.tenantId}/credentials`)).json.data;
    const bogus = await call(a.key, 'POST', `/api/v1/tenants/${a.tenantId}/credentials`, {
      token: 'EAAnot-a-token',
    });
    expect(bogus.status).toBeGreaterThanOrEqual(400);
    expect((await call(h.adminKey, 'GET', `/api/v1/tenants/${a.tenantId}/credentials`)).json.data).toEqual(
      before,
    );

    const added = await call(a.key, 'POST', `/api/v1/tenants/${a.tenantId}/credentials`, {
      token: await systemUserToken([w.wabaId]),
    });
    // Another tenant's credential is not there for b; an unknown id is not there for anyone.
    expect((await call(b.key, 'POST', `/api/v1/credentials/${added.json.id}/discover`)).status).toBe(404);
    expect((await call(h.adminKey, 'POST', '/api/v1/credentials/nope/discover')).status).toBe(404);
    expect(
      (await call(a.key, 'POST', `/api/v1/credentials/${added.json.id}/discover`, { x: 1 })).status,
    ).toBe(400);
    // A revoked token is not rediscovered: 409, its numbers stay as they were.
    await control(h, 'tokens/revoke', { access_token: pasted.at(-1) });
    await call(a.key, 'POST', `/api/v1/credentials/${added.json.id}/check`);
    const dead = await call(a.key, 'POST', `/api/v1/credentials/${added.json.id}/discover`);
    expect(dead.status).toBe(409);
    expect(dead.json.error.code).toBe('not_usable');
    expect(await numbersOf(a.tenantId)).toEqual([expect.objectContaining({ id: w.phoneNumberId })]);
  });

  it('a token whose grant names no WABA is stored and says so', async () => {
    const t = await tenantWithKey('NoWaba');
    const minted = await control(h, 'tokens', { kind: 'system_user' });
    pasted.push(String(minted.access_token));
    const added = await call(t.key, 'POST', `/api/v1/tenants/${t.tenantId}/credentials`, {
      token: minted.access_token,
    });
    expect(added.status).toBe(201);
    expect(added.json.discovery).toMatchObject({ wabaIds: [], phoneNumbers: 0, complete: true });
    expect(added.json.discovery.warnings[0]).toContain('names no WhatsApp Business Account');
  });

  it('never shows a pasted token, key or the app secret in responses, pages or logs', () => {
    const everything = `${transcript.text()}\n${h.logs.join('\n')}`;
    expectNoSecrets(everything, [...pasted, ...sandboxSecrets(h), ...keys], 'discovery run');
  });
});

describe.each<TestEngine>(['sqlite', 'postgres'])(
  'store (%s): a phone number never moves to another tenant',
  (engine) => {
    const run = engine === 'sqlite' || pgTestUrl !== undefined;
    if (!run) announcePgSkip('broker-discovery.test.ts');
    it.skipIf(!run)(
      'upsert for another tenant leaves the owner row as it was, even when racing',
      async () => {
        const home = await createTestStoreHome(engine);
        try {
          const store: BrokerStore = await home.open();
          const tenants = await Promise.all(['A', 'B', 'C'].map((name) => store.tenants.create({ name }, 1)));
          const row = (tenantId: string) => ({
            id: '1065432100001',
            tenantId,
            wabaId: '2001',
            displayPhoneNumber: '+1 555 0100',
            verifiedName: null,
            credentialId: `cred-${tenantId}`,
          });
          // Three tenants at once: exactly one owns it afterwards, with its own credential.
          await Promise.all(tenants.map((t) => store.phoneNumbers.upsert(row(t.id), 1)));
          const owner = await store.phoneNumbers.get('1065432100001');
          expect(tenants.map((t) => t.id)).toContain(owner?.tenantId);
          expect(owner?.credentialId).toBe(`cred-${owner?.tenantId}`);
          let expected: string | null = null;
          for (const t of tenants) {
            await store.phoneNumbers.upsert({ ...row(t.id), verifiedName: `by ${t.id}` }, 2);
            if (t.id === owner?.tenantId) expected = `by ${t.id}`;
            const now = await store.phoneNumbers.get('1065432100001');
            expect(now?.tenantId).toBe(owner?.tenantId);
            expect(now?.verifiedName).toBe(expected);
          }
          const others = tenants.filter((t) => t.id !== owner?.tenantId);
          for (const t of others) expect(await store.phoneNumbers.listByTenant(t.id)).toEqual([]);
        } finally {
          await home.cleanup();
        }
      },
    );
  },
);
