// The wacloud emulator in its own process, as the Graph API the SDK and broker benchmarks talk to (so its CPU is not
// charged to the client or the broker). Limits are lifted: the benchmarks measure speed, not Meta's 80 mps.
// Sends its seed to the parent over IPC: { port, seed } (a sandbox: the seed's secrets are there on purpose).
import { createEmulator } from '../../dist/emulator/index.js';

const emulator = createEmulator({ throughput: { mps: 1e9, pairRate: false } });
const url = await emulator.listen({ port: 0, host: '127.0.0.1' });
process.send?.({ port: Number(new URL(url).port), seed: emulator.seed });
const stop = () => void emulator.close().then(() => process.exit(0));
process.on('disconnect', stop);
process.on('SIGTERM', stop);
