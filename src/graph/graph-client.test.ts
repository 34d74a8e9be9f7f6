import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mockGraph, netError } from '../../test/support/mock-graph.js';
import { ManualClock } from '../core/clock.js';
import { ConfigError, WacloudError } from '../core/errors.js';
import {
  type GraphError,
  GraphInvalidParameterError,
  GraphThrottledError,
  GraphTokenExpiredError,
  GraphTransientError,
  GraphUnknownError,
} from '../core/graph-error.js';
import type { LogFields } from '../core/logger.js';
import { Secret } from '../core/secret.js';
import { TransportError } from '../transport/transport-error.js';
import { createUndiciTransport } from '../transport/undici-transport.js';
import { GraphClient, type GraphClientOptions, type TokenProvider } from './graph-client.js';

const GRAPH = 'https://graph.facebook.com';
const TOKEN = 'EAAGraphClientTestTokenAbcdefghijklmnop012345';
const TOKEN_2 = 'EAAGraphClientRotatedTokenQrstuvwxyz6789012';
const APP_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

/** A MockGraph with a GraphClient factory on its transport. */
function mock(origins: string[] = [GRAPH]) {
  const m = mockGraph(origins);
  return Object.assign(m, {
    client: (options: GraphClientOptions = {}) =>
      new GraphClient({ accessToken: TOKEN, transport: m.transport, ...options }),
  });
}

function hmac(key: string, message: string): string {
  return createHmac('sha256', key).update(message).digest('hex');
}

/** Lets pending I/O and microtasks run until `cond` holds (bounded: a stuck test fails instead of hanging). */
async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A ManualClock that records how long each sleep asked for. */
class RecordingClock extends ManualClock {
  readonly sleeps: number[] = [];
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return super.sleep(ms, signal);
  }
}

/** Runs `p` to completion, advancing the clock whenever the client sleeps. */
async function drive<T>(p: Promise<T>, clock: ManualClock): Promise<T> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let i = 0; i < 2000 && !done; i++) {
    await new Promise((r) => setImmediate(r));
    if (clock.pendingSleepers > 0) await clock.advance(3_600_000);
  }
  return p;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const THROTTLED = {
  status: 429,
  body: { error: { message: '(#4) Application request limit reached', code: 4, fbtrace_id: 'T4' } },
};
const TRANSIENT = {
  status: 500,
  body: { error: { message: 'Please retry', code: 2, is_transient: true, fbtrace_id: 'T2' } },
};
const EXPIRED = {
  status: 401,
  body: { error: { message: 'Session has expired', code: 190, error_subcode: 463, fbtrace_id: 'T190' } },
};

