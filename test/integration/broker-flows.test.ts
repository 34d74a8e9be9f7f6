import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFlowKeyPair } from '../../src/flows/crypto.js';
import { FlowKeyCustody } from '../../src/flows/key-custody.js';
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import { WhatsApp } from '../../src/whatsapp/whatsapp.js';
import {
  api,
  control,
  type InProcessBroker,
  sandboxSecrets,
  setUpTenant,
  startInProcessBroker,
  type TenantWorld,
} from '../support/broker.js';
import { until } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';

/**
 * The "done when": a two-screen flow run offline. The flow is published in the emulator with the broker as
 * its endpoint; the emulator, playing the WhatsApp client, calls the broker's Flow endpoint; the broker decrypts with
 * the tenant's vault key and asks the tenant's flow service, which answers plain JSON; the completion's nfm_reply
 * webhook reaches the tenant's subscriber.
 */

const booking = readFileSync(new URL('../../docs/examples/booking.flow.json', import.meta.url), 'utf8');
const SLOTS = [
  { id: 'mon-10', title: 'Monday 10:00' },
  { id: 'tue-14', title: 'Tuesday 14:00' },
];

let h: InProcessBroker;
let tenant: TenantWorld;
let service: Server;
let serviceBase: string;
let flowSecret = '';
const flowCalls: Array<{ body: Record<string, unknown>; signed: boolean; phone: string | undefined }> = [];
const hooks: string[] = [];

