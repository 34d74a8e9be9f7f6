// The wacloud emulator as a benchmark target, in its own process so its CPU is not charged to the client.
// Limits are lifted (the benchmark measures capacity, not Meta's 80 mps); everything else is as in production.
// Sends { port, token, phoneNumberId, recipient } to the parent over IPC.
import { createEmulator } from '../dist/emulator/index.js';

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
