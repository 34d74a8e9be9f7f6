import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { createNodeFlowHandler } from '../../src/flows/adapters.js';
import { FlowKeyCustody } from '../../src/flows/key-custody.js';
import { WhatsApp } from '../../src/whatsapp/whatsapp.js';
import { runCliInProcess as run } from '../support/cli-process.js';
import { createTestStoreHome, type TestStoreHome } from '../support/store.js';

const booking = new URL('../../docs/examples/booking.flow.json', import.meta.url).pathname;

describe('wacloud flows', () => {
  let emu: Emulator;
  let home: TestStoreHome;
  let env: Record<string, string | undefined>;
  let endpoint: Server | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'wacloud-flows-cli-'));
  beforeAll(async () => {
    emu = createEmulator();
    const url = await emu.listen();
    home = await createTestStoreHome('sqlite');
    env = {
      WACLOUD_DATA_DIR: home.dataDir,
      WACLOUD_MASTER_KEY: home.master.key.toString('base64'),
      CLOUD_API_ACCESS_TOKEN: emu.seed!.accessToken,
      WA_PHONE_NUMBER_ID: emu.seed!.phoneNumberId,
      WA_BUSINESS_ACCOUNT_ID: emu.seed!.wabaId,
      WA_GRAPH_URL: url,
      WA_APP_SECRET: emu.seed!.appSecret,
    };
  });
  afterAll(async () => {
    await emu?.close();
    await home?.cleanup();
    if (endpoint) await new Promise((r) => endpoint?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('validate: exit 0 for a valid Flow JSON, 6 with file:line:column for an invalid one', async () => {
    const ok = await run(['flows', 'validate', booking], env, dir);
    expect(ok).toMatchObject({ code: 0, out: expect.stringContaining('valid') });
    writeFileSync(join(dir, 'bad.json'), '{\n  "version": "7.0",\n  "screens": [{ "id": "A-1" }]\n}\n');
    const bad = await run(['flows', 'validate', 'bad.json'], env, dir);
    expect(bad.code).toBe(6);
    expect(bad.out).toMatch(/^bad\.json:3:\d+: Screen id 'A-1'/m);
    expect((await run(['flows', 'validate'], env, dir)).code).toBe(2);
  });

  it('keygen + upload-key keep the private key in the vault; test-endpoint checks a live endpoint with it', async () => {
    const phone = emu.seed!.phoneNumberId;
    const gen = await run(['flows', 'keygen', '--phone', phone, '--tenant', 'acme', '--json'], env, dir);
    expect(gen.code, gen.err).toBe(0);
    expect(gen.out).toContain('BEGIN PUBLIC KEY');
    const up = await run(['flows', 'upload-key', '--phone', phone, '--json'], env, dir);
    expect(up.code, up.err).toBe(0);
    expect(JSON.parse(up.out)).toMatchObject({ state: 'active', metaStatus: 'VALID' });
    for (const r of [gen, up]) expect(r.out + r.err).not.toContain('PRIVATE KEY');

    // An endpoint holding the vault's key, as the broker does.
    const store = await home.open();
    const keys = await new FlowKeyCustody({ store: store.flowKeys }).privateKeys(phone);
    await store.close();
    endpoint = createServer(
      createNodeFlowHandler({
        privateKey: keys,
        appSecret: emu.seed!.appSecret,
        handler: { init: () => ({ screen: 'PICK_SLOT', data: {} }), dataExchange: () => ({ screen: 'X' }) },
      }),
    );
    await new Promise<void>((r) => endpoint?.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/`;
    const ping = await run(['flows', 'test-endpoint', url, '--phone', phone], env, dir);
    expect(ping.code, ping.out + ping.err).toBe(0);
    expect(ping.out).toMatch(/^OK ping/);
    const init = await run(['flows', 'test-endpoint', url, '--phone', phone, '--init'], env, dir);
    expect(init.out).toContain('PICK_SLOT');
    const wrong = await run(
      ['flows', 'test-endpoint', url, '--phone', phone],
      { ...env, WA_APP_SECRET: 'nope' },
      dir,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.out).toContain('432');
  });

  it('preview prints the flow preview URL', async () => {
    const wa = new WhatsApp({ configSource: { env: env as Record<string, string>, envFile: false } });
    const { id } = await wa.flows.create({ name: 'cli', categories: ['OTHER'] });
    await wa.close();
    const p = await run(['flows', 'preview', id], env, dir);
    expect(p.code, p.err).toBe(0);
    expect(p.out).toContain(`/_emulator/flows/${id}/preview?token=`);
  });
});
