import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenManager } from '../../src/auth/token-manager.js';
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

  it("keygen --upload / upload-key --tenant use the tenant's stored token: no raw token, audited, no private key", async () => {
    const seed = emu.seed!;
    // The broker's store, as `wacloud up` leaves it: a tenant, its stored credential, its phone number.
    const store = await home.open();
    const tenant = await store.tenants.create({ name: 'Zeta' }, Date.now());
    const manager = createTokenManager({
      store: store.credentials,
      appId: seed.appId,
      appSecret: seed.appSecret,
      graphUrl: env.WA_GRAPH_URL as string,
      configSource: { env: {}, envFile: false },
    });
    const cred = await manager.addCredential({ tenantId: tenant.id, token: seed.accessToken });
    await manager.close();
    const phone = emu.world.createPhoneNumber({ wabaId: seed.wabaId }).id;
    await store.phoneNumbers.upsert(
      {
        id: phone,
        tenantId: tenant.id,
        wabaId: seed.wabaId,
        displayPhoneNumber: '',
        verifiedName: null,
        credentialId: cred.id,
      },
      Date.now(),
    );
    await store.close();
    // The operator holds no Meta token: only the store, the master key and the app's id and secret.
    const { CLOUD_API_ACCESS_TOKEN: _token, ...operator } = env;
    const opEnv = { ...operator, WA_APP_ID: seed.appId };

    const made = await run(
      ['flows', 'keygen', '--tenant', tenant.id, '--phone-number-id', phone, '--upload', '--json'],
      opEnv,
      dir,
    );
    expect(made.code, made.err).toBe(0);
    const first = JSON.parse(made.out) as {
      key: { state: string; metaStatus: string; publicKeyPem: string };
    };
    expect(first.key).toMatchObject({ state: 'active', metaStatus: 'VALID' });

    // keygen (pending) + upload-key --tenant: a rotation, through the same function.
    expect(
      (await run(['flows', 'keygen', '--phone-number-id', phone, '--tenant', tenant.id], opEnv, dir)).code,
    ).toBe(0);
    const up = await run(
      ['flows', 'upload-key', '--tenant', tenant.id, '--phone-number-id', phone, '--json'],
      opEnv,
      dir,
    );
    expect(up.code, up.err).toBe(0);
    const second = JSON.parse(up.out) as {
      key: { state: string; publicKeyPem: string };
      retiring: { state: string };
    };
    expect(second.key.state).toBe('active');
    expect(second.retiring.state).toBe('retiring');
    // Meta (the emulator) holds the new key for the number.
    const wa = new WhatsApp({ configSource: { env: env as Record<string, string>, envFile: false } });
    expect((await wa.flows.getBusinessPublicKey(phone))?.business_public_key).toBe(second.key.publicKeyPem);
    await wa.close();

    // Refusals: another tenant's number (exit 2, nothing changed), no app id for the token manager (exit 3).
    const foreign = await run(
      ['flows', 'upload-key', '--tenant', 'nobody', '--phone-number-id', phone],
      opEnv,
      dir,
    );
    expect(foreign.code).toBe(2);
    const { WA_APP_ID: _id, ...noApp } = opEnv;
    expect(
      (
        await run(
          ['flows', 'keygen', '--tenant', tenant.id, '--phone-number-id', phone, '--upload'],
          noApp,
          dir,
        )
      ).code,
    ).toBe(3);

    const check = await home.open();
    const events = (await check.audit.list({ tenantId: tenant.id, limit: 50 })).map((e) => e.event).sort();
    await check.close();
    expect(events).toEqual([
      'flow_key.generated',
      'flow_key.rotated',
      'flow_key.uploaded',
      'flow_key.uploaded',
    ]);
    for (const r of [made, up, foreign]) expect(r.out + r.err).not.toContain('PRIVATE KEY');
    for (const r of [made, up, foreign]) expect(r.out + r.err).not.toContain(seed.accessToken);
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
