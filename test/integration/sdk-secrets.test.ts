import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { format, inspect } from 'node:util';
import { MockAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { loadConfig } from '../../src/core/config.js';
import { createJsonLogger, type Logger } from '../../src/core/logger.js';
import { Secret } from '../../src/core/secret.js';
import { GraphClient } from '../../src/graph/graph-client.js';
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import { createUndiciTransport } from '../../src/transport/undici-transport.js';
import { WhatsApp, type WhatsAppOptions } from '../../src/whatsapp/whatsapp.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { sharedUrl } from '../support/shared.js';

/**
 * Drives every logging and error path of the SDK with debug on and asserts that no token, app secret or
 * appsecret_proof appears anywhere: in log lines, in anything written to stdout/stderr, or in util.inspect /
 * JSON.stringify / String() of the client, the config, the errors and their causes.
 */

const TOKEN = 'EAAJleakTestTokenQWERTYuiop0123456789asdfghJKL';
const TOKEN_2 = 'EAAJleakTestRotatedZXCVBNmlkj9876543210poiuYTR';
const APP_SECRET = '3f9c2b7e1d6a4058b2c9e7f1a3d5b6c8';
const VERIFY_TOKEN = 'hookVfyZq81Lm0Pw7Rs4Ty2Ux9';
const MASTER_KEY = 'bWFzdGVyLWtleS1kby1ub3QtcHJpbnQtMDEyMzQ1Njc4OQ==';
const PHONE_ID = '106540352242922';
const TO = '+16505551234';
const CLOCK_START = Date.UTC(2026, 5, 1, 8, 0, 0);

const hmac = (msg: string) => createHmac('sha256', APP_SECRET).update(msg).digest('hex');
function secrets(): string[] {
  const t = Math.floor(CLOCK_START / 1000);
  return [
    TOKEN,
    TOKEN_2,
    APP_SECRET,
    VERIFY_TOKEN,
    MASTER_KEY,
    hmac(TOKEN),
    hmac(TOKEN_2),
    hmac(`${TOKEN}|${t}`),
    hmac(`${TOKEN_2}|${t}`),
  ];
}

/** Everything that was printed or rendered during the run. */
const captured: string[] = [];
function render(value: unknown): void {
  captured.push(inspect(value, { depth: 12, showHidden: true, getters: true }));
  captured.push(format('%s %o %O', value, value, value));
  try {
    captured.push(JSON.stringify(value) ?? '');
  } catch (err) {
    captured.push(`JSON.stringify threw: ${(err as Error).message}`);
  }
  try {
    captured.push(String(value));
  } catch {
    // objects without a primitive form
  }
}
/** Renders an error and every cause under it. */
function renderError(err: unknown): void {
  let cur: unknown = err;
  for (let depth = 0; cur && depth < 8; depth++) {
    render(cur);
    if (cur instanceof Error) {
      captured.push(cur.message, cur.stack ?? '', cur.name);
      for (const key of Object.getOwnPropertyNames(cur)) {
        captured.push(`${key}=${inspect((cur as unknown as Record<string, unknown>)[key], { depth: 6 })}`);
      }
    }
    cur = cur instanceof Error ? cur.cause : undefined;
  }
}

/** A logger a user might write: prints every field with util.inspect, errors and all. */
const inspectingLogger: Logger = {
  debug: (msg, f) => captured.push(`debug ${msg} ${inspect(f, { depth: 10, showHidden: true })}`),
  info: (msg, f) => captured.push(`info ${msg} ${inspect(f, { depth: 10 })}`),
  warn: (msg, f) => captured.push(`warn ${msg} ${inspect(f, { depth: 10 })}`),
  error: (msg, f) => captured.push(`error ${msg} ${inspect(f, { depth: 10 })}`),
};

const FIXTURES = sharedUrl('fixtures/errors/');
const errorFixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json') && f !== 'INDEX.json')
  .map((f) => readFileSync(new URL(f, FIXTURES), 'utf8'));

let restoreWrites: () => void = () => {};
const servers: Server[] = [];
const agents: MockAgent[] = [];
const clients: WhatsApp[] = [];

beforeAll(() => {
  // Capture (and swallow) everything the SDK writes to the process streams or the console.
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      captured.push(String(chunk));
      return true;
    }),
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
      captured.push(String(chunk));
      return true;
    }),
    ...(['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
        captured.push(format(...args));
      }),
    ),
  ];
  restoreWrites = () => {
    for (const s of spies) s.mockRestore();
  };
});

afterAll(async () => {
  restoreWrites();
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(agents.map((a) => a.close()));
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    CLOUD_API_ACCESS_TOKEN: TOKEN,
    WA_PHONE_NUMBER_ID: PHONE_ID,
    WA_BUSINESS_ACCOUNT_ID: '102290129340398',
    WA_APP_ID: '634974688087057',
    WA_APP_SECRET: APP_SECRET,
    WEBHOOK_VERIFICATION_TOKEN: VERIFY_TOKEN,
    WACLOUD_MASTER_KEY: MASTER_KEY,
    DEBUG: 'true',
    REQUEST_TIMEOUT: '300',
    ...extra,
  };
}

