// `wacloud send --recipient` as users run it (the built CLI) against a listening emulator.
// Needs `npm run build` first (npm test does it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { parseWebhook } from '../../src/webhooks/parse-webhook.js';
import { runCli } from '../support/cli-process.js';

let emu: Emulator;
let url: string;
let bsuid: string;
const bodies: string[] = [];

beforeAll(async () => {
  emu = createEmulator({
    seed: { recipients: ['16505551234'], callbackUrl: 'https://receiver.test/hook' },
    webhooks: {
      fetch: async (_u, init) => {
        bodies.push(String(init?.body));
        return new Response('ok');
      },
    },
  });
  url = await emu.listen();
  // The user writes first; their BSUID comes in the webhook.
  emu.sendInbound({ from: '16505551234', type: 'text', message: { body: 'hi' } });
  await emu.flushWebhooks();
  const event = bodies.flatMap((b) => parseWebhook(JSON.parse(b))).find((e) => e.type === 'message');
  bsuid = event?.user?.bsuid as string;
});

afterAll(async () => {
  await emu.close();
});

const env = () => ({
  CLOUD_API_ACCESS_TOKEN: emu.seed!.accessToken,
  WA_PHONE_NUMBER_ID: emu.seed!.phoneNumberId,
  WA_GRAPH_URL: url,
});

describe('wacloud send --recipient (built CLI)', () => {
  it('sends to a BSUID and prints the contacts Meta answers (user_id, no wa_id)', async () => {
    expect(bsuid).toMatch(/^US\.\d{20}$/);
    const json = await runCli(['send', '--recipient', bsuid, '--text', 'hello', '--json'], { env: env() });
    expect(json.code).toBe(0);
    const res = JSON.parse(json.output) as { contacts: unknown[]; messages: Array<{ id: string }> };
    expect(res.contacts).toEqual([{ input: bsuid, user_id: bsuid }]);
    expect(emu.sentMessages().find((m) => m.id === res.messages[0]?.id)).toMatchObject({
      sentTo: 'bsuid',
      waId: '16505551234',
    });
    const human = await runCli(['send', '--recipient', bsuid, '--text', 'again'], { env: env() });
    expect(human.code).toBe(0);
    expect(human.output).toMatch(new RegExp(`^sent wamid\\.\\S+ to ${bsuid.replace('.', '\\.')}\\n$`));
  });

  it('refuses a malformed recipient and a send with no recipient, sending nothing', async () => {
    const before = emu.sentMessages().length;
    const bad = await runCli(['send', '--recipient', 'sheena', '--text', 'x'], { env: env() });
    expect(bad.code).not.toBe(0);
    expect(bad.output).toContain('is not a business-scoped user id');
    const none = await runCli(['send', '--text', 'x'], { env: env() });
    expect(none.code).toBe(2);
    expect(none.output).toContain('--to or --recipient is required');
    expect(emu.sentMessages()).toHaveLength(before);
  });
});
