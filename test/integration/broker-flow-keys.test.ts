import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptFlowRequest } from '../../src/flows/crypto.js';
import { signPayload } from '../../src/webhooks/verify-signature.js';
import {
  control,
  type InProcessBroker,
  sandboxSecrets,
  setUpTenant,
  startInProcessBroker,
  type TenantWorld,
} from '../support/broker.js';
import { expectNoSecrets, privateKeyParts } from '../support/secret-scan.js';

/**
 * Flow key custody for broker users: keys generated and uploaded with the tenant's stored credential through the API
 * and the dashboard (one function), tenant scoping, audit entries, Flow endpoint metrics, and no private key or token
 * in anything the broker answered or logged.
 */

let h: InProcessBroker;
let acme: TenantWorld;
let beta: TenantWorld;
let receiver: Server;
/** Every broker answer this file read, for the secret scan at the end. */
const answers: string[] = [];
/** How the tenant's flow service answers: 427 refuses the flow token, 'hang' never answers. */
let serviceMode: 'ok' | '427' | 'hang' = 'ok';

const FIELDS = [
  'checkedAtMs',
  'fingerprint',
  'id',
  'metaStatus',
  'phoneNumberId',
  'publicKeyPem',
  'retireAfterMs',
  'state',
  'tenantId',
  'uploadedAtMs',
];