function whatsapp(options: WhatsAppOptions, extraEnv: Record<string, string> = {}): WhatsApp {
  const wa = new WhatsApp({
    clock: new ManualClock(CLOCK_START),
    retry: { maxAttempts: 1 },
    ...options,
    configSource: { env: env(extraEnv), envFile: false },
  });
  clients.push(wa);
  return wa;
}

/** A MockAgent for graph.facebook.com and lookaside that answers from a script. */
function mockGraph(script: Array<(body: unknown) => { status: number; body: string | Buffer } | Error>) {
  const agent = new MockAgent();
  agent.disableNetConnect();
  agents.push(agent);
  for (const origin of ['https://graph.facebook.com', 'https://lookaside.fbsbx.com']) {
    agent
      .get(origin)
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        const next = script.shift();
        const r = next ? next(opts.body) : { status: 200, body: '{"success":true}' };
        if (r instanceof Error) throw r;
        return {
          statusCode: r.status,
          data: r.body,
          responseOptions: {
            headers: {
              'content-type': 'application/json',
              'x-fb-trace-id': 'TRACE',
              'x-app-usage': '{"call_count":1,"total_cputime":1,"total_time":1}',
            },
          },
        };
      })
      .persist();
  }
  return agent;
}

async function settle(p: Promise<unknown>): Promise<void> {
  try {
    render(await p);
  } catch (err) {
    renderError(err);
  }
}

