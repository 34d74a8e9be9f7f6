// The "keep it working with ten lines of code" example of the README, run as written against the emulator over
// loopback: the block marked `<!-- example: keep-token -->` is copied out, its `wacloud` imports pointed at src.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { TokenManager } from '../../src/auth/index.js';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index.js';
import type { WhatsApp } from '../../src/whatsapp/index.js';

const repo = new URL('../../', import.meta.url);
const doc = readFileSync(new URL('README.md', repo), 'utf8');
const outDir = new URL('test-artifacts/readme-examples/', repo);
const file = fileURLToPath(new URL(`keep-token-${process.pid}.ts`, outDir));
let emu: StartedEmulator;

beforeAll(async () => {
  emu = await startEmulator({});
});
afterAll(async () => {
  vi.unstubAllEnvs();
  rmSync(file, { force: true });
  await emu.close();
});

it('the ten-line example keeps a token: exchanged at once, then used by the client', async () => {
  const match = doc.match(/<!-- example: keep-token -->\s*```ts\n([\s\S]*?)```/);
  expect(match, 'the README has the keep-token example').toBeTruthy();
  const code = ((match as RegExpMatchArray)[1] as string)
    .replaceAll("'wacloud/auth'", JSON.stringify(fileURLToPath(new URL('src/auth/index.ts', repo))))
    .replaceAll("'wacloud'", JSON.stringify(fileURLToPath(new URL('src/index.ts', repo))));
  expect(code.trim().split('\n')).toHaveLength(10);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(file, `${code}\nexport { manager, wa, cred };\n`);

  const seed = emu.emulator.seed!;
  const res = await fetch(`${emu.url}/_emulator/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'user' }),
  });
  const short = ((await res.json()) as { access_token: string }).access_token;
  vi.stubEnv('WA_APP_ID', seed.appId);
  vi.stubEnv('WA_APP_SECRET', seed.appSecret);
  vi.stubEnv('WA_GRAPH_URL', emu.url);
  vi.stubEnv('WA_PHONE_NUMBER_ID', seed.phoneNumberId);
  vi.stubEnv('CLOUD_API_ACCESS_TOKEN', short);
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    const mod = (await import(file)) as {
      manager: TokenManager;
      wa: WhatsApp;
      cred: { id: string; kind: string };
    };
    try {
      expect(mod.cred.kind).toBe('user-long');
      expect((await mod.manager.getToken(mod.cred.id)).equals(short)).toBe(false);
      const sent = emu.emulator.sentMessages({ phoneNumberId: seed.phoneNumberId });
      expect(sent.at(-1)).toMatchObject({ to: '16505551234' });
    } finally {
      await mod.manager.close();
      await mod.wa.close();
    }
  } finally {
    warn.mockRestore();
  }
});