async function call(key: string, path: string, body?: unknown, type = 'application/json') {
  const res = await fetch(`${h.base}/api/v1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': type },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  answers.push(text);
  // biome-ignore lint/suspicious/noExplicitAny: tests read API responses loosely and assert on them.
  return { status: res.status, json: JSON.parse(text) as Record<string, any> };
}

/** A Flow request for a public key, signed with the app secret, as the WhatsApp client sends it. */
async function flowCall(
  phone: string,
  publicKeyPem: string,
  plain: Record<string, unknown>,
  secret?: string,
) {
  const body = JSON.stringify(encryptFlowRequest(plain, publicKeyPem).body);
  const sig = signPayload(body, secret ?? h.sandbox.emulator.seed!.appSecret);
  const res = await fetch(`${h.base}/flows/${phone}`, {
    method: 'POST',
    headers: { 'x-hub-signature-256': sig },
    body,
  });
  answers.push(await res.text());
  return res.status;
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url?.endsWith('/flow-service')) {
        if (serviceMode === 'hang') return;
        if (serviceMode === '427') return void res.writeHead(427).end();
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ screen: 'PICK_SLOT', data: {} }));
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  h = await startInProcessBroker({ broker: { flowTimeoutMs: 300 } });
  acme = await setUpTenant(h, 'Acme', base, false);
  beta = await setUpTenant(h, 'Beta', base, true);
  const sub = await call(acme.key, `/tenants/${acme.tenantId}/subscriptions`, {
    url: `${base}/flow-service`,
    events: ['flows'],
  });
  expect(sub.status).toBe(201);
}, 90_000);

afterAll(async () => {
  await h?.close();
  await new Promise((r) => receiver?.close(r));
});

describe('flow keys through the broker API', () => {
  let firstPem = '';

  it('generates and uploads a key with the tenant credential; lists it with public fields only', async () => {
    const made = await call(acme.key, `/tenants/${acme.tenantId}/flow-keys`, {
      phoneNumberId: acme.phoneNumberId,
    });
    expect(made.status, JSON.stringify(made.json)).toBe(201);
    expect(made.json.key).toMatchObject({
      state: 'active',
      metaStatus: 'VALID',
      phoneNumberId: acme.phoneNumberId,
    });
    expect(made.json.retiring).toBeUndefined();
    firstPem = made.json.key.publicKeyPem;
    // Meta (the emulator) holds exactly that key; the broker's Flow endpoint opens requests made for it.
    expect(await flowCall(acme.phoneNumberId, firstPem, { version: '3.0', action: 'ping' })).toBe(200);

    const again = await call(acme.key, `/tenants/${acme.tenantId}/flow-keys`, {
      phoneNumberId: acme.phoneNumberId,
    });
    expect(again).toMatchObject({ status: 409, json: { error: { code: 'already_active' } } });

    const listed = await call(acme.key, `/tenants/${acme.tenantId}/flow-keys`);
    expect(listed.status).toBe(200);
    expect(listed.json.data).toHaveLength(1);
    expect(Object.keys(listed.json.data[0]).sort()).toEqual(FIELDS);
  });

  it("refuses another tenant's number or keys as not found, and bad bodies with 4xx, changing nothing", async () => {
    const foreign = await call(acme.key, `/tenants/${acme.tenantId}/flow-keys`, {
      phoneNumberId: beta.phoneNumberId,
    });
    expect(foreign).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
    expect((await call(acme.key, `/tenants/${beta.tenantId}/flow-keys`)).status).toBe(404);
    const viaPath = await call(acme.key, `/tenants/${beta.tenantId}/flow-keys`, {
      phoneNumberId: beta.phoneNumberId,
    });
    expect(viaPath.status).toBe(404);
    const rotateForeign = await call(acme.key, `/tenants/${beta.tenantId}/flow-keys/rotate`, {
      phoneNumberId: beta.phoneNumberId,
    });
    expect(rotateForeign.status).toBe(404);
    const path = `/tenants/${acme.tenantId}/flow-keys`;
    expect((await call(acme.key, path, {})).status).toBe(422);
    expect((await call(acme.key, path, { phoneNumberId: 5 })).status).toBe(422);
    expect((await call(acme.key, path, { phoneNumberId: acme.phoneNumberId, privateKey: 'x' })).status).toBe(
      422,
    );
    expect((await call(acme.key, path, '{"phoneNumberId":', 'application/json')).status).toBe(400);
    expect((await call(acme.key, path, 'phoneNumberId=1', 'application/x-www-form-urlencoded')).status).toBe(
      415,
    );
    expect((await call(acme.key, path, { phoneNumberId: 'abc' })).status).toBe(404);
    // Beta has no key to rotate: 409, and no key was made for it by any of the above.
    const noKey = await call(beta.key, `/tenants/${beta.tenantId}/flow-keys/rotate`, {
      phoneNumberId: beta.phoneNumberId,
    });
    expect(noKey).toMatchObject({ status: 409, json: { error: { code: 'no_active_key' } } });
    expect((await call(beta.key, `/tenants/${beta.tenantId}/flow-keys`)).json.data).toEqual([]);
    expect((await call(acme.key, `/tenants/${acme.tenantId}/flow-keys`)).json.data).toHaveLength(1);
  });

  it('rotates: both keys decrypt during the grace period, then the old one retires (421) and it is audited', async () => {
    const rotated = await call(acme.key, `/tenants/${acme.tenantId}/flow-keys/rotate`, {
      phoneNumberId: acme.phoneNumberId,
    });
    expect(rotated.status, JSON.stringify(rotated.json)).toBe(200);
    expect(rotated.json.key).toMatchObject({ state: 'active', metaStatus: 'VALID' });
    expect(rotated.json.retiring).toMatchObject({ state: 'retiring', publicKeyPem: firstPem });
    const ping = { version: '3.0', action: 'ping' };
    // The new key works at once (the endpoint's cached keys are refreshed on a miss), the old one still works.
    expect(await flowCall(acme.phoneNumberId, rotated.json.key.publicKeyPem, ping)).toBe(200);
    expect(await flowCall(acme.phoneNumberId, firstPem, ping)).toBe(200);

    await control(h, 'clock/advance', { seconds: 24 * 3600 + 60 });
    const listed = await call(acme.key, `/tenants/${acme.tenantId}/flow-keys`);
    expect(listed.json.data.map((k: { state: string }) => k.state).sort()).toEqual(['active', 'retired']);
    expect(await flowCall(acme.phoneNumberId, firstPem, ping)).toBe(421);

    const audit = await call(h.adminKey, `/audit?tenant=${acme.tenantId}`);
    const events = (audit.json.data as Array<{ event: string; detail: Record<string, unknown> }>).filter(
      (e) => e.event.startsWith('flow_key.'),
    );
    expect(events.map((e) => e.event).sort()).toEqual([
      'flow_key.generated',
      'flow_key.generated',
      'flow_key.retired',
      'flow_key.rotated',
      'flow_key.uploaded',
      'flow_key.uploaded',
    ]);
    const retired = events.find((e) => e.event === 'flow_key.retired');
    expect(retired?.detail).toMatchObject({
      keyId: rotated.json.retiring.id,
      phoneNumberId: acme.phoneNumberId,
    });
  });

  it('counts Flow endpoint requests by outcome: ping, ok, 421, 432, 427, timeout', async () => {
    const [active] = (await call(acme.key, `/tenants/${acme.tenantId}/flow-keys`)).json.data as Array<{
      publicKeyPem: string;
    }>;
    const pem = active?.publicKeyPem as string;
    const init = { version: '3.0', action: 'INIT', flow_token: 't-1' };
    expect(await flowCall(acme.phoneNumberId, pem, init)).toBe(200);
    serviceMode = '427';
    expect(await flowCall(acme.phoneNumberId, pem, init)).toBe(427);
    serviceMode = 'hang';
    expect(await flowCall(acme.phoneNumberId, pem, init)).toBe(503);
    serviceMode = 'ok';
    expect(await flowCall(acme.phoneNumberId, pem, init, 'not-the-app-secret')).toBe(432);
    const metrics = await (await fetch(`${h.base}/metrics`)).text();
    const count = (outcome: string) =>
      Number(
        new RegExp(`^wacloud_flow_endpoint_requests_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(
          metrics,
        )?.[1] ?? 0,
      );
    expect(count('ping')).toBe(3);
    expect(count('ok')).toBe(1);
    // fetch (undici) sends a request answered 421 Misdirected Request once more on a new connection: 1 or 2.
    expect(count('421')).toBeGreaterThanOrEqual(1);
    expect(count('427')).toBe(1);
    expect(count('timeout')).toBe(1);
    expect(count('432')).toBe(1);
    expect(metrics).not.toMatch(/wacloud_flow_endpoint_requests_total\{[^}]*tenant/);
  });
});

