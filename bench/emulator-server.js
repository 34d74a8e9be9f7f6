// Benchmark targets, each in its own process so its CPU is not charged to the client (or to the other target).
// Sends { port, token, phoneNumberId, recipient } to the parent over IPC.
//  - default: the wacloud emulator. Limits are lifted (the benchmark measures capacity, not Meta's 80 mps);
//    everything else is as in production.
//  - BENCH_TARGET=meta-headers: a node:http server that checks nothing but answers the send like the emulator does,
//    with the same headers (usage, trace, version) and a wamid of the same length. It separates what the emulator's
//    checks cost from what Meta's extra response headers cost (server and client side).
import { createServer } from 'node:http';

if (process.env.BENCH_TARGET === 'meta-headers') {
  const wamid = `wamid.${Buffer.alloc(45, 'x').toString('base64')}`;
  const app = '{"call_count":1,"total_cputime":0,"total_time":0}';
  const buc =
    '{"618863772304824":[{"type":"whatsapp","call_count":1,"total_cputime":0,"total_time":0,"estimated_time_to_regain_access":0}]}';
  let n = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let to = '16505551234';
      try {
        to = JSON.parse(Buffer.concat(chunks).toString('utf8')).to ?? to;
      } catch {}
      const trace = `A${String(n++).padStart(10, '0')}`;
      const body = `{"messaging_product":"whatsapp","contacts":[{"input":${JSON.stringify(to)},"wa_id":"${String(to).replace(/\D/g, '')}"}],"messages":[{"id":"${wamid}"}]}`;
      res.writeHead(200, {
        'x-fb-trace-id': trace,
        'x-fb-request-id': trace,
        'facebook-api-version': 'v26.0',
        'cache-control': 'private, no-cache, no-store, must-revalidate',
        'x-app-usage': app,
        'x-business-use-case-usage': buc,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    process.send?.({
      port: server.address().port,
      token: `EAAB${'x'.repeat(40)}`,
      phoneNumberId: '106540352242922',
      recipient: '16505551234',
    });
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
} else {
  const { createEmulator } = await import('../dist/emulator/index.js');
  const emulator = createEmulator({ throughput: { mps: 1e9, pairRate: false } });
  const url = await emulator.listen({ port: 0, host: '127.0.0.1' });
  const seed = emulator.seed;
  process.send?.({
    port: Number(new URL(url).port),
    token: seed.accessToken,
    phoneNumberId: seed.phoneNumberId,
    recipient: seed.recipient,
  });
  process.on('disconnect', () => void emulator.close().then(() => process.exit(0)));
  process.on('SIGTERM', () => void emulator.close().then(() => process.exit(0)));
}
