// SDK send throughput: wacloud vs raw undici Pool.request vs Node fetch vs whatsapp-api-js, side by side against
// the same local server (a minimal node:http one, and the wacloud emulator when built). Budget (design.md):
// wacloud >= 0.8x raw undici, >= 5x whatsapp-api-js.
import { Pool } from 'undici';
import { createUndiciTransport, WhatsApp } from '../dist/index.js';
import { compare, formatTable, startServerProcess } from './support/harness.js';

const token = `EAAB${'x'.repeat(40)}`; // a stand-in; the local server checks only that one is present
const phoneId = '106540352242922';
const body = (to) =>
  JSON.stringify({
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'text',
    text: { body: 'hello' },
  });

export async function benchSdkSend(targetUrl, { concurrency = 64, rounds = 5, durationMs = 1500 } = {}) {
  const origin = new URL(targetUrl).origin;
  const path = `/v26.0/${phoneId}/messages`;

  const pool = new Pool(origin, { connections: 256 });
  const rawUndici = async () => {
    const res = await pool.request({
      path,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body('16505551234'),
    });
    const json = await res.body.json();
    if (!json.messages) throw new Error('unexpected response');
  };

  const fetchSend = async () => {
    const res = await fetch(origin + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body('16505551234'),
    });
    const json = await res.json();
    if (!json.messages) throw new Error('unexpected response');
  };

  const wa = new WhatsApp({
    accessToken: token,
    phoneNumberId: phoneId,
    graphUrl: origin,
    transport: createUndiciTransport({ connectionsPerOrigin: 256 }),
    configSource: { env: {}, envFile: false },
  });
  const wacloud = async () => {
    const res = await wa.messages.text({ to: '+16505551234', body: 'hello' });
    if (!res.messages) throw new Error('unexpected response');
  };

  const contenders = [
    { name: 'raw undici Pool.request', run: rawUndici },
    { name: 'wacloud', run: wacloud },
    { name: 'node fetch', run: fetchSend },
  ];
  try {
    const { WhatsAppAPI } = await import('whatsapp-api-js');
    const { Text } = await import('whatsapp-api-js/messages');
    // whatsapp-api-js hard-codes graph.facebook.com: its fetch is swapped for one that rewrites the origin.
    const peer = new WhatsAppAPI({
      token,
      v: 'v26.0',
      secure: false,
      ponyfill: {
        fetch: (url, init) => fetch(String(url).replace('https://graph.facebook.com', origin), init),
      },
    });
    const peerSend = async () => {
      const res = await peer.sendMessage(phoneId, '16505551234', new Text('hello'));
      if (!res.messages) throw new Error('unexpected response');
    };
    contenders.push({ name: 'whatsapp-api-js', run: peerSend });
  } catch (err) {
    console.error(`whatsapp-api-js not measured: ${err.message}`);
  }
  const results = await compare(contenders, { concurrency, rounds, durationMs });
  await pool.close();
  await wa.close();
  return results;
}

export function checkBudgets(results) {
  const get = (n) => results.find((r) => r.name === n)?.rps;
  const lines = [];
  const raw = get('raw undici Pool.request');
  const ours = get('wacloud');
  const peer = get('whatsapp-api-js');
  if (raw && ours)
    lines.push(
      `wacloud / raw undici = ${(ours / raw).toFixed(2)}x (budget >= 0.80x): ${ours / raw >= 0.8 ? 'met' : 'MISSED'}`,
    );
  if (peer && ours)
    lines.push(
      `wacloud / whatsapp-api-js = ${(ours / peer).toFixed(2)}x (budget >= 5x): ${ours / peer >= 5 ? 'met' : 'MISSED'}`,
    );
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startServerProcess(new URL('./support/minimal-graph-server.js', import.meta.url));
  try {
    const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
    const results = await benchSdkSend(server.url, { concurrency });
    console.log(
      formatTable(
        `SDK send, minimal node:http server, ${concurrency} concurrent`,
        results,
        'raw undici Pool.request',
      ),
    );
    console.log(checkBudgets(results).join('\n'));
  } finally {
    await server.stop();
  }
}
