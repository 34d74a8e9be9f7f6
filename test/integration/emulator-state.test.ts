// The state file as a crash leaves it: a copy taken while the first emulator still runs (never closed) is what a
// second emulator starts from. Codes, the clock and the webhook queue must come back, not only the world.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { waitFor } from '../support/poll.js';
import { call, type LooseJson, startReceiver } from './emulator-support.js';

let dir: string;
let emus: Emulator[] = [];
let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wacloud-emu-state-'));
});
afterEach(async () => {
  for (const e of emus) await e.close();
  emus = [];
  await receiver?.close();
  receiver = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const REDIRECT = 'https://app.example/callback';

function start(file: string, options: Parameters<typeof createEmulator>[0] = {}): Emulator {
  const e = createEmulator({
    stateFile: file,
    clock: { frozen: true },
    seed: { redirectUris: [REDIRECT] },
    ...options,
  });
  emus.push(e);
  return e;
}

/** Polls the file until `ok` holds, then copies it: the file as a kill -9 at that moment would leave it. */
async function crashCopy(file: string, ok: (data: LooseJson) => boolean): Promise<string> {
  await waitFor(
    'the state file to match',
    () => ok(existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LooseJson) : {}),
    10_000,
    25,
  );
  const copy = join(dir, `crash-${emus.length}.json`);
  copyFileSync(file, copy);
  return copy;
}

const exchange = (e: Emulator, code: string) =>
  call(
    e,
    'GET',
    `/v23.0/oauth/access_token?${new URLSearchParams({
      client_id: e.seed!.appId,
      client_secret: e.seed!.appSecret,
      redirect_uri: REDIRECT,
      code,
    })}`,
  );

describe('the state file after a crash', () => {
  it('keeps OAuth codes (unused, used, and their expiry) and the virtual clock', async () => {
    const file = join(dir, 'state.json');
    const a = start(file);
    await call(a, 'POST', '/_emulator/clock/advance', { body: { seconds: 3 * 86_400 } });
    const code = async () =>
      (await call(a, 'POST', '/_emulator/oauth/codes', { body: { redirect_uri: REDIRECT } })).json
        .code as string;
    const fresh = await code();
    const used = await code();
    const expiring = await code();
    expect((await exchange(a, used)).status).toBe(200);
    const nowA = a.clock.now();
    const copy = await crashCopy(
      file,
      (d) => d.clock?.nowMs === nowA && d.codes?.some((c: LooseJson) => c.code === used && c.used),
    );

    const b = start(copy);
    expect(b.clock.now()).toBe(nowA);
    const ok = await exchange(b, fresh);
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json.access_token).toMatch(/^EAA/);
    expect((await exchange(b, used)).json.error).toMatchObject({ code: 100, error_subcode: 36009 });
    await b.clock.advance(11 * 60_000);
    expect((await exchange(b, expiring)).json.error).toMatchObject({ code: 100, error_subcode: 36007 });
  });

  it('a running clock keeps its offset from real time', async () => {
    const file = join(dir, 'state.json');
    const a = start(file, { clock: {} });
    await a.clock.advance(90_000_000);
    const copy = await crashCopy(file, (d) => d.clock?.offsetMs > 89_000_000);
    const b = start(copy, { clock: {} });
    expect(b.clock.offsetMs).toBeGreaterThan(89_000_000);
    // The seed token expired with the advance: replaced on restart, while the old one still answers 190/463.
    expect(b.seed!.accessToken).not.toBe(a.seed!.accessToken);
    const old = await call(b, 'POST', `/v23.0/${b.seed!.phoneNumberId}/messages`, {
      token: a.seed!.accessToken,
      body: { messaging_product: 'whatsapp', to: b.seed!.recipient, type: 'text', text: { body: 'x' } },
    });
    expect(old.status).toBe(401);
    expect(old.json.error).toMatchObject({ code: 190, error_subcode: 463 });
  });

  it('keeps pending webhook deliveries (a retry due, statuses not yet sent) and delivers them after the restart', async () => {
    receiver = await startReceiver('verify-me');
    const file = join(dir, 'state.json');
    const a = start(file);
    const hook = await call(a, 'POST', `/_emulator/apps/${a.seed!.appId}/webhook`, {
      body: { callback_url: receiver.url, verify_token: 'verify-me' },
    });
    expect(hook.status).toBe(200);
    receiver.setStatus(() => 500);
    a.sendInbound({ type: 'text', message: { body: 'Grüße' } });
    await a.flushWebhooks();
    expect(a.deliveries()).toMatchObject([{ attempt: 1, status: 500, outcome: 'retrying' }]);
    const sent = await call(a, 'POST', `/v23.0/${a.seed!.phoneNumberId}/messages`, {
      token: a.seed!.accessToken,
      body: { messaging_product: 'whatsapp', to: a.seed!.recipient, type: 'text', text: { body: 'hi' } },
    });
    const wamid = sent.json.messages[0].id as string;
    const copy = await crashCopy(
      file,
      (d) =>
        d.webhooks?.deliveries?.length === 1 &&
        d.webhooks.deliveries[0].attempt === 1 &&
        d.messages?.some((m: LooseJson) => m.id === wamid),
    );
    const first = receiver.posts()[0];

    receiver.setStatus(() => 200);
    const b = start(copy);
    await b.clock.advance(5_000);
    await b.flushWebhooks();
    const retried = b.deliveries().find((d) => d.attempt === 2);
    expect(retried).toMatchObject({ status: 200, outcome: 'delivered' });
    expect(retried?.deliveryId).toBe(a.deliveries()[0]?.deliveryId);
    const posts = receiver.posts();
    // The same signed bytes as the first attempt.
    const again = posts.find((p, i) => i > 0 && p.raw.equals(first!.raw));
    expect(again?.headers['x-hub-signature-256']).toBe(first!.headers['x-hub-signature-256']);
    const statuses = posts
      .map((p) => JSON.parse(p.raw.toString('utf8')) as LooseJson)
      .flatMap((p) => p.entry[0].changes[0].value.statuses ?? [])
      .filter((s: LooseJson) => s.id === wamid)
      .map((s: LooseJson) => s.status);
    expect(statuses).toEqual(['sent', 'delivered', 'read']);
    expect(b.sentMessages().find((m) => m.id === wamid)?.status).toBe('read');
  });

  it('a template under review gets its outcome after the restart, at the saved time', async () => {
    const file = join(dir, 'state.json');
    const templateApproval = { status: 'APPROVED' as const, delayMs: 60_000 };
    const a = start(file, { templateApproval });
    const created = await call(a, 'POST', `/v23.0/${a.seed!.wabaId}/message_templates`, {
      token: a.seed!.accessToken,
      body: {
        name: 'in_review',
        language: 'en_US',
        category: 'UTILITY',
        components: [{ type: 'BODY', text: 'Hi' }],
      },
    });
    expect(created.json).toMatchObject({ status: 'PENDING' });
    const copy = await crashCopy(file, (d) => d.templates?.some((t: LooseJson) => t.id === created.json.id));
    const b = start(copy, { templateApproval });
    const status = () => b.state.templates.get(created.json.id)?.status;
    await b.clock.advance(59_000);
    expect(status()).toBe('PENDING');
    await b.clock.advance(1_000);
    expect(status()).toBe('APPROVED');
  });

  it('a state file with a malformed clock or webhook queue is refused with a clear error', async () => {
    const file = join(dir, 'state.json');
    start(file);
    const good = await crashCopy(file, (d) => d.version === 1);
    const data = JSON.parse(readFileSync(good, 'utf8')) as LooseJson;
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...data, clock: { nowMs: 'soon' } }));
    expect(() => createEmulator({ stateFile: bad })).toThrow(/state file .*"clock" must be/);
    writeFileSync(bad, JSON.stringify({ ...data, webhooks: { deliveries: 3 } }));
    expect(() => createEmulator({ stateFile: bad })).toThrow(/state file .*"webhooks" must be/);
  });
});

describe('duplicate deliveries', () => {
  it('draw their delay (100-999 ms of virtual time) from the injectable random source', async () => {
    receiver = await startReceiver('verify-me');
    for (const [r, delay] of [
      [0, 100],
      [0.9999, 999],
    ] as const) {
      const e = createEmulator({ clock: { frozen: true }, webhooks: { duplicateRate: 1, random: () => r } });
      emus.push(e);
      await call(e, 'POST', `/_emulator/apps/${e.seed!.appId}/webhook`, {
        body: { callback_url: receiver.url, verify_token: 'verify-me' },
      });
      e.sendInbound({ type: 'text', message: { body: 'twice' } });
      await e.flushWebhooks();
      expect(e.deliveries().map((d) => d.duplicate)).toEqual([false]);
      await e.clock.advance(delay - 1);
      await e.flushWebhooks();
      expect(e.deliveries()).toHaveLength(1);
      await e.clock.advance(1);
      await e.flushWebhooks();
      expect(e.deliveries().map((d) => d.duplicate)).toEqual([false, true]);
      expect(e.deliveries()[1]?.atMs).toBe((e.deliveries()[0]?.atMs ?? 0) + delay);
    }
  });
});