describe('the dashboard Flows page key action', () => {
  it('generates and uploads through a CSRF-checked form, then offers rotation', async () => {
    const login = await fetch(`${h.base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: h.adminKey }).toString(),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const pagePath = `/tenants/${beta.tenantId}/flows`;
    const before = await (await fetch(`${h.base}${pagePath}`, { headers: { cookie } })).text();
    answers.push(before);
    expect(before).toContain('Generate and upload key');
    const csrf = /name="csrf" value="([^"]+)"/.exec(before)?.[1] as string;
    const post = (form: Record<string, string>) =>
      fetch(`${h.base}/tenants/${beta.tenantId}/flows/keys`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
    const form = { phoneNumberId: beta.phoneNumberId, action: 'first' };
    expect((await post(form)).status).toBe(403); // no CSRF token
    expect((await post({ ...form, csrf: 'forged' })).status).toBe(403);
    expect((await post({ ...form, phoneNumberId: acme.phoneNumberId, csrf })).status).toBe(404);
    expect((await post({ ...form, action: 'explode', csrf })).status).toBe(400);
    expect((await call(beta.key, `/tenants/${beta.tenantId}/flow-keys`)).json.data).toEqual([]);

    const done = await post({ ...form, csrf });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`${pagePath}?flash=flow-key-uploaded`);
    const [key] = (await call(beta.key, `/tenants/${beta.tenantId}/flow-keys`)).json.data as Array<{
      fingerprint: string;
      state: string;
    }>;
    expect(key?.state).toBe('active');
    const after = await (
      await fetch(`${h.base}${pagePath}?flash=flow-key-uploaded`, { headers: { cookie } })
    ).text();
    answers.push(after);
    expect(after).toContain(key?.fingerprint as string);
    expect(after).toContain('Rotate key');
    expect(after).toContain('Meta holds it (VALID)');
    // A second "first" for the same number changes nothing.
    const refused = await post({ ...form, csrf });
    expect(refused.headers.get('location')).toBe(`${pagePath}?flash=flow-key-refused`);
    const rotated = await post({ ...form, action: 'rotate', csrf });
    expect(rotated.headers.get('location')).toBe(`${pagePath}?flash=flow-key-rotated`);
    const states = (await call(beta.key, `/tenants/${beta.tenantId}/flow-keys`)).json.data.map(
      (k: { state: string }) => k.state,
    );
    expect(states.sort()).toEqual(['active', 'retiring']);
  });
});

describe('secrets', () => {
  it('no private key, token or app secret in any answer or log line', async () => {
    const store = h.broker.context.store.flowKeys;
    const held = [
      ...((await store?.privateKeys(acme.phoneNumberId, h.sandbox.emulator.clock.now())) ?? []),
      ...((await store?.privateKeys(beta.phoneNumberId, h.sandbox.emulator.clock.now())) ?? []),
    ];
    expect(held.length).toBeGreaterThanOrEqual(3);
    // A private key's encoding holds the public modulus too: the public keys answers show on purpose are cut out first.
    const everything = [...answers, ...h.logs]
      .join('\n')
      .replace(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g, '');
    const parts = privateKeyParts(held.map((k) => k.privateKeyPem.reveal()));
    expectNoSecrets(everything, [...sandboxSecrets(h), ...parts]);
    expect(everything).not.toContain('PRIVATE KEY');
  });
});
