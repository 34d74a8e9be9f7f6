// docs/emulator.md must not lie: its control routes exist, and its walk-through behaves as written.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/emulator/control-routes.js';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { call } from './emulator-support.js';

const doc = readFileSync(new URL('../../docs/emulator.md', import.meta.url), 'utf8');

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

describe('docs/emulator.md', () => {
  it('every control route it mentions exists', () => {
    const mentioned = new Set(
      [...doc.matchAll(/`(?:GET|POST|PATCH|DELETE)(?:\/\w+)* (\/_emulator\/[a-z/:_-]+)/g)].map((m) => m[1]),
    );
    expect(mentioned.size).toBeGreaterThan(20);
    const known = ROUTES.map((r) => r.split(/\s+/)[1]?.replace(/\[.*\]/, '') ?? '');
    for (const path of mentioned) {
      const p = (path as string).replace(/\[\/:id\]$/, '');
      expect(
        known.some((k) => k === p || k.startsWith(`${p}/`) || p.startsWith(k)),
        p,
      ).toBe(true);
    }
  });

  it('the walk-through: curl send, 401 without a token, clock advance → 190/463, a system-user token', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const body = JSON.parse(/-d '(\{ "messaging_product".*\})'/.exec(emu.curl('http://x'))?.[1] as string);
    expect(body.template.name).toBe('hello_world');
    const path = `/v26.0/${seed.phoneNumberId}/messages`;
    expect(
      (await call(emu, 'POST', path, { token: seed.accessToken, body })).json.messages[0].message_status,
    ).toBe('accepted');
    expect((await call(emu, 'POST', path, { body })).status).toBe(401);
    await call(emu, 'POST', '/_emulator/clock/advance', { body: { seconds: 90_000 } });
    const expired = await call(emu, 'POST', path, { token: seed.accessToken, body });
    expect(expired.json.error).toMatchObject({ code: 190, error_subcode: 463 });
    const su = await call(emu, 'POST', '/_emulator/tokens', { body: { kind: 'system_user' } });
    expect((await call(emu, 'POST', path, { token: su.json.access_token, body })).status).toBe(200);
  });
});