/** Standard Webhooks verification, by hand: v1 = base64 HMAC-SHA256(key, "id.timestamp.body"). */
function signedByBroker(req: IncomingMessage, body: string): boolean {
  const key = Buffer.from(flowSecret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${req.headers['webhook-id']}.${req.headers['webhook-timestamp']}.${body}`)
    .digest();
  const given = Buffer.from(String(req.headers['webhook-signature'] ?? '').replace(/^v1,/, ''), 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The tenant's own service: plain JSON in, plain JSON out (no keys, no crypto). */
function flowService(body: Record<string, unknown>): Record<string, unknown> {
  const data = (body.data ?? {}) as Record<string, unknown>;
  if (body.action === 'INIT') return { screen: 'PICK_SLOT', data: { slots: SLOTS } };
  if (body.screen === 'PICK_SLOT') {
    const slot = SLOTS.find((s) => s.id === data.slot);
    return { screen: 'CONFIRM', data: { summary: slot?.title ?? '?', slot: String(data.slot) } };
  }
  return {
    screen: 'SUCCESS',
    data: { extension_message_response: { params: { flow_token: body.flow_token, booked: data.slot } } },
  };
}

beforeAll(async () => {
  service = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/flow-service') {
        const parsed = JSON.parse(body) as Record<string, unknown>;
        flowCalls.push({
          body: parsed,
          signed: signedByBroker(req, body),
          phone: req.headers['wacloud-phone-number-id'] as string,
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(flowService(parsed)));
        return;
      }
      hooks.push(body);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
  serviceBase = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
  h = await startInProcessBroker();
  tenant = await setUpTenant(h, 'Acme', serviceBase, false);
  const sub = await api(h.base, tenant.key)<{ secret: string }>(`/tenants/${tenant.tenantId}/subscriptions`, {
    url: `${serviceBase}/flow-service`,
    events: ['flows'],
  });
  flowSecret = sub.secret;
}, 60_000);

afterAll(async () => {
  await h?.close();
  await new Promise((r) => service?.close(r));
});

describe('a two-screen flow, offline, end to end through the broker', () => {
  it('publishes with the broker as endpoint, runs INIT and two data_exchanges, and delivers the nfm_reply', async () => {
    const emu = h.sandbox.emulator;
    const seed = emu.seed!;
    const wa = new WhatsApp({
      transport: createFetchTransport(emu.fetch),
      retry: { maxAttempts: 1 },
      configSource: {
        env: {
          CLOUD_API_ACCESS_TOKEN: seed.accessToken,
          WA_PHONE_NUMBER_ID: tenant.phoneNumberId,
          WA_BUSINESS_ACCOUNT_ID: tenant.wabaId,
          WA_GRAPH_URL: 'https://graph.facebook.com',
        },
        envFile: false,
      },
    });
    // The operator's key ceremony (what `wacloud flows keygen` + `upload-key` do): the private key stays in the vault.
    const flowKeys = h.broker.context.store.flowKeys;
    if (!flowKeys) throw new Error('the broker store has no flow keys');
    const custody = new FlowKeyCustody({ store: flowKeys });
    await custody.generate(tenant.tenantId, tenant.phoneNumberId);
    await custody.upload(tenant.phoneNumberId, wa.flows);

    const endpoint = `${h.base}/flows/${tenant.phoneNumberId}`;
    const { id: flowId } = await wa.flows.create({
      name: 'booking',
      categories: ['APPOINTMENT_BOOKING'],
      endpoint_uri: endpoint,
    });
    expect((await wa.flows.uploadJson(flowId, booking)).validation_errors).toEqual([]);
    await wa.flows.publish(flowId); // the emulator's health check: answered by the broker itself
    expect(flowCalls).toEqual([]);

    const open = await control(h, 'flows/open', {
      flow_id: flowId,
      phone_number_id: tenant.phoneNumberId,
      flow_token: 'acme-7',
    });
    expect(open).toMatchObject({ screen: 'PICK_SLOT', data: { slots: SLOTS } });
    const sid = open.session_id as string;
    expect(await control(h, `flows/sessions/${sid}/submit`, { form: { slot: 'mon-10' } })).toMatchObject({
      screen: 'CONFIRM',
      data: { summary: 'Monday 10:00' },
    });
    const done = await control(h, `flows/sessions/${sid}/submit`, {});
    expect(done).toMatchObject({ done: true });
    expect(flowCalls.map((c) => [c.body.action, c.body.screen ?? null, c.signed, c.phone])).toEqual([
      ['INIT', null, true, tenant.phoneNumberId],
      ['data_exchange', 'PICK_SLOT', true, tenant.phoneNumberId],
      ['data_exchange', 'CONFIRM', true, tenant.phoneNumberId],
    ]);

    // The completion message goes Meta → broker webhook → inbox → the tenant's subscriber.
    await emu.flushWebhooks();
    const reply = await until(
      'the nfm_reply delivery',
      async () => hooks.find((b) => b.includes('nfm_reply')),
      20_000,
    );
    expect(reply).toContain('acme-7');
    expect(reply).toContain('mon-10');
    await wa.close();

    // The dashboard's Flows page: the endpoint URI, the key (fingerprint and state, never the private key), the service.
    const login = await fetch(`${h.base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: h.adminKey }).toString(),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const page = await fetch(`${h.base}/tenants/${tenant.tenantId}/flows`, { headers: { cookie } });
    const text = await page.text();
    expect(page.status).toBe(200);
    const [key] = await flowKeys.listByTenant(tenant.tenantId);
    expect(text).toContain(endpoint);
    expect(text).toContain(key?.fingerprint as string);
    expect(text).toContain('>active<');
    expect(text).toContain('>set<');
    expect(text).not.toContain('PRIVATE KEY');
    // …and the WABA's flows as Meta lists them, read with the tenant's token.
    expect(text).toContain(`data-flow="${flowId}"`);
    expect(text).toContain('PUBLISHED');
  });

  it('refuses what Meta would refuse: bad signature (432), another key (421), unknown target (404)', async () => {
    const emu = h.sandbox.emulator;
    const url = `${h.base}/flows/${tenant.phoneNumberId}`;
    const bad = await fetch(url, {
      method: 'POST',
      headers: { 'x-hub-signature-256': 'sha256=00' },
      body: '{}',
    });
    expect(bad.status).toBe(432);
    const { encryptFlowRequest } = await import('../../src/flows/crypto.js');
    const { signPayload } = await import('../../src/webhooks/verify-signature.js');
    const stranger = generateFlowKeyPair();
    const body = JSON.stringify(
      encryptFlowRequest({ version: '3.0', action: 'ping' }, stranger.publicKeyPem).body,
    );
    const sig = signPayload(body, emu.seed!.appSecret);
    expect((await fetch(url, { method: 'POST', headers: { 'x-hub-signature-256': sig }, body })).status).toBe(
      421,
    );
    expect(
      (
        await fetch(`${h.base}/flows/nobody`, {
          method: 'POST',
          headers: { 'x-hub-signature-256': sig },
          body,
        })
      ).status,
    ).toBe(404);
    // Nothing the broker logged holds a secret: no token, no app secret, no line of a private key.
    const held = (await h.broker.context.store.flowKeys?.privateKeys(tenant.phoneNumberId, Date.now())) ?? [];
    expect(held.length).toBeGreaterThan(0);
    const keyLines = held.flatMap((k) =>
      k.privateKeyPem
        .reveal()
        .split('\n')
        .filter((l) => l.length > 40),
    );
    expectNoSecrets(h.logs.join('\n'), [...sandboxSecrets(h), ...keyLines]);
    expect(h.logs.join('\n')).not.toContain('PRIVATE KEY');
  });
});