const sockets = new Set<Socket>();
async function rawServer(onSocket: (s: Socket) => void): Promise<string> {
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const ok = () => ({
  status: 200,
  body: JSON.stringify({ messaging_product: 'whatsapp', messages: [{ id: 'wamid.X' }] }),
});

describe('no secret ever leaks (DEBUG=true)', () => {
  it('successful calls, every Graph error, token rotation: nothing in logs or renders', async () => {
    const script: Parameters<typeof mockGraph>[0] = [];
    const agent = mockGraph(script);
    const transport = createUndiciTransport({ dispatcher: agent });
    for (const mode of ['classic', 'timestamped'] as const) {
      const wa = whatsapp({ transport, logger: inspectingLogger, appSecretProof: mode });
      render(wa);
      render(wa.graph);
      // Successes of each shape: JSON, multipart, bytes.
      script.push(ok, ok, () => ({ status: 200, body: '{"id":"1"}' }));
      await settle(wa.messages.text({ to: TO, body: 'hello' }));
      await settle(wa.messages.template({ to: TO, name: 'hello_world' }));
      await settle(wa.media.upload({ data: new Uint8Array([1, 2, 3]), mimeType: 'image/png' }));
      script.push(
        () => ({
          status: 200,
          body: JSON.stringify({
            url: 'https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1',
            mime_type: 'image/png',
            id: '1',
          }),
        }),
        () => ({ status: 200, body: Buffer.from([0, 1, 2]) }),
      );
      await settle(wa.media.download('1'));
      // Every Graph error fixture, and errors that echo the token back.
      for (const text of errorFixtures) {
        script.push(() => ({ status: 400, body: text }));
        await settle(wa.messages.text({ to: TO, body: 'x' }));
      }
      for (const message of [
        `Malformed access token ${TOKEN}`,
        `Invalid appsecret_proof provided in the API argument: appsecret_proof=${hmac(TOKEN)}`,
        `Bearer ${TOKEN} rejected`,
      ]) {
        script.push(() => ({
          status: 400,
          body: JSON.stringify({ error: { message, code: 190, fbtrace_id: 'x' } }),
        }));
        await settle(wa.media.getUrl('1'));
      }
      for (const body of ['', '<html>oops</html>', 'plain', '{"error":"str"}']) {
        script.push(() => ({ status: 502, body }));
        await settle(wa.messages.text({ to: TO, body: 'x' }));
      }
      // Mock-level socket errors of every kind.
      for (const code of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_HEADERS_TIMEOUT', 'ENOTFOUND', 'EWEIRD']) {
        script.push(() => Object.assign(new Error(`failed ${code}`), { code }));
        await settle(wa.messages.text({ to: TO, body: 'x' }));
      }
    }

    // A provider client rotating TOKEN → TOKEN_2 on a 190, with debug logging and retries.
    const rotating = whatsapp({
      transport,
      logger: inspectingLogger,
      retry: { maxAttempts: 2 },
      tokenProvider: {
        getToken: () => new Secret(TOKEN),
        onTokenRejected: async () => new Secret(TOKEN_2),
      },
    });
    script.push(
      () => ({ status: 401, body: errorFixtures.find((t) => t.includes('463'))! }),
      () => ({ status: 429, body: '{"error":{"message":"throttled","code":4}}' }),
    );
    const pending = rotating.messages.text({ to: TO, body: 'x' });
    await (rotating.graph.clock as ManualClock).advance(0);
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setImmediate(r));
      await (rotating.graph.clock as ManualClock).advance(60_000);
    }
    await settle(pending);
    render(rotating);

    expect(captured.some((line) => line.includes('graph response'))).toBe(true);
    expectNoSecrets(captured.join('\n'), secrets(), 'captured output');
  });

  it('the default DEBUG logger (stderr) and the JSON logger with careless fields', async () => {
    const before = captured.length;
    const script: Parameters<typeof mockGraph>[0] = [ok, () => ({ status: 400, body: errorFixtures[0]! })];
    const wa = whatsapp({ transport: createUndiciTransport({ dispatcher: mockGraph(script) }) });
    await settle(wa.messages.text({ to: TO, body: 'x' }));
    await settle(wa.messages.text({ to: TO, body: 'x' }));
    const logger = createJsonLogger({ level: 'debug' });
    const err = Object.assign(new Error(`auth failed for ${TOKEN}`), { code: 'X' });
    logger.debug('fields', {
      token: new Secret(TOKEN),
      url: `https://graph.facebook.com/v26.0/me?access_token=${TOKEN}&appsecret_proof=${hmac(TOKEN)}`,
      header: `Bearer ${TOKEN_2}`,
      err,
      nested: { deeper: { secret: new Secret(APP_SECRET, 'app-secret') } },
    });
    logger.error('careless message with a token inline: EAAJleakTestTokenQWERTYuiop0123456789asdfghJKL');
    const out = captured.slice(before).join('\n');
    expect(out).toContain('graph response');
    expect(out).toContain('[redacted]');
    expectNoSecrets(out, secrets(), 'stderr');
  });

  it('transport errors over real sockets (refused, reset, echoing garbage, timeout), both transports', async () => {
    const before = captured.length;
    const closed = await rawServer((s) => s.destroy());
    const closedUrl = closed;
    // Close it again to get a refused port.
    await new Promise<void>((r) => servers.pop()!.close(() => r()));
    const reset = await rawServer((s) => s.once('data', () => s.resetAndDestroy()));
    // The nastiest case: a broken server that echoes our request (Authorization header included) as non-HTTP.
    const echo = await rawServer((s) => s.once('data', (d) => s.end(Buffer.concat([Buffer.from('XX '), d]))));
    const silent = await rawServer(() => {});
    for (const transport of [undefined, createFetchTransport(globalThis.fetch)]) {
      for (const url of [closedUrl, reset, echo, silent]) {
        const wa = whatsapp(
          { logger: inspectingLogger, ...(transport ? { transport } : {}) },
          { WA_GRAPH_URL: url, REQUEST_TIMEOUT: '200' },
        );
        await settle(wa.messages.text({ to: TO, body: 'x' }));
        await settle(wa.media.getUrl('1'));
      }
    }
    expectNoSecrets(captured.slice(before).join('\n'), secrets(), 'transport errors');
  });

  it('validation errors and config errors, with every secret configured', async () => {
    const before = captured.length;
    const wa = whatsapp({ transport: createFetchTransport(async () => Response.json({})) });
    for (const bad of [
      { to: TO, type: 'nope' },
      { type: 'text', text: { body: 'x' } },
      { to: TOKEN, type: 'text', text: { body: 'x' } },
      { to: TO, text: { body: 'x'.repeat(5000) } },
      { to: TO, type: 'image', image: { link: `not a url ${TOKEN}` } },
    ]) {
      await settle(wa.messages.send(bad as never));
    }
    await settle(wa.registration.register({ pin: APP_SECRET }));
    await settle(wa.registration.verifyCode(TOKEN));
    // Config errors, including secrets pasted into the wrong variable.
    for (const extra of <Array<Record<string, string>>>[
      { WA_PHONE_NUMBER_ID: 'abc' },
      { REQUEST_TIMEOUT: '-1' },
      { WA_GRAPH_URL: 'http://graph.example.com' },
      { WA_GRAPH_URL: `https://graph.facebook.com/?access_token=${TOKEN}` },
      { CLOUD_API_VERSION: 'v9' },
      { CLOUD_API_VERSION: TOKEN },
      { DEBUG: 'maybe' },
      { DATABASE_URL: `mysql://root:${APP_SECRET}@db/x` },
      { WA_APP_ID: APP_SECRET },
      { WA_PHONE_NUMBER_ID: TOKEN },
      { WA_LISTENER_PORT: APP_SECRET },
      { WEBHOOK_ENDPOINT: VERIFY_TOKEN },
    ]) {
      try {
        whatsapp({}, extra);
        throw new Error(`expected a ConfigError for ${Object.keys(extra)[0]}`);
      } catch (err) {
        expect((err as Error).name).toBe('ConfigError');
        renderError(err);
      }
    }
    render(loadConfig({}, { env: env(), envFile: false }));
    render(new GraphClient({ accessToken: TOKEN, appSecret: APP_SECRET }));
    render(new Secret(TOKEN));
    expectNoSecrets(captured.slice(before).join('\n'), secrets(), 'validation and config errors');
  });
});
