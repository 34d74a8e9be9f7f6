// Broker memory under parallel large uploads: six 100 MB media uploads at once through the broker's Graph proxy
// (a real broker process, as bench/broker-proxy.js starts it), to an upstream that reads more slowly than the client
// sends (bench/support/media-sink.js). Measured: the broker's resident memory (RSS, from /proc) before, at its peak
// during the uploads, and after. Budget (issue "Works against real Meta"): proxied bodies are streamed, so the
// growth is a small constant, not a multiple of the bytes in flight: <= 64 MB for 6 × 100 MB.
//   npm run build && node bench/broker-memory.js [--quick]      (also part of `npm run bench`)
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { startServerProcess } from './support/harness.js';
import { budgetRow, ratio, renderConsole } from './support/report.js';

export const title = 'Broker memory: parallel large uploads through the Graph proxy';
export const GROWTH_BUDGET = '<= 64 MB';

const MB = 1e6;

/** A /proc/{pid}/status field in bytes (VmRSS, VmHWM), or undefined where there is no /proc. */
export function procMemory(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the peak (VmHWM) of a process to its current RSS; false where the kernel does not allow it. */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * A multipart/form-data media upload of `bytes` file bytes, generated as it is sent (the client holds one 1 MB
 * chunk, not the file): the fields Meta requires (messaging_product, type) and the file part.
 */
export function mediaUpload(bytes) {
  const boundary = `----wacloudbench${Date.now().toString(16)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\napplication/pdf\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.pdf"\r\n` +
      'Content-Type: application/pdf\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(Math.min(bytes, MB), 'wacloud-bench ');
  async function* body() {
    yield head;
    for (let left = bytes; left > 0; left -= chunk.length)
      yield left >= chunk.length ? chunk : chunk.subarray(0, left);
    yield tail;
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: head.length + bytes + tail.length,
    body: () => Readable.from(body(), { objectMode: false }),
  };
}

/** Sends one upload through the proxy; resolves the media id, throws on anything but a 200 with an id. */
async function upload(pool, { apiKey, phoneNumberId }, bytes) {
  const m = mediaUpload(bytes);
  const res = await pool.request({
    path: `/graph/v26.0/${phoneNumberId}/media`,
    method: 'POST',
    headers: {
      authorization: `Bearer ${apiKey}`,
      'content-type': m.contentType,
      'content-length': String(m.length),
    },
    body: m.body(),
    headersTimeout: 600_000,
    bodyTimeout: 600_000,
  });
  const text = await res.body.text();
  const json = JSON.parse(text);
  if (res.statusCode !== 200 || typeof json.id !== 'string')
    throw new Error(`upload of ${bytes} bytes: ${res.statusCode} ${text.slice(0, 300)}`);
  return json.id;
}

export async function run({
  quick = false,
  uploads = 6,
  megabytes = quick ? 16 : 100,
  sinkMbPerSecond = 50,
} = {}) {
  const bytes = megabytes * MB;
  const sink = await startServerProcess(new URL('./support/media-sink.js', import.meta.url), [
    String(sinkMbPerSecond),
  ]);
  let broker;
  let pool;
  try {
    const seed = { phoneNumberId: '106540352242922', wabaId: '102290129340398' };
    broker = await startServerProcess(new URL('./support/broker-server.js', import.meta.url), [
      JSON.stringify({
        upstreamUrl: sink.url,
        appId: '1234567890',
        appSecret: 'bench-app-secret-0123456789abcdef',
        token: `EAAB${'x'.repeat(60)}`,
        ...seed,
      }),
    ]);
    const target = { apiKey: broker.info.apiKey, phoneNumberId: seed.phoneNumberId };
    pool = new Pool(broker.url, { connections: uploads });
    // Warm-up: one small upload first (a wrong setup fails here, and lazy allocations are not counted as growth).
    await upload(pool, target, MB);
    await new Promise((r) => setTimeout(r, 500));
    const before = procMemory(broker.pid, 'VmRSS');
    if (before === undefined) throw new Error('no /proc here: the broker memory benchmark needs Linux');
    const peakReset = resetPeak(broker.pid);
    let sampled = before;
    const sampler = setInterval(() => {
      sampled = Math.max(sampled, procMemory(broker.pid, 'VmRSS') ?? 0);
    }, 5);
    const received0 = await (await fetch(`${sink.url}/__received`)).json();
    const started = performance.now();
    try {
      await Promise.all(Array.from({ length: uploads }, () => upload(pool, target, bytes)));
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    const received1 = await (await fetch(`${sink.url}/__received`)).json();
    const hwm = peakReset ? procMemory(broker.pid, 'VmHWM') : undefined;
    const peak = Math.max(sampled, hwm ?? 0);
    await new Promise((r) => setTimeout(r, 500));
    const after = procMemory(broker.pid, 'VmRSS');
    const growth = peak - before;
    const forwarded = received1.received - received0.received;
    const label = `${uploads} parallel ${megabytes} MB uploads`;
    const rows = [
      { name: `${label}: time`, value: seconds, unit: 's' },
      { name: `${label}: bytes the upstream received`, value: forwarded / MB, unit: 'MB' },
      { name: 'broker RSS before the uploads', value: before / MB, unit: 'MB' },
      { name: 'broker peak RSS during the uploads', value: peak / MB, unit: 'MB' },
      { name: 'broker RSS 0.5 s after the uploads', value: after / MB, unit: 'MB' },
      budgetRow(`broker RSS growth, ${label}`, growth / MB, 'MB', GROWTH_BUDGET),
      {
        name: 'broker RSS growth ÷ bytes uploaded in parallel',
        value: ratio(growth, uploads * bytes),
        unit: 'x',
        note: 'about 1x or more: the proxy holds whole bodies; near 0: it streams them',
      },
    ];
    return {
      rows,
      notes: [
        `${uploads} uploads of ${megabytes} MB each (multipart/form-data, generated as sent, Content-Length set) at once through the broker's Graph proxy (its own process, SQLite store, background workers on) to bench/support/media-sink.js, which reads each upload at most ${sinkMbPerSecond} MB/s (an upstream slower than the client) and checks every byte arrived.`,
        `RSS from /proc/{pid}/status: before = after a 1 MB warm-up upload and 0.5 s of rest; peak = the larger of VmRSS sampled every 5 ms and VmHWM${peakReset ? ' (reset just before the uploads through /proc/{pid}/clear_refs)' : ' (not used: the kernel refused the reset)'}.`,
        'A single run, not a ratio of contenders: memory does not depend on the machine’s other load the way throughput does.',
      ],
    };
  } finally {
    await pool?.close();
    await broker?.stop();
    await sink.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mbArg = process.argv.find((a) => a.startsWith('--mb='));
  const result = await run({
    quick: process.argv.includes('--quick'),
    ...(mbArg ? { megabytes: Number(mbArg.slice(5)) } : {}),
  });
  console.log(renderConsole({ title, ...result }));
}
