// `wacloud emulator` as users run it (the built CLI), with the seed curl executed by a real curl process.
// Needs `npm run build` first (npm test does it).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, runCli, spawnCli } from '../support/cli-process.js';

const run = promisify(execFile);
let proc: CliProcess | undefined;
afterEach(async () => {
  await proc?.stop();
  proc = undefined;
});

/** The curl block of the banner, exactly as printed (backslash-continued lines). */
async function startAndGetCurl(args: string[] = []): Promise<{ curl: string; url: string; output: string }> {
  proc = spawnCli(['emulator', '--port', '0', ...args]);
  const m = await proc.waitFor(/(curl -i -X POST \\\n(?:.*\\\n)+.*-d '.*'\n)/);
  const url = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(proc.output())?.[1] as string;
  return { curl: m[1] as string, url, output: proc.output() };
}

/** Runs a shell command line (the printed curl) and splits curl -i output into status, headers, body. */
async function shell(command: string) {
  const { stdout } = await run('sh', ['-c', command.replace(/^curl /, 'curl -sS ')], { timeout: 15_000 });
  const [head, ...rest] = stdout.split('\r\n\r\n');
  const lines = (head as string).split('\r\n');
  const status = Number((lines[0] as string).split(' ')[1]);
  const headers = Object.fromEntries(
    lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { status, headers, body: JSON.parse(rest.join('\r\n')) };
}

describe('wacloud emulator (built CLI)', () => {
  it('prints the seed and a curl that returns 200 with a wamid; without Authorization it returns 401 like Meta', async () => {
    const { curl, output } = await startAndGetCurl();
    expect(output).toMatch(/App ID\s+\d{15}/);
    expect(output).toMatch(/App secret\s+[0-9a-f]{32}/);
    expect(output).toMatch(/Phone number ID\s+\d{15}/);
    expect(output).toMatch(/WhatsApp Business Account ID\s+\d{15}/);
    expect(output).toMatch(/\n\s+EAAW[A-Za-z0-9]{100,}\n/);

    const ok = await shell(curl);
    expect(ok.status).toBe(200);
    expect(ok.body.messages[0].id).toMatch(/^wamid\./);
    expect(ok.headers['x-fb-trace-id']).toMatch(/^[\w-]{11}$/);

    const anyVersion = await shell(curl.replace(/\/v\d+\.0\//, '/v21.0/'));
    expect(anyVersion.status).toBe(200);
    expect(anyVersion.headers['facebook-api-version']).toBe('v21.0');

    const noAuth = await shell(curl.replace(/ {2}-H 'Authorization: Bearer [^']+' \\\n/, ''));
    expect(noAuth.status).toBe(401);
    expect(noAuth.body.error).toMatchObject({
      code: 104,
      type: 'OAuthException',
      message: 'An access token is required to request this resource.',
    });
    expect(noAuth.headers['www-authenticate']).toMatch(/^OAuth "Facebook Platform" "invalid_request" "/);

    const code = await (proc as CliProcess).stop();
    expect(code).toBe(0);
    expect((proc as CliProcess).output()).toContain('wacloud emulator: stopped');
  });

  it('--json prints the seed as one JSON document; --state keeps the world across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-emu-cli-'));
    try {
      const file = join(dir, 'emulator.json');
      proc = spawnCli(['emulator', '--port', '0', '--json', '--state', file]);
      await proc.waitFor(/"curl": "curl[^\n]*\n}\n/);
      const first = JSON.parse(proc.output()) as Record<string, string>;
      expect(first).toMatchObject({
        appId: expect.stringMatching(/^\d+$/),
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      });
      expect(first.curl).toContain(first.accessToken);
      expect(await proc.stop()).toBe(0);

      proc = spawnCli(['emulator', '--port', '0', '--json', '--state', file]);
      await proc.waitFor(/"curl": "curl[^\n]*\n}\n/);
      const second = JSON.parse(proc.output()) as Record<string, string>;
      expect(second.appId).toBe(first.appId);
      expect(second.phoneNumberId).toBe(first.phoneNumberId);
      expect(second.accessToken).toBe(first.accessToken);
    } finally {
      await proc?.stop();
      proc = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--state writes every change shortly after it happens: after kill -9 the messages, templates, numbers and the advanced clock are back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-emu-crash-'));
    const file = join(dir, 'emulator.json');
    /** Polls the state file (it is replaced atomically, so every read is a whole document) until `ok` holds. */
    type Saved = {
      messages?: Array<{ id: string }>;
      templates?: Array<{ name: string }>;
      phoneNumbers?: Array<{ id: string; registered: boolean }>;
      clock?: { nowMs: number };
    };
    const fileShows = async (what: string, ok: (data: Saved) => boolean | undefined) => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const data = (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}) as Saved;
        if (ok(data)) return data;
        if (Date.now() > deadline) throw new Error(`the state file never showed ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const start = async () => {
      proc = spawnCli(['emulator', '--port', '0', '--json', '--state', file]);
      await proc.waitFor(/"curl": "curl[^\n]*\n}\n/);
      return JSON.parse(proc.output()) as Record<string, string>;
    };
    try {
      const seed = await start();
      const E = seed.url as string;
      const graph = (path: string, init: RequestInit = {}, token = seed.accessToken) =>
        fetch(`${E}/v23.0${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });

      const send = (base: string, token: string) =>
        fetch(`${base}/v23.0/${seed.phoneNumberId}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            messaging_product: 'whatsapp',
            to: seed.recipient,
            type: 'text',
            text: { body: 'survives' },
          }),
        });
      const sent = await send(E, seed.accessToken as string);
      expect(sent.status).toBe(200);
      const wamid = ((await sent.json()) as { messages: Array<{ id: string }> }).messages[0]?.id as string;
      // The send alone reaches the file (nothing else has changed since).
      await fileShows('the sent message', (d) => d.messages?.some((m) => m.id === wamid));

      const template = await graph(`/${seed.wabaId}/message_templates`, {
        method: 'POST',
        body: JSON.stringify({
          name: 'order_shipped',
          language: 'en_US',
          category: 'UTILITY',
          components: [{ type: 'BODY', text: 'Your order has shipped.' }],
        }),
      });
      expect(template.status).toBe(200);
      const number = await fetch(`${E}/_emulator/phone-numbers`, {
        method: 'POST',
        body: JSON.stringify({ display_phone_number: '+1 555 010 7788', registered: false }),
      });
      const phoneId = ((await number.json()) as { id: string }).id;
      const registered = await graph(`/${phoneId}/register`, {
        method: 'POST',
        body: JSON.stringify({ messaging_product: 'whatsapp', pin: '123456' }),
      });
      expect(registered.status).toBe(200);

      const before = (await (await fetch(`${E}/_emulator/clock`)).json()) as { now_ms: number };
      await fetch(`${E}/_emulator/clock/advance`, {
        method: 'POST',
        body: JSON.stringify({ seconds: 90_000 }),
      });
      const expired = await send(E, seed.accessToken as string);
      expect(expired.status).toBe(401);
      expect(((await expired.json()) as { error: unknown }).error).toMatchObject({
        code: 190,
        error_subcode: 463,
      });

      await fileShows(
        'the template, the registered number and the advanced clock',
        (d) =>
          d.templates?.some((t) => t.name === 'order_shipped') &&
          d.phoneNumbers?.some((p) => p.id === phoneId && p.registered) &&
          (d.clock?.nowMs ?? 0) >= before.now_ms + 90_000_000,
      );
      (proc as CliProcess).proc.kill('SIGKILL');
      expect(await (proc as CliProcess).exited).toBe(null);

      const again = await start();
      const E2 = again.url as string;
      // The clock is still ahead: the old token stays expired (the seed gets a fresh one, as after any restart).
      const clock = (await (await fetch(`${E2}/_emulator/clock`)).json()) as { now_ms: number };
      expect(clock.now_ms).toBeGreaterThanOrEqual(before.now_ms + 90_000_000);
      const stillExpired = await send(E2, seed.accessToken as string);
      expect(stillExpired.status).toBe(401);
      expect(((await stillExpired.json()) as { error: unknown }).error).toMatchObject({
        code: 190,
        error_subcode: 463,
      });
      expect(again.accessToken).not.toBe(seed.accessToken);

      const messages = (await (await fetch(`${E2}/_emulator/messages`)).json()) as {
        data: Array<{ id: string; body: { text: { body: string } } }>;
      };
      expect(messages.data.find((m) => m.id === wamid)?.body.text.body).toBe('survives');
      const templates = await fetch(`${E2}/v23.0/${again.wabaId}/message_templates`, {
        headers: { authorization: `Bearer ${again.accessToken}` },
      });
      expect(
        ((await templates.json()) as { data: Array<{ name: string }> }).data.map((t) => t.name),
      ).toContain('order_shipped');
      const phone = (await (await fetch(`${E2}/_emulator/phone-numbers/${phoneId}`)).json()) as Record<
        string,
        unknown
      >;
      expect(phone).toMatchObject({ id: phoneId, registered: true });
    } finally {
      await proc?.stop();
      proc = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad flags and a busy port give clear errors and exit codes', async () => {
    const bad = await runCli(['emulator', '--port', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.output).toMatch(/--port must be an integer/);
    const unknown = await runCli(['emulator', '--nope']);
    expect(unknown.code).toBe(2);

    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const busy = await runCli(['emulator', '--port', String(port)]);
      expect(busy.code).toBe(1);
      expect(busy.output).toContain(`port ${port} is already in use`);
    } finally {
      blocker.close();
    }
  });
});
