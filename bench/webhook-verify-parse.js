// Webhook throughput, printed side by side with a bare HMAC check on the same bodies (design.md: webhook ingest
// >= 0.5x a bare node:http server that only checks the HMAC).
//   1. in process, CPU only: bare HMAC (+ JSON.parse) vs verifySignature vs verify + parse into typed events vs the
//      whole handler core (handshake/method/size/content-type/signature/JSON/events/dedupe);
//   2. over HTTP (64 concurrent keep-alive clients): a bare node:http server that only checks the HMAC vs
//      createNodeWebhookHandler with a router and de-duplication.
// Run: npm run build && node bench/webhook-verify-parse.js
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { parse as parseYaml } from 'yaml';
import {
  createWebhookHandler,
  parseJsonBody,
  parseWebhook,
  signPayload,
  verifySignature,
} from '../dist/webhooks/index.js';
import { compare, formatTable, median, startServerProcess } from './support/harness.js';

const SECRET = 'bench-app-secret-0123456789abcdef';

/** The spec's webhook examples, plus a 50-message batch and a 50-status batch: the bodies every contender gets. */
function bodies() {
  const spec = parseYaml(
    readFileSync(new URL('../test/meta/spec/business-messaging-api_v23.0.yaml', import.meta.url), 'utf8'),
  );
  const examples = Object.values(
    spec.paths['/whatsapp/webhooks'].post.requestBody.content['application/json'].examples,
  ).map((e) => e.value);
  const metadata = { display_phone_number: '15550783881', phone_number_id: '106540352242922' };
  const batch = (kind) => ({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata,
              ...(kind === 'messages'
                ? {
                    contacts: [{ profile: { name: 'Zoë' }, wa_id: '16505551234' }],
                    messages: Array.from({ length: 50 }, (_, i) => ({
                      from: '16505551234',
                      id: `wamid.BATCH${i}`,
                      timestamp: '1750000000',
                      type: 'text',
                      text: { body: `Message number ${i} with a little text in it, caf\u00e9` },
                    })),
                  }
                : {
                    statuses: Array.from({ length: 50 }, (_, i) => ({
                      id: `wamid.OUT${i}`,
                      status: 'delivered',
                      timestamp: '1750000001',
                      recipient_id: '16505551234',
                      pricing: { billable: true, pricing_model: 'PMP', category: 'utility' },
                    })),
                  }),
            },
          },
        ],
      },
    ],
  });
  // Meta's wire form: non-ASCII escaped as \uXXXX.
  const wire = (v) =>
    JSON.stringify(v).replace(/[^\0-~]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return [...examples, batch('messages'), batch('statuses')].map((v) => {
    const raw = Buffer.from(wire(v));
    return { raw, header: signPayload(raw, SECRET) };
  });
}

/** Operations per second of a synchronous function over all bodies, median of interleaved rounds. */
function cpuCompare(contenders, items, { rounds = 7, durationMs = 400 } = {}) {
  const samples = new Map(contenders.map((c) => [c.name, []]));
  const run = (c, ms) => {
    let n = 0;
    const end = performance.now() + ms;
    const start = performance.now();
    while (performance.now() < end) {
      for (const item of items) c.run(item);
      n += items.length;
    }
    return n / ((performance.now() - start) / 1000);
  };
  for (const c of contenders) run(c, 150);
  for (let r = 0; r < rounds; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
    for (const c of order) samples.get(c.name).push(run(c, durationMs));
  }
  return contenders.map((c) => ({ name: c.name, rps: median(samples.get(c.name)) }));
}

async function asyncOps(fn, items, durationMs) {
  let n = 0;
  const start = performance.now();
  const end = start + durationMs;
  while (performance.now() < end) {
    for (const item of items) await fn(item);
    n += items.length;
  }
  return n / ((performance.now() - start) / 1000);
}

export async function benchWebhook({ httpRounds = 5, httpDurationMs = 1500 } = {}) {
  const items = bodies();
  const bareHmac = ({ raw, header }) => {
    const given = Buffer.from(header.slice(7), 'hex');
    const expected = createHmac('sha256', SECRET).update(raw).digest();
    if (!(given.length === expected.length && timingSafeEqual(given, expected))) throw new Error('bad');
  };
  const cpu = cpuCompare(
    [
      { name: 'bare HMAC check', run: bareHmac },
      {
        name: 'bare HMAC + JSON.parse',
        run: (item) => {
          bareHmac(item);
          JSON.parse(item.raw.toString());
        },
      },
      {
        name: 'wacloud verifySignature',
        run: ({ raw, header }) => {
          if (!verifySignature(raw, header, SECRET).valid) throw new Error('bad');
        },
      },
      {
        name: 'wacloud verify + parse (typed events)',
        run: ({ raw, header }) => {
          if (!verifySignature(raw, header, SECRET).valid) throw new Error('bad');
          if (parseWebhook(parseJsonBody(raw)).length === 0) throw new Error('no events');
        },
      },
    ],
    items,
  );

  // The whole core, async: answer, then the (empty) handler stage it schedules after the answer.
  const core = createWebhookHandler({
    appSecret: SECRET,
    dedupe: false,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const handle = async ({ raw, header }) => {
    const res = await core.handle({
      method: 'POST',
      url: '/webhook',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': header },
      body: raw,
    });
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    await res.done;
  };
  const coreRates = [];
  for (let r = 0; r < 5; r++) coreRates.push(await asyncOps(handle, items, 400));
  cpu.push({ name: 'wacloud handler core (checks + verify + parse + answer)', rps: median(coreRates) });

  const servers = {
    bare: await startServerProcess(new URL('./webhook-server.js', import.meta.url), ['bare', SECRET]),
    bareJson: await startServerProcess(new URL('./webhook-server.js', import.meta.url), [
      'bare-json',
      SECRET,
    ]),
    wacloud: await startServerProcess(new URL('./webhook-server.js', import.meta.url), ['wacloud', SECRET]),
  };
  const pools = Object.fromEntries(
    Object.entries(servers).map(([k, s]) => [k, new Pool(s.url, { connections: 64 })]),
  );
  let i = 0;
  const post = (pool) => async () => {
    const item = items[i++ % items.length];
    const res = await pool.request({
      path: '/webhook',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': item.header },
      body: item.raw,
    });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  let http;
  try {
    http = await compare(
      [
        { name: 'bare node:http + HMAC check', run: post(pools.bare) },
        { name: 'bare node:http + HMAC check + JSON.parse', run: post(pools.bareJson) },
        { name: 'wacloud createNodeWebhookHandler', run: post(pools.wacloud) },
      ],
      { rounds: httpRounds, durationMs: httpDurationMs, concurrency: 64 },
    );
  } finally {
    await Promise.all(Object.values(pools).map((p) => p.close()));
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }

  const sizes = items.map((x) => x.raw.length);
  const lines = [
    `Bodies: ${items.length} signed deliveries (Meta's spec examples + 50-message and 50-status batches), ${Math.min(...sizes)}–${Math.max(...sizes)} bytes.`,
    '',
    formatTable('Webhook verify + parse, in process (deliveries/s)', cpu, 'bare HMAC check'),
    '',
    formatTable(
      'Webhook endpoint over HTTP, 64 concurrent keep-alive clients (req/s)',
      http,
      'bare node:http + HMAC check',
    ),
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchWebhook());
}
