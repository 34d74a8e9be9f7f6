import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphError } from '../../src/core/graph-error.js';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { createNodeFlowHandler } from '../../src/flows/adapters.js';
import { generateFlowKeyPair } from '../../src/flows/crypto.js';
import type { FlowHandlers } from '../../src/flows/endpoint.js';
import { completeFlow } from '../../src/flows/types.js';
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import { parseWebhook } from '../../src/webhooks/parse-webhook.js';
import { WhatsApp } from '../../src/whatsapp/whatsapp.js';
import { call, startReceiver } from './emulator-support.js';

const booking = readFileSync(new URL('../../docs/examples/booking.flow.json', import.meta.url), 'utf8');
const SLOTS = [
  { id: 'mon-10', title: 'Monday 10:00' },
  { id: 'tue-14', title: 'Tuesday 14:00' },
];

let emu: Emulator;
let wa: WhatsApp;
let endpoint: Server;
let endpointUrl: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const keys = generateFlowKeyPair();
const requests: string[] = [];
let badAnswer = false;

const handler: FlowHandlers = {
  init: (r) => {
    requests.push(`INIT ${r.flow_token}`);
    return { screen: 'PICK_SLOT', data: { slots: badAnswer ? 'not-an-array' : SLOTS } };
  },
  dataExchange: (r) => {
    requests.push(`data_exchange ${r.screen} ${JSON.stringify(r.data)}`);
    if (r.screen === 'PICK_SLOT') {
      const slot = SLOTS.find((s) => s.id === r.data.slot);
      return { screen: 'CONFIRM', data: { summary: slot?.title ?? '?', slot: String(r.data.slot) } };
    }
    return completeFlow(r.flow_token, { booked: r.data.slot });
  },
  errorNotification: (r) => void requests.push(`error ${r.data.error}`),
};

