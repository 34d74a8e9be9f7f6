import { afterEach, expect, it } from 'vitest';
import { MemoryCredentialStore } from '../../src/auth/credential-store.js';
import { createTokenManager, type TokenManager } from '../../src/auth/token-manager.js';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index.js';
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import { waitFor } from '../support/poll.js';

/**
 * Found while writing the scale-out tests (issue #8): a sweep claims a batch with one lease, then works through it. When
 * the batch outlives the lease (Meta slow), another instance takes the rest over and renews it; the first instance
 * then reached those entries and renewed them again (a second refresh at Meta, version 3).
 */
let emu: StartedEmulator | undefined;
const managers: TokenManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.close();
  await emu?.close();
});

it('a batch entry another instance renewed after the lease lapsed is not renewed again', async () => {
  emu = await startEmulator({ port: 0 });
  const { url, emulator } = emu;
  const seed = emulator.seed as NonNullable<typeof emulator.seed>;
  const store = new MemoryCredentialStore();
  // Instance A's exchanges wait at a gate: A is stuck on the first entry of its batch.
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let blocked = 0;
  const slowFetch: typeof fetch = async (input, init) => {
    if (String(input).includes('fb_exchange_token')) {
      blocked++;
      await gate;
    }
    return fetch(input, init);
  };
  const manager = (id: string, transport?: ReturnType<typeof createFetchTransport>) => {
    const m = createTokenManager({
      store,
      appId: seed.appId,
      appSecret: seed.appSecret,
      graphUrl: url,
      transport,
      clock: emulator.clock,
      instanceId: id,
      policies: { leaseMs: 1_000, concurrency: 1 },
      configSource: { env: {}, envFile: false },
    });
    managers.push(m);
    return m;
  };
  const a = manager('A', createFetchTransport(slowFetch));
  const b = manager('B');
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    // Inside the 10-day renewal window: due now.
    const res = await fetch(`${url}/_emulator/tokens`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'system_user_60d', expires_in: 10 * 86_400 - 60 }),
    });
    const { access_token } = (await res.json()) as { access_token: string };
    ids.push((await b.addCredential({ tenantId: `t${i}`, token: access_token })).id);
  }
  const exchanges = () => emulator.counters()['GET /oauth/access_token grant_type=fb_exchange_token'] ?? 0;

  const sweepA = a.runDue(); // claims both, stuck on the first
  await waitFor('A stuck on its first renewal', () => blocked > 0, 10_000, 5);
  await emulator.clock.advance(1_500); // A's leases lapse
  expect(await b.runDue()).toBe(2); // B takes both over and renews them
  expect(exchanges()).toBe(2);
  open();
  await sweepA;

  for (const id of ids) expect((await store.get(id))?.version).toBe(2);
  // A's refresh of the first entry was already at Meta when B took over (B's write won, A's token is dropped);
  // the second entry A had not started: it must not have been refreshed again.
  expect(exchanges()).toBe(3);
});