describe('GraphClient: requests', () => {
  it('sends the token as a bearer header, asks for JSON, and returns the parsed body', async () => {
    const m = mock();
    m.script.push({ body: { id: '42', name: 'x' } });
    const res = await m.client().request({ method: 'GET', path: '106540352242922' });
    expect(res.data).toEqual({ id: '42', name: 'x' });
    expect(res.status).toBe(200);
    const [seen] = m.seen;
    expect(seen!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(seen!.headers.accept).toBe('application/json');
    // The token never travels in the URL.
    expect(seen!.url.search).not.toContain(TOKEN);
  });

  it('accepts the token as a Secret', async () => {
    const m = mock();
    await m.client({ accessToken: new Secret(TOKEN) }).get('me');
    expect(m.seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('sends no token with auth: none, and a per-request token over the client one', async () => {
    const m = mock();
    const client = m.client({ appSecret: APP_SECRET });
    await client.get('oauth/access_token', { client_id: '1' }, { auth: 'none' });
    expect(m.seen[0]!.headers.authorization).toBeUndefined();
    expect(m.seen[0]!.url.searchParams.get('appsecret_proof')).toBeNull();
    await client.get('me', undefined, { token: new Secret(TOKEN_2) });
    expect(m.seen[1]!.headers.authorization).toBe(`Bearer ${TOKEN_2}`);
    expect(m.seen[1]!.url.searchParams.get('appsecret_proof')).toBe(hmac(APP_SECRET, TOKEN_2));
  });

  it('builds versioned paths on the default base, with or without a leading slash', async () => {
    const m = mock();
    const client = m.client();
    expect(client.apiVersion).toBe('v26.0');
    await client.get('106540352242922/messages');
    await client.get('/106540352242922/phone_numbers');
    expect(m.seen.map((s) => s.url.pathname)).toEqual([
      '/v26.0/106540352242922/messages',
      '/v26.0/106540352242922/phone_numbers',
    ]);
  });

  it('uses the configured version, base URL (with a path prefix) and unversioned paths', async () => {
    const m = mock(['https://broker.example.com', 'http://127.0.0.1:4010']);
    const viaBroker = m.client({ graphUrl: 'https://broker.example.com/graph/', apiVersion: 'v23.0' });
    await viaBroker.get('123/messages');
    await viaBroker.get('oauth/access_token', undefined, { versioned: false });
    const local = m.client({ graphUrl: 'http://127.0.0.1:4010' });
    await local.get('123');
    expect(m.seen.map((s) => s.url.href)).toEqual([
      'https://broker.example.com/graph/v23.0/123/messages',
      'https://broker.example.com/graph/oauth/access_token',
      'http://127.0.0.1:4010/v26.0/123',
    ]);
    expect(viaBroker.url('x')).toBe('https://broker.example.com/graph/v23.0/x');
  });

  it('rejects a bad version or a non-loopback http base before any request', () => {
    expect(() => new GraphClient({ apiVersion: '23.0' })).toThrow(WacloudError);
    expect(() => new GraphClient({ apiVersion: 'v23' })).toThrow(/apiVersion/);
    expect(() => new GraphClient({ graphUrl: 'http://graph.example.com' })).toThrow(ConfigError);
  });

  it('encodes query values and drops undefined / null ones', async () => {
    const m = mock();
    await m
      .client()
      .get('123/message_templates', { name: 'a b&c=d', limit: 5, flag: true, after: undefined, x: null });
    const q = m.seen[0]!.url.searchParams;
    expect(q.get('name')).toBe('a b&c=d');
    expect(q.get('limit')).toBe('5');
    expect(q.get('flag')).toBe('true');
    expect(q.has('after')).toBe(false);
    expect(q.has('x')).toBe(false);
  });

  it('sends JSON bodies', async () => {
    const m = mock();
    const payload = { messaging_product: 'whatsapp', to: '+16505551234', text: { body: 'héllo ✓' } };
    await m.client().post('123/messages', payload);
    const seen = m.seen[0]!;
    expect(seen.method).toBe('POST');
    expect(seen.headers['content-type']).toBe('application/json');
    expect(JSON.parse(String(seen.body))).toEqual(payload);
  });

  it('sends form bodies', async () => {
    const m = mock();
    await m.client().request({
      method: 'POST',
      path: 'oauth/access_token',
      form: { grant_type: 'fb_exchange_token', client_id: '123', note: 'a&b=c d', skip: undefined },
    });
    const seen = m.seen[0]!;
    expect(seen.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(String(seen.body));
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'fb_exchange_token',
      client_id: '123',
      note: 'a&b=c d',
    });
  });

  it('sends multipart bodies that a standard parser reads back, binary file intact', async () => {
    const m = mock();
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    await m.client().request({
      method: 'POST',
      path: '123/media',
      multipart: [
        { name: 'messaging_product', value: 'whatsapp' },
        { name: 'type', value: 'image/png' },
        { name: 'file', filename: 'pic "1".png', contentType: 'image/png', data: bytes },
      ],
    });
    const seen = m.seen[0]!;
    const contentType = seen.headers['content-type']!;
    expect(contentType).toMatch(/^multipart\/form-data; boundary=/);
    const form = await new Response(Buffer.from(seen.body as Uint8Array) as unknown as BodyInit, {
      headers: { 'content-type': contentType },
    }).formData();
    expect(form.get('messaging_product')).toBe('whatsapp');
    expect(form.get('type')).toBe('image/png');
    const file = form.get('file') as File;
    expect(file.type).toBe('image/png');
    expect(file.name).toContain('pic');
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes);
  });

  it('reads binary responses byte for byte', async () => {
    const m = mock();
    const bytes = Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) % 256);
    m.script.push({ body: bytes, headers: { 'content-type': 'image/jpeg' } });
    const res = await m.client().request<Uint8Array>({ method: 'GET', path: 'x', responseType: 'bytes' });
    expect(res.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(res.data).equals(Buffer.from(bytes))).toBe(true);
    expect(res.headers['content-type']).toBe('image/jpeg');
  });

  it('treats an empty 200 as {}', async () => {
    const m = mock();
    m.script.push({ body: '' });
    expect(await m.client().post('123/deregister', {})).toEqual({});
  });

  it('without any token, fails before a request is made', async () => {
    const m = mock();
    const client = new GraphClient({ transport: createUndiciTransport({ dispatcher: m.agent }) });
    expect(client.hasToken).toBe(false);
    const err = await rejection(client.get('me'));
    expect(err).toBeInstanceOf(WacloudError);
    expect((err as WacloudError).code).toBe('TOKEN_UNAVAILABLE');
    expect(m.seen).toHaveLength(0);
  });

  it('setAccessToken takes effect on the next request', async () => {
    const m = mock();
    const client = m.client();
    await client.get('me');
    client.setAccessToken(TOKEN_2);
    await client.get('me');
    expect(m.seen.map((s) => s.headers.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN_2}`]);
  });
});

describe('GraphClient: appsecret_proof', () => {
  it('classic: HMAC-SHA256(app secret, token), no appsecret_time', async () => {
    const m = mock();
    await m.client({ appSecret: APP_SECRET }).get('me', { fields: 'id' });
    const q = m.seen[0]!.url.searchParams;
    expect(q.get('appsecret_proof')).toBe(hmac(APP_SECRET, TOKEN));
    expect(q.has('appsecret_time')).toBe(false);
    expect(q.get('fields')).toBe('id');
  });

  it('time-stamped: HMAC(token|time) with appsecret_time from the injected clock', async () => {
    const m = mock();
    const clock = new ManualClock(Date.UTC(2026, 4, 1, 12, 0, 0, 750));
    const client = m.client({ appSecret: new Secret(APP_SECRET), appSecretProof: 'timestamped', clock });
    await client.get('me');
    await clock.advance(61_000);
    await client.get('me');
    const t1 = Math.floor(Date.UTC(2026, 4, 1, 12, 0, 0) / 1000);
    const t2 = t1 + 61;
    const [a, b] = m.seen.map((s) => s.url.searchParams);
    expect(a!.get('appsecret_time')).toBe(String(t1));
    expect(a!.get('appsecret_proof')).toBe(hmac(APP_SECRET, `${TOKEN}|${t1}`));
    expect(b!.get('appsecret_time')).toBe(String(t2));
    expect(b!.get('appsecret_proof')).toBe(hmac(APP_SECRET, `${TOKEN}|${t2}`));
  });

  it('is off without an app secret, or when turned off', async () => {
    const m = mock();
    await m.client().get('me');
    await m.client({ appSecret: APP_SECRET, appSecretProof: 'off' }).get('me');
    for (const s of m.seen) expect(s.url.searchParams.has('appsecret_proof')).toBe(false);
  });

  it('follows a token rotation', async () => {
    const m = mock();
    const client = m.client({ appSecret: APP_SECRET });
    await client.get('me');
    client.setAccessToken(TOKEN_2);
    await client.get('me');
    expect(m.seen.map((s) => s.url.searchParams.get('appsecret_proof'))).toEqual([
      hmac(APP_SECRET, TOKEN),
      hmac(APP_SECRET, TOKEN_2),
    ]);
  });
});

describe('GraphClient: usage headers', () => {
  const appUsage = '{"call_count":28,"total_cputime":25,"total_time":25}';
  const bucUsage =
    '{"102290129340398":[{"type":"whatsapp_business_management","call_count":1,"total_cputime":2,"total_time":3,"estimated_time_to_regain_access":0},{"type":"whatsapp","call_count":4,"total_cputime":5,"total_time":6,"estimated_time_to_regain_access":0}]}';

  it('parses X-App-Usage and X-Business-Use-Case-Usage into the response and lastUsage', async () => {
    const m = mock();
    m.script.push({ body: {}, headers: { 'x-app-usage': appUsage, 'x-business-use-case-usage': bucUsage } });
    const client = m.client();
    const res = await client.request({ method: 'GET', path: 'me' });
    const expected = {
      app: { callCount: 28, totalCputime: 25, totalTime: 25 },
      businessUseCase: [
        {
          objectId: '102290129340398',
          type: 'whatsapp_business_management',
          callCount: 1,
          totalCputime: 2,
          totalTime: 3,
          estimatedTimeToRegainAccessMin: 0,
        },
        {
          objectId: '102290129340398',
          type: 'whatsapp',
          callCount: 4,
          totalCputime: 5,
          totalTime: 6,
          estimatedTimeToRegainAccessMin: 0,
        },
      ],
    };
    expect(res.usage).toEqual(expected);
    expect(client.lastUsage).toEqual(expected);
  });

  it('repeated usage headers share one frozen parse; changed ones are parsed again', async () => {
    const m = mock();
    const client = m.client();
    const headers = { 'x-app-usage': appUsage, 'x-business-use-case-usage': bucUsage };
    m.script.push({ body: {}, headers }, { body: {}, headers });
    const first = await client.request({ method: 'GET', path: 'me' });
    const second = await client.request({ method: 'GET', path: 'me' });
    expect(second.usage).toBe(first.usage);
    expect(Object.isFrozen(first.usage) && Object.isFrozen(first.usage.businessUseCase)).toBe(true);
    expect(Object.isFrozen(first.usage.app)).toBe(true);
    m.script.push({ body: {}, headers: { ...headers, 'x-app-usage': '{"call_count":91}' } });
    const third = await client.request({ method: 'GET', path: 'me' });
    expect(third.usage.app?.callCount).toBe(91);
    expect(third.usage.businessUseCase).toEqual(first.usage.businessUseCase);
    expect(client.lastUsage).toBe(third.usage);
  });

  it('keeps the last usage when a response has none, records it from error responses, ignores garbage', async () => {
    const m = mock();
    const client = m.client({ retry: { maxAttempts: 1 } });
    m.script.push({ body: {}, headers: { 'x-app-usage': appUsage } });
    await client.get('me');
    m.script.push({ body: {} });
    const plain = await client.request({ method: 'GET', path: 'me' });
    expect(plain.usage).toEqual({ app: undefined, businessUseCase: [] });
    expect(client.lastUsage?.app?.callCount).toBe(28);
    m.script.push({ ...THROTTLED, headers: { 'x-app-usage': '{"call_count":100}' } });
    await rejection(client.get('me'));
    expect(client.lastUsage?.app?.callCount).toBe(100);
    m.script.push({ body: {}, headers: { 'x-app-usage': 'not json', 'x-business-use-case-usage': '[1' } });
    const garbage = await client.request({ method: 'GET', path: 'me' });
    expect(garbage.usage).toEqual({ app: undefined, businessUseCase: [] });
  });
});

describe('GraphClient: errors', () => {
  it('throws typed Graph errors with fbtrace_id and path', async () => {
    const m = mock();
    m.script.push({
      status: 400,
      body: { error: { message: 'Invalid parameter', type: 'OAuthException', code: 100, fbtrace_id: 'AbC' } },
    });
    const err = (await rejection(m.client().post('123/messages', {}))) as GraphError;
    expect(err).toBeInstanceOf(GraphInvalidParameterError);
    expect(err.fbtraceId).toBe('AbC');
    expect(err.httpStatus).toBe(400);
    expect(err.path).toBe('123/messages');
  });

  it('types HTML, empty and non-JSON error bodies', async () => {
    const m = mock();
    const client = m.client({ retry: { maxAttempts: 1 } });
    m.script.push({
      status: 502,
      body: '<html><body>Bad Gateway</body></html>',
      headers: { 'content-type': 'text/html' },
    });
    const html = (await rejection(client.get('me'))) as GraphError;
    expect(html).toBeInstanceOf(GraphTransientError);
    expect(html.message).toContain('HTML page');
    m.script.push({ status: 503, body: '' });
    expect((await rejection(client.get('me'))).message).toContain('empty body');
    m.script.push({ status: 400, body: 'oops', headers: { 'content-type': 'text/plain' } });
    const text = (await rejection(client.get('me'))) as GraphError;
    expect(text).toBeInstanceOf(GraphUnknownError);
    expect(text.message).toContain('non-JSON');
  });

  it('a 200 that is not JSON is a typed error, not a crash', async () => {
    const m = mock();
    m.script.push({
      status: 200,
      body: '<html>captive portal</html>',
      headers: { 'content-type': 'text/html' },
    });
    const err = (await rejection(m.client().get('me'))) as GraphError;
    expect(err).toBeInstanceOf(GraphUnknownError);
    expect(err.message).toContain('not JSON');
  });

  it('a 200 carrying an error envelope is an error (some mocks and old endpoints do this)', async () => {
    const m = mock();
    m.script.push({
      status: 200,
      body: {
        error: {
          message: 'Invalid OAuth access token - Cannot parse access token',
          type: 'OAuthException',
          code: 190,
          fbtrace_id: 'Azr7Sq738VC5zzOnPvZzPwj',
        },
      },
    });
    const err = (await rejection(m.client().get('me'))) as GraphError;
    expect(err.kind).toBe('invalid-session');
    expect(err.fbtraceId).toBe('Azr7Sq738VC5zzOnPvZzPwj');
  });

  it('maps socket failures to TransportError with the failure kind', async () => {
    const m = mock();
    const client = m.client({ retry: { maxAttempts: 1 } });
    const cases: Array<[string, string, boolean]> = [
      ['ECONNREFUSED', 'connect-refused', false],
      ['ENOTFOUND', 'dns', false],
      ['UND_ERR_CONNECT_TIMEOUT', 'connect-timeout', false],
      ['ECONNRESET', 'reset', true],
      ['UND_ERR_SOCKET', 'reset', true],
      ['UND_ERR_HEADERS_TIMEOUT', 'timeout', true],
      ['UND_ERR_BODY_TIMEOUT', 'timeout', true],
      ['HPE_INVALID_CONSTANT', 'bad-response', true],
      ['EWHATEVER', 'other', true],
    ];
    for (const [code, failure, mayHaveReached] of cases) {
      m.script.push(netError(code, `boom ${code}`));
      const err = (await rejection(client.post('123/messages', {}))) as TransportError;
      expect(err, code).toBeInstanceOf(TransportError);
      expect(err.failure, code).toBe(failure);
      expect(err.mayHaveReachedServer, code).toBe(mayHaveReached);
      expect(err.code).toBe('TRANSPORT');
      expect(err.message).toContain('graph.facebook.com');
      expect(err.cause).toBeInstanceOf(Error);
    }
  });
});

describe('GraphClient: retries', () => {
  function retrying(m: ReturnType<typeof mock>, extra: GraphClientOptions = {}) {
    const clock = new RecordingClock();
    const client = m.client({ clock, random: () => 0.5, ...extra });
    return { clock, client };
  }

  it('retries a transient error on a GET with full-jitter exponential backoff, then gives up', async () => {
    const m = mock();
    m.fallback = TRANSIENT;
    const { clock, client } = retrying(m, { retry: { baseDelayMs: 200, maxAttempts: 4 } });
    const err = await rejection(drive(client.get('me'), clock));
    expect(err).toBeInstanceOf(GraphTransientError);
    expect(m.seen).toHaveLength(4);
    // random() = 0.5 of a ceiling that doubles: 200, 400, 800.
    expect(clock.sleeps).toEqual([100, 200, 400]);
  });

  it('jitter stays under the exponential ceiling, which is capped by maxDelayMs', async () => {
    const m = mock();
    m.fallback = TRANSIENT;
    const { clock, client } = retrying(m, {
      random: () => 0.999,
      retry: { baseDelayMs: 1000, maxDelayMs: 3000, maxAttempts: 5 },
    });
    await rejection(drive(client.get('me'), clock));
    expect(clock.sleeps).toEqual([999, 1998, 2997, 2997]);
  });

  it('waits for the clock: no second request before the backoff elapses', async () => {
    const m = mock();
    m.script.push(TRANSIENT, { body: { ok: true } });
    const { clock, client } = retrying(m);
    const p = client.get('me');
    await until(() => clock.pendingSleepers === 1, 'the client to sleep');
    expect(m.seen).toHaveLength(1);
    await clock.advance(124);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(m.seen).toHaveLength(1);
    await clock.advance(1);
    expect(await p).toEqual({ ok: true });
    expect(m.seen).toHaveLength(2);
  });

  it('honours Retry-After (seconds) on a throttle, even on a POST', async () => {
    const m = mock();
    m.script.push({ ...THROTTLED, headers: { 'retry-after': '7' } }, { body: { id: '1' } });
    const { clock, client } = retrying(m);
    const p = client.post('123/messages', { to: '1' });
    await until(() => clock.pendingSleepers === 1, 'the client to sleep');
    await clock.advance(6_999);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(m.seen).toHaveLength(1);
    await clock.advance(1);
    expect(await p).toEqual({ id: '1' });
    expect(clock.sleeps).toEqual([7_000]);
    expect(m.seen).toHaveLength(2);
  });

  it('honours Retry-After as an HTTP date, measured on the injected clock', async () => {
    const m = mock();
    const clock = new RecordingClock(Date.UTC(2026, 0, 1, 0, 0, 0));
    const at = new Date(Date.UTC(2026, 0, 1, 0, 0, 12)).toUTCString();
    m.script.push({ ...THROTTLED, headers: { 'retry-after': at } }, { body: {} });
    const client = m.client({ clock, random: () => 0 });
    await drive(client.get('me'), clock);
    expect(clock.sleeps).toEqual([12_000]);
  });

  it("honours the BUC header's estimated_time_to_regain_access (minutes)", async () => {
    const m = mock();
    const buc = JSON.stringify({
      '102290129340398': [
        {
          type: 'whatsapp',
          call_count: 100,
          total_cputime: 1,
          total_time: 1,
          estimated_time_to_regain_access: 1,
        },
      ],
    });
    m.script.push({ ...THROTTLED, headers: { 'x-business-use-case-usage': buc } }, { body: {} });
    const { clock, client } = retrying(m);
    await drive(client.get('me'), clock);
    expect(clock.sleeps).toEqual([60_000]);
    expect(client.lastUsage?.businessUseCase[0]?.estimatedTimeToRegainAccessMin).toBe(1);
  });

  it('does not wait out a throttle longer than maxRetryAfterMs: throws with retryAfterSec', async () => {
    const m = mock();
    const buc = JSON.stringify({
      '1': [{ type: 'whatsapp', call_count: 100, estimated_time_to_regain_access: 2 }],
    });
    m.script.push({ ...THROTTLED, headers: { 'x-business-use-case-usage': buc } });
    const { clock, client } = retrying(m);
    const err = (await rejection(drive(client.get('me'), clock))) as GraphError;
    expect(err).toBeInstanceOf(GraphThrottledError);
    expect(err.retryAfterSec).toBe(120);
    expect(m.seen).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('never retries client errors or token errors (without a provider)', async () => {
    for (const reply of [
      { status: 400, body: { error: { message: 'bad', code: 100 } } },
      EXPIRED,
      { status: 403, body: { error: { message: 'no', code: 200 } } },
      { status: 400, body: { error: { message: 'policy', code: 368 } } },
      { status: 404, body: { error: { message: 'nope', code: 803 } } },
    ]) {
      const m = mock();
      m.fallback = reply;
      const { clock, client } = retrying(m);
      await rejection(drive(client.get('me'), clock));
      expect(m.seen, JSON.stringify(reply)).toHaveLength(1);
      expect(clock.sleeps).toEqual([]);
    }
  });

  it('retries a refused connection on a POST: the request never left', async () => {
    const m = mock();
    m.script.push(netError('ECONNREFUSED'), { body: { messages: [{ id: 'wamid.1' }] } });
    const { clock, client } = retrying(m);
    const res = await drive(client.post('123/messages', { to: '1' }), clock);
    expect(res).toEqual({ messages: [{ id: 'wamid.1' }] });
    expect(m.seen).toHaveLength(2);
  });

  it('retries resets and timeouts on GET and DELETE (idempotent)', async () => {
    for (const [method, code] of [
      ['GET', 'ECONNRESET'],
      ['DELETE', 'UND_ERR_HEADERS_TIMEOUT'],
    ] as const) {
      const m = mock();
      m.script.push(netError(code), { body: { success: true } });
      const { clock, client } = retrying(m);
      await drive(client.request({ method, path: '1' }), clock);
      expect(m.seen, method).toHaveLength(2);
    }
  });

  it('never re-sends a POST that may have reached Graph: reset, timeout, transient 5xx', async () => {
    for (const reply of [netError('ECONNRESET'), netError('UND_ERR_HEADERS_TIMEOUT'), TRANSIENT]) {
      const m = mock();
      m.script.push(reply);
      const { clock, client } = retrying(m);
      await rejection(drive(client.post('123/messages', { to: '1' }), clock));
      expect(m.seen).toHaveLength(1);
      expect(clock.sleeps).toEqual([]);
    }
  });

  it("retry: 'idempotent' opts a POST into retrying transient failures", async () => {
    const m = mock();
    m.script.push(netError('ECONNRESET'), TRANSIENT, { body: { ok: 1 } });
    const { clock, client } = retrying(m);
    const res = await drive(client.post('x', {}, { retry: 'idempotent' }), clock);
    expect(res).toEqual({ ok: 1 });
    expect(m.seen).toHaveLength(3);
  });

  it("retry: 'never' does not retry even a throttle", async () => {
    const m = mock();
    m.fallback = THROTTLED;
    const { clock, client } = retrying(m);
    await rejection(drive(client.get('me', undefined, { retry: 'never' }), clock));
    expect(m.seen).toHaveLength(1);
  });

  it('an abort stops the backoff sleep and is not retried', async () => {
    const m = mock();
    m.fallback = TRANSIENT;
    const { clock, client } = retrying(m);
    const controller = new AbortController();
    const p = client.get('me', undefined, { signal: controller.signal });
    await until(() => clock.pendingSleepers === 1, 'the client to sleep');
    controller.abort(new Error('caller gave up'));
    const err = await rejection(p);
    expect(err.message).toBe('caller gave up');
    expect(m.seen).toHaveLength(1);
    expect(clock.pendingSleepers).toBe(0);
  });

  it('logs each retry at debug level when debug is on, without the token', async () => {
    const m = mock();
    m.script.push(TRANSIENT, { body: {} });
    const lines: Array<[string, LogFields | undefined]> = [];
    const logger = {
      debug: (msg: string, f?: LogFields) => lines.push([msg, f]),
      info: () => {},
      warn: () => {},
      error: () => {},
    };
    const { clock, client } = retrying(m, { debug: true, logger });
    await drive(client.get('me'), clock);
    const retry = lines.find(([msg]) => msg === 'graph retry');
    expect(retry?.[1]).toMatchObject({ path: 'me', attempt: 1, delayMs: 125 });
    expect(lines.filter(([msg]) => msg === 'graph response')).toHaveLength(2);
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
  });
});

describe('GraphClient: TokenProvider', () => {
  function provider(tokens: string[], onRejected?: TokenProvider['onTokenRejected']) {
    let i = 0;
    const calls = { get: 0, rejected: [] as string[] };
    const p: TokenProvider = {
      getToken: () => {
        calls.get++;
        return new Secret(tokens[Math.min(i, tokens.length - 1)]!);
      },
      ...(onRejected
        ? {
            onTokenRejected: async (token, error) => {
              calls.rejected.push(token.reveal());
              i++;
              return onRejected(token, error);
            },
          }
        : {}),
    };
    return { p, calls };
  }

  it('pulls the token on every request', async () => {
    const m = mock();
    let current = TOKEN;
    const client = m.client({
      accessToken: undefined,
      tokenProvider: { getToken: () => new Secret(current) },
    });
    expect(client.hasToken).toBe(true);
    await client.get('me');
    current = TOKEN_2;
    await client.get('me');
    expect(m.seen.map((s) => s.headers.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN_2}`]);
  });

  it('accepts an async getToken', async () => {
    const m = mock();
    const client = m.client({
      accessToken: undefined,
      tokenProvider: { getToken: async () => new Secret(TOKEN_2) },
    });
    await client.get('me');
    expect(m.seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN_2}`);
  });

  it('on a 190, retries once with the newer token from onTokenRejected', async () => {
    const m = mock();
    m.script.push(EXPIRED, { body: { id: 'me' } });
    const { p, calls } = provider([TOKEN, TOKEN_2], async () => new Secret(TOKEN_2));
    const client = m.client({ accessToken: undefined, tokenProvider: p, appSecret: APP_SECRET });
    expect(await client.get('me')).toEqual({ id: 'me' });
    expect(m.seen.map((s) => s.headers.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN_2}`]);
    // The proof is recomputed for the new token.
    expect(m.seen[1]!.url.searchParams.get('appsecret_proof')).toBe(hmac(APP_SECRET, TOKEN_2));
    expect(calls.rejected).toEqual([TOKEN]);
  });

  it('the provider gets the typed error', async () => {
    const m = mock();
    m.script.push(EXPIRED);
    let seenError: GraphError | undefined;
    const client = m.client({
      accessToken: undefined,
      tokenProvider: {
        getToken: () => new Secret(TOKEN),
        onTokenRejected: async (_t, e) => {
          seenError = e;
          return undefined;
        },
      },
    });
    const err = await rejection(client.get('me'));
    expect(err).toBeInstanceOf(GraphTokenExpiredError);
    expect(seenError).toBe(err);
  });

  it('throws when the provider answers with the same token or none', async () => {
    for (const answer of [async () => new Secret(TOKEN), async () => undefined]) {
      const m = mock();
      m.fallback = EXPIRED;
      const { p, calls } = provider([TOKEN], answer);
      const client = m.client({ accessToken: undefined, tokenProvider: p });
      const err = await rejection(client.get('me'));
      expect(err).toBeInstanceOf(GraphTokenExpiredError);
      expect(m.seen).toHaveLength(1);
      expect(calls.rejected).toHaveLength(1);
    }
  });

  it('never loops: a fresh token that is rejected too ends the request after one retry', async () => {
    const m = mock();
    m.fallback = EXPIRED;
    let n = 0;
    const { p, calls } = provider(
      [TOKEN],
      async () => new Secret(`EAAfresh${++n}TokenXXXXXXXXXXXXXXXXXXXXX`),
    );
    const clock = new RecordingClock();
    const client = m.client({ accessToken: undefined, tokenProvider: p, clock });
    const err = await rejection(drive(client.get('me'), clock));
    expect(err).toBeInstanceOf(GraphTokenExpiredError);
    expect(m.seen).toHaveLength(2);
    expect(calls.rejected).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('does not consult the provider for non-token errors or per-request tokens', async () => {
    const m = mock();
    m.script.push({ status: 400, body: { error: { message: 'bad', code: 100 } } }, EXPIRED);
    const { p, calls } = provider([TOKEN], async () => new Secret(TOKEN_2));
    const client = m.client({ accessToken: undefined, tokenProvider: p });
    await rejection(client.get('me'));
    await rejection(client.get('me', undefined, { token: new Secret('EAAexplicitTokenXXXXXXXXXXXXXXXX') }));
    expect(calls.rejected).toEqual([]);
    expect(m.seen).toHaveLength(2);
  });
});