beforeAll(async () => {
  receiver = await startReceiver('verify-me');
  emu = createEmulator({ seed: { recipients: ['16505551234'] } });
  await call(emu, 'POST', `/_emulator/apps/${emu.seed!.appId}/webhook`, {
    body: { callback_url: receiver.url, verify_token: 'verify-me' },
  });
  endpoint = createServer(
    createNodeFlowHandler({ privateKey: keys.privateKeyPem, appSecret: emu.seed!.appSecret, handler }),
  );
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
  endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/flow`;
  wa = new WhatsApp({
    transport: createFetchTransport(emu.fetch),
    retry: { maxAttempts: 1 },
    configSource: {
      env: {
        CLOUD_API_ACCESS_TOKEN: emu.seed!.accessToken,
        WA_PHONE_NUMBER_ID: emu.seed!.phoneNumberId,
        WA_BUSINESS_ACCOUNT_ID: emu.seed!.wabaId,
        WA_GRAPH_URL: 'https://graph.facebook.com',
      },
      envFile: false,
    },
  });
});

afterAll(async () => {
  await wa.close();
  await emu.close();
  await receiver.close();
  await new Promise((r) => endpoint.close(r));
});

async function rejection(p: Promise<unknown>): Promise<GraphError> {
  try {
    await p;
  } catch (error) {
    return error as GraphError;
  }
  throw new Error('expected a Graph error');
}

describe('emulated Flows: management API, key, and the emulator as the WhatsApp client', () => {
  let flowId: string;

  it('holds the business public key and refuses a key that is not 2048-bit RSA', async () => {
    expect(await wa.flows.getBusinessPublicKey()).toBeUndefined();
    expect((await wa.flows.setBusinessPublicKey(keys.publicKeyPem)).success).toBe(true);
    expect(await wa.flows.getBusinessPublicKey()).toEqual({
      business_public_key: keys.publicKeyPem.trim(),
      business_public_key_signature_status: 'VALID',
    });
    const small = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = small.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect((await rejection(wa.flows.setBusinessPublicKey(pem))).graphCode).toBe(100);
  });

  it("creates a flow, reports Meta's validation_errors with line and column, and refuses to publish until fixed", async () => {
    const created = await wa.flows.create({
      name: 'booking',
      categories: ['APPOINTMENT_BOOKING'],
      endpoint_uri: endpointUrl,
    });
    flowId = created.id;
    expect((await rejection(wa.flows.create({ name: 'booking', categories: ['OTHER'] }))).graphCode).toBe(
      100,
    );
    const broken = booking.replace('"terminal": true', '"terminal": false');
    const upload = await wa.flows.uploadJson(flowId, broken);
    expect(upload.validation_errors.map((e) => e.error)).toEqual(['MISSING_TERMINAL_SCREEN']);
    expect(upload.validation_errors[0]?.line_start).toBeGreaterThan(1);
    expect((await rejection(wa.flows.publish(flowId))).graphCode).toBe(139001);
    expect((await wa.flows.uploadJson(flowId, booking)).validation_errors).toEqual([]);
    const got = await wa.flows.get(flowId, [
      'name',
      'status',
      'json_version',
      'data_api_version',
      'endpoint_uri',
    ]);
    expect(got).toEqual({
      id: flowId,
      name: 'booking',
      status: 'DRAFT',
      json_version: '7.0',
      data_api_version: '3.0',
      endpoint_uri: endpointUrl,
    });
  });

  it('publishes after a passing health check (ping), then the JSON is frozen and delete is refused', async () => {
    await wa.flows.publish(flowId);
    expect(requests).toEqual([]); // ping is answered by the endpoint itself, not the handler
    expect((await wa.flows.get(flowId, 'status')).status).toBe('PUBLISHED');
    expect((await rejection(wa.flows.uploadJson(flowId, booking))).graphCode).toBe(139001);
    expect((await rejection(wa.flows.delete(flowId))).graphCode).toBe(139001);
    expect((await wa.flows.list()).data.map((f) => f.id)).toContain(flowId);
    expect((await wa.flows.healthStatus(flowId)).can_send_message).toBe('AVAILABLE');
    const preview = await wa.flows.preview(flowId);
    const page = await emu.fetch(preview.preview_url);
    expect(((await page.json()) as { screens: Array<{ id: string }> }).screens.map((s) => s.id)).toEqual([
      'PICK_SLOT',
      'CONFIRM',
    ]);
    const fresh = await wa.flows.preview(flowId, { invalidate: true });
    expect(fresh.preview_url).not.toBe(preview.preview_url);
    expect((await emu.fetch(preview.preview_url)).status).toBe(404);
  });

  it('runs the flow as the WhatsApp client: INIT, data_exchange, completion, nfm_reply webhook', async () => {
    const open = await call(emu, 'POST', '/_emulator/flows/open', {
      body: { flow_id: flowId, flow_token: 'tok-42' },
    });
    expect(open.status, JSON.stringify(open.json)).toBe(201);
    expect(open.json).toMatchObject({ screen: 'PICK_SLOT', data: { slots: SLOTS } });
    const sid = (open.json as { session_id: string }).session_id;
    const step = await call(emu, 'POST', `/_emulator/flows/sessions/${sid}/submit`, {
      body: { form: { slot: 'tue-14' } },
    });
    expect(step.json).toMatchObject({
      screen: 'CONFIRM',
      data: { summary: 'Tuesday 14:00', slot: 'tue-14' },
    });
    const done = await call(emu, 'POST', `/_emulator/flows/sessions/${sid}/submit`, { body: {} });
    expect(done.json).toMatchObject({ done: true, completed: { webhook_targets: 1 } });
    expect(requests).toEqual([
      'INIT tok-42',
      'data_exchange PICK_SLOT {"slot":"tue-14"}',
      'data_exchange CONFIRM {"slot":"tue-14","confirmed":true}',
    ]);
    await emu.flushWebhooks();
    const events = receiver.posts().flatMap((r) => parseWebhook(JSON.parse(r.raw.toString('utf8'))));
    const reply = events.find((e) => e.type === 'message' && e.message.type === 'interactive');
    expect(reply).toMatchObject({
      message: { interactive: { kind: 'nfm_reply', response: { booked: 'tue-14', flow_token: 'tok-42' } } },
    });
    const metric = await wa.flows.metrics(flowId, { name: 'ENDPOINT_REQUEST_COUNT', granularity: 'DAY' });
    expect(metric.data_points[0]?.data[0]?.value).toBe(4); // ping + INIT + 2 data_exchange
  });

  it('refuses an answer whose data does not match the screen, and tells the endpoint', async () => {
    badAnswer = true;
    requests.length = 0;
    const open = await call(emu, 'POST', '/_emulator/flows/open', {
      body: { flow_id: flowId, flow_token: 'tok-43' },
    });
    badAnswer = false;
    expect(open.status).toBe(422);
    expect(JSON.stringify(open.json)).toContain('PICK_SLOT.data.slots must be array');
    expect(requests).toEqual(['INIT tok-43', 'error invalid_response']);
  });

  it('a rotated key on the phone number makes the old endpoint answer 421, and the state survives a restart', async () => {
    const other = generateFlowKeyPair();
    await wa.flows.setBusinessPublicKey(other.publicKeyPem);
    const open = await call(emu, 'POST', '/_emulator/flows/open', { body: { flow_id: flowId } });
    expect(open.status).toBe(502);
    expect(JSON.stringify(open.json)).toContain('421');
    await wa.flows.setBusinessPublicKey(keys.publicKeyPem);
    const saved = emu.state.toJSON();
    const again = (await import('../../src/emulator/state.js')).EmulatorState.fromJSON(
      JSON.parse(JSON.stringify(saved)),
    );
    expect(again.flows.get(flowId)?.status).toBe('PUBLISHED');
    expect(again.flowKeys.get(emu.seed!.phoneNumberId)?.publicKeyPem).toBe(keys.publicKeyPem.trim());
    await wa.flows.deprecate(flowId);
    const closed = await call(emu, 'POST', '/_emulator/flows/open', { body: { flow_id: flowId } });
    expect(closed.status).toBe(409);
  });
});
