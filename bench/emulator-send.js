// Emulator send capacity: POST /{phone-number-id}/messages answered by the wacloud emulator (token check,
// schema validation, rate limits, message store, usage headers) versus a minimal node:http server that answers
// the same call without checking anything. Same client (raw undici Pool.request), side by side, interleaved.
// Budget (design.md): the emulator is never the bottleneck of the SDK benchmark.
//   npm run build && node bench/emulator-send.js
import { fork } from 'node:child_process';
import { Pool } from 'undici';
import { compare, formatTable, startServerProcess } from './support/harness.js';

async function startEmulatorProcess() {
  const child = fork(new URL('./emulator-server.js', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const info = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return {
    ...info,
    url: `http://127.0.0.1:${info.port}`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

function sender(url, phoneNumberId, token, to) {
  const pool = new Pool(url, { connections: 256 });
  const path = `/v26.0/${phoneNumberId}/messages`;
  const body = JSON.stringify({
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'text',
    text: { body: 'hello' },
  });
  const run = async () => {
    const res = await pool.request({
      path,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    const json = await res.body.json();
    if (res.statusCode !== 200 || !json.messages)
      throw new Error(`unexpected ${res.statusCode}: ${JSON.stringify(json)}`);
  };
  return { run, close: () => pool.close() };
}

export async function benchEmulatorSend({ concurrency = 64, rounds = 5, durationMs = 1500 } = {}) {
  const emulator = await startEmulatorProcess();
  const minimal = await startServerProcess(new URL('./support/minimal-graph-server.js', import.meta.url));
  const a = sender(emulator.url, emulator.phoneNumberId, emulator.token, emulator.recipient);
  const b = sender(minimal.url, '106540352242922', `EAAB${'x'.repeat(40)}`, '16505551234');
  try {
    return await compare(
      [
        { name: 'minimal node:http server', run: b.run },
        { name: 'wacloud emulator', run: a.run },
      ],
      { concurrency, rounds, durationMs },
    );
  } finally {
    await a.close();
    await b.close();
    await emulator.stop();
    await minimal.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
  const results = await benchEmulatorSend({ concurrency });
  console.log(
    formatTable(
      `Send endpoint capacity, raw undici client, ${concurrency} concurrent`,
      results,
      'minimal node:http server',
    ),
  );
  const emu = results.find((r) => r.name === 'wacloud emulator').rps;
  console.log(`wacloud emulator: ${Math.round(emu).toLocaleString('en-US')} sends/s`);
}
