import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { signPayload } from '../webhooks/verify-signature.js';
import {
  createExpressFlowMiddleware,
  createFetchFlowHandler,
  createNodeFlowHandler,
  fastifyFlowEndpoint,
} from './adapters.js';
import { decryptFlowResponse, encryptFlowRequest, generateFlowKeyPair } from './crypto.js';
import { createFlowEndpoint, type FlowHandlers } from './endpoint.js';
import { completeFlow } from './types.js';

const SECRET = 'flow-app-secret';
const keys = generateFlowKeyPair();
const stranger = generateFlowKeyPair();
const seen: string[] = [];
const handler: FlowHandlers = {
  init: (r) => {
    seen.push(`INIT:${r.flow_token}`);
    return { screen: 'FIRST', data: { greeting: 'hi' } };
  },
  dataExchange: async (r) => {
    seen.push(`data_exchange:${r.screen}`);
    if (r.data.slow) await new Promise((resolve) => setTimeout(resolve, 300));
    return completeFlow(r.flow_token, { picked: r.data.choice });
  },
  back: (r) => ({ screen: r.screen, data: { refreshed: true } }),
  errorNotification: (r) => void seen.push(`error:${r.data.error}`),
};
const endpoint = createFlowEndpoint({
  privateKey: keys.privateKeyPem,
  appSecret: SECRET,
  handler,
  timeoutMs: 150,
  validateFlowToken: (token) => token !== 'expired',
});
const fetchHandler = createFetchFlowHandler(endpoint);

function sealed(plain: unknown, publicKey = keys.publicKeyPem) {
  const enc = encryptFlowRequest(plain, publicKey);
  return { ...enc, text: JSON.stringify(enc.body) };
}

async function call(plain: unknown, opts: { publicKey?: string; secret?: string } = {}) {
  const s = sealed(plain, opts.publicKey);
  const res = await fetchHandler(
    new Request('https://biz.example/flow', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': signPayload(s.text, opts.secret ?? SECRET),
      },
      body: s.text,
    }),
  );
  const text = await res.text();
  return {
    status: res.status,
    text,
    answer: res.status === 200 ? decryptFlowResponse(text, s.aesKey, s.initialVector) : undefined,
  };
}

describe('createFlowEndpoint', () => {
  it('answers ping itself and routes INIT, data_exchange, BACK and error notifications', async () => {
    expect((await call({ version: '3.0', action: 'ping' })).answer).toEqual({ data: { status: 'active' } });
    expect((await call({ version: '3.0', action: 'INIT', flow_token: 't1' })).answer).toEqual({
      screen: 'FIRST',
      data: { greeting: 'hi' },
    });
    const done = await call({
      version: '3.0',
      action: 'data_exchange',
      flow_token: 't1',
      screen: 'FIRST',
      data: { choice: 'b' },
    });
    expect(done.answer).toEqual({
      screen: 'SUCCESS',
      data: { extension_message_response: { params: { picked: 'b', flow_token: 't1' } } },
    });
    expect(
      (await call({ version: '3.0', action: 'BACK', flow_token: 't1', screen: 'FIRST' })).answer,
    ).toEqual({
      screen: 'FIRST',
      data: { refreshed: true },
    });
    const ack = await call({
      version: '3.0',
      action: 'data_exchange',
      flow_token: 't1',
      screen: 'FIRST',
      data: { error: 'invalid-screen', error_message: 'x' },
    });
    expect(ack.answer).toEqual({ data: { acknowledged: true } });
    expect(seen).toEqual(['INIT:t1', 'data_exchange:FIRST', 'error:invalid-screen']);
  });

  it('432 on a bad signature, 421 on another key, 427 on a refused flow token, 400 on a bad action', async () => {
    const bad = await call({ version: '3.0', action: 'ping' }, { secret: 'not-the-secret' });
    expect(bad.status).toBe(432);
    expect(
      (await call({ version: '3.0', action: 'ping' }, { publicKey: stranger.publicKeyPem })).status,
    ).toBe(421);
    expect((await call({ version: '3.0', action: 'INIT', flow_token: 'expired' })).status).toBe(427);
    expect((await call({ version: '3.0', action: 'launch', flow_token: 'x' })).status).toBe(400);
  });

  it('answers 503 before Meta gives up when the handler is too slow', async () => {
    const r = await call({
      version: '3.0',
      action: 'data_exchange',
      flow_token: 't',
      screen: 'A',
      data: { slow: true },
    });
    expect(r.status).toBe(503);
  });

  it('refuses a config without an app secret or keys', () => {
    expect(() => createFlowEndpoint({ privateKey: keys.privateKeyPem, appSecret: '', handler })).toThrow(
      /app secret/,
    );
    expect(() => createFlowEndpoint({ privateKey: 'not a pem', appSecret: SECRET, handler })).toThrow(
      /could not be read/,
    );
    expect(() =>
      createFlowEndpoint({ privateKey: keys.privateKeyPem, appSecret: SECRET, handler, timeoutMs: 10_000 }),
    ).toThrow(/10000/);
  });
});

describe('Flow endpoint adapters', () => {
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  async function post(base: string, plain: unknown) {
    const s = sealed(plain);
    const res = await fetch(`${base}/flow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(s.text, SECRET) },
      body: s.text,
    });
    const text = await res.text();
    return res.status === 200 ? decryptFlowResponse(text, s.aesKey, s.initialVector) : res.status;
  }

  it('node:http and Express (raw bytes) and Fastify answer the same', async () => {
    const options = { privateKey: keys.privateKeyPem, appSecret: SECRET, handler, path: '/flow' };
    const node = createServer(createNodeFlowHandler(options));
    await new Promise<void>((r) => node.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => node.close(() => r())));
    const app = express();
    app.post('/flow', createExpressFlowMiddleware(options));
    const ex = app.listen(0, '127.0.0.1');
    await new Promise((r) => ex.once('listening', r));
    closers.push(() => new Promise((r) => ex.close(() => r())));
    const fy = Fastify();
    await fy.register(fastifyFlowEndpoint as never, {
      privateKey: keys.privateKeyPem,
      appSecret: SECRET,
      handler,
      path: '/flow',
    });
    await fy.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => fy.close());
    for (const server of [node, ex, fy.server]) {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(await post(base, { version: '3.0', action: 'ping' })).toEqual({ data: { status: 'active' } });
      expect(await post(base, { version: '3.0', action: 'INIT', flow_token: 'z' })).toMatchObject({
        screen: 'FIRST',
      });
    }
  });
});
