// The built CLI as a real process: `wacloud webhook listen` (handshake, verified events printed one per line,
// rejections on stderr, no secret anywhere), and `webhook sign` / `webhook verify` on a captured delivery.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signPayload } from '../../src/webhooks/index.js';
import { type CliProcess, runCli, spawnCli } from '../support/cli-process.js';
import { freePort } from '../support/ports.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

const SECRET = 'e2e-app-secret-4f9a8b7c6d5e4f3a2b1c';
const OLD_SECRET = 'e2e-previous-secret-0a1b2c3d4e5f';
const VERIFY = 'e2e-verify-token-77aa';

const delivery = whatsappDelivery({
  messages: [
    textMessage('wamid.CLI1', 'secret stuff'),
    { id: 'wamid.CLI2', timestamp: '1750000001', type: 'image', image: { id: 'media-1' } },
  ],
  statuses: [{ id: 'wamid.OUT1', status: 'delivered', timestamp: '1750000002' }],
});

describe('wacloud webhook listen', () => {
  let proc: CliProcess | undefined;
  afterEach(async () => {
    await proc?.stop();
    proc = undefined;
  });

  it('answers the handshake, prints one line per verified event, and rejects bad deliveries', async () => {
    const port = await freePort();
    proc = spawnCli(['webhook', 'listen'], {
      env: {
        WA_APP_SECRET: SECRET,
        WEBHOOK_VERIFICATION_TOKEN: VERIFY,
        WA_LISTENER_PORT: String(port),
        WEBHOOK_ENDPOINT: '/hooks/wa',
      },
    });
    const [, url] = (await proc.waitFor(
      /listening on (http:\/\/127\.0\.0\.1:\d+\/hooks\/wa)/,
    )) as RegExpMatchArray;
    expect(url).toBe(`http://127.0.0.1:${port}/hooks/wa`);

    const hs = await fetch(`${url}?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=987654`);
    expect(hs.status).toBe(200);
    expect(await hs.text()).toBe('987654');
    expect((await fetch(`${url}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`)).status).toBe(
      403,
    );

    const ok = await fetch(url!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(delivery, SECRET) },
      body: delivery,
    });
    expect(ok.status).toBe(200);
    await proc.waitFor(/status\.delivered 106540352242922 wamid\.OUT1/);
    expect(proc.output()).toContain('message.text 106540352242922 wamid.CLI1\n');
    expect(proc.output()).toContain('message.image 106540352242922 wamid.CLI2\n');

    const bad = await fetch(url!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(delivery, 'wrong') },
      body: delivery,
    });
    expect(bad.status).toBe(401);
    await proc.waitFor(/rejected POST \/hooks\/wa: 401 bad_signature/);
    expect((await fetch(`http://127.0.0.1:${port}/elsewhere`, { method: 'POST' })).status).toBe(404);

    expect(await proc.stop()).toBe(0);
    expect(proc.output()).not.toContain('secret stuff'); // message content is never printed
    expectNoSecrets(proc.output(), [SECRET, VERIFY], 'listen output');
  });

  it('--port 0 picks a free port and --json prints one JSON object per event', async () => {
    proc = spawnCli(['webhook', 'listen', '--port', '0', '--json'], {
      env: { WA_APP_SECRET: SECRET, WEBHOOK_VERIFICATION_TOKEN: VERIFY },
    });
    const [, url] = (await proc.waitFor(
      /listening on (http:\/\/127\.0\.0\.1:\d+\/webhook)/,
    )) as RegExpMatchArray;
    const res = await fetch(url!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(delivery, SECRET) },
      body: delivery,
    });
    expect(res.status).toBe(200);
    const [line] = (await proc.waitFor(/\{"kind":"status\.delivered"[^\n]*\}/)) as RegExpMatchArray;
    expect(JSON.parse(line!)).toEqual({
      kind: 'status.delivered',
      phoneNumberId: '106540352242922',
      id: 'wamid.OUT1',
      type: 'status',
    });
  });

  it('refuses to start without WA_APP_SECRET, naming the variable (exit 3)', async () => {
    const { code, output } = await runCli(['webhook', 'listen', '--port', '0'], { env: {} });
    expect(code).toBe(3);
    expect(output).toContain('WA_APP_SECRET');
  });

  it('warns when WEBHOOK_VERIFICATION_TOKEN is missing, and handshakes get 403', async () => {
    proc = spawnCli(['webhook', 'listen', '--port', '0'], { env: { WA_APP_SECRET: SECRET } });
    const [, url] = (await proc.waitFor(
      /listening on (http:\/\/127\.0\.0\.1:\d+\/webhook)/,
    )) as RegExpMatchArray;
    expect(proc.output()).toContain('WEBHOOK_VERIFICATION_TOKEN is not set');
    expect((await fetch(`${url}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1`)).status).toBe(403);
  });
});

describe('wacloud webhook sign / verify', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wacloud-webhook-cli-'));
  const file = join(dir, 'delivery.json');
  writeFileSync(file, delivery);

  it('sign prints the header Meta would send', async () => {
    const { code, output } = await runCli(['webhook', 'sign', '--file', file], {
      env: { WA_APP_SECRET: SECRET },
    });
    expect(code).toBe(0);
    expect(output.trim()).toBe(signPayload(delivery, SECRET));
    const piped = await runCli(['webhook', 'sign'], { env: { WA_APP_SECRET: SECRET }, stdin: delivery });
    expect(piped.output.trim()).toBe(signPayload(delivery, SECRET));
  });

  it('verify exits 0 and lists the events of a valid delivery, 6 for a wrong signature', async () => {
    const good = await runCli(
      ['webhook', 'verify', '--signature', signPayload(delivery, SECRET), '--file', file],
      {
        env: { WA_APP_SECRET: SECRET },
      },
    );
    expect(good.code).toBe(0);
    expect(good.output).toContain('valid: signed with WA_APP_SECRET, over the raw bytes');
    expect(good.output).toContain('message.text 106540352242922 wamid.CLI1');
    const bad = await runCli(
      ['webhook', 'verify', '--signature', signPayload(`${delivery}\n`, SECRET), '--file', file],
      {
        env: { WA_APP_SECRET: SECRET },
      },
    );
    expect(bad.code).toBe(6);
    expect(bad.output).toContain('invalid: the signature does not match');
    expectNoSecrets(good.output + bad.output, [SECRET], 'verify output');
  });

  it('verify accepts a fallback secret during rotation and says which one matched (--json)', async () => {
    const { code, output } = await runCli(
      [
        'webhook',
        'verify',
        '--signature',
        signPayload(delivery, OLD_SECRET),
        '--file',
        file,
        '--fallback-secret-env',
        'OLD_APP_SECRET',
        '--json',
      ],
      { env: { WA_APP_SECRET: SECRET, OLD_APP_SECRET: OLD_SECRET } },
    );
    expect(code).toBe(0);
    const result = JSON.parse(output);
    expect(result).toMatchObject({ valid: true, secret: 'OLD_APP_SECRET', method: 'raw' });
    expect(result.events).toHaveLength(3);
    expectNoSecrets(output, [SECRET, OLD_SECRET], 'verify --json output');
  });

  it('usage errors exit 2', async () => {
    expect((await runCli(['webhook'], { env: {} })).code).toBe(2);
    expect((await runCli(['webhook', 'frobnicate'], { env: {} })).code).toBe(2);
    expect(
      (await runCli(['webhook', 'verify', '--file', file], { env: { WA_APP_SECRET: SECRET } })).code,
    ).toBe(2);
  });
});
