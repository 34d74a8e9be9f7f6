import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Broker, type BrokerOptions, createBroker } from '../../src/broker/broker.js';
import { dialogOnAnotherSite } from '../../src/broker/broker-settings.js';
import { createBrokerLogger } from '../../src/broker/logger.js';
import { type Sandbox, startSandbox } from '../../src/broker/sandbox.js';
import { generateApiKey } from '../../src/broker/security/api-key.js';
import { derive } from '../../src/cli/commands/up.js';
import { Secret } from '../../src/core/secret.js';
import { MASTER_KEY_FILE } from '../../src/vault/crypto/master-key.js';
import { consent } from '../integration/auth-support.js';
import { type CliProcess, spawnCli } from './cli-process.js';
import { until } from './poll.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from './store.js';

/** `WACLOUD_OUTBOUND_ALLOW` for tests whose subscribers listen on loopback (refused by default). */
export const LOCAL_RECEIVERS = '127.0.0.1,::1,localhost';

export interface RunningBroker {
  proc: CliProcess;
  base: string;
  emulatorUrl: string;
  /** Printed on the first start only. */
  adminKey: string | undefined;
}

/** Starts `wacloud up --port 0` (the built CLI) in `dataDir` and waits for its banner. */
export async function startBrokerProcess(dataDir: string, port = 0): Promise<RunningBroker> {
  const proc = spawnCli(['up', '--port', String(port)], {
    cwd: dataDir,
    // Test subscribers listen on loopback: allowed the way the README's quick start shows.
    env: { WACLOUD_DATA_DIR: join(dataDir, '.wacloud'), WACLOUD_OUTBOUND_ALLOW: LOCAL_RECEIVERS },
  });
  await proc.waitFor(/embedded emulator at http:\/\/\S+/, 60_000);
  const out = proc.output();
  const adminKey = /Admin key[^\n]*\n\s+(wck_\S+)/.exec(out)?.[1];
  return {
    proc,
    base: /listening on (http:\/\/\S+)/.exec(out)?.[1] as string,
    emulatorUrl: /embedded emulator at (http:\/\/\S+)/.exec(out)?.[1] as string,
    adminKey,
  };
}

/** The sandbox app's secret, from the emulator's state file in the data dir (a sandbox: it is there on purpose). */
export function sandboxAppSecret(dataDir: string): string {
  const state = JSON.parse(readFileSync(join(dataDir, '.wacloud', 'sandbox-emulator.json'), 'utf8')) as {
    seed: { appSecret: string };
  };
  return state.seed.appSecret;
}

/** A JSON client for the broker's API; `fetchImpl` (a {@link Transcript}'s, say) makes every call. */
/** What the helpers below call to reach the broker: `fetch`, or a {@link Transcript}'s. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export function api(base: string, key: string, fetchImpl: FetchLike = fetch) {
  return async <T = Record<string, unknown>>(
    path: string,
    body?: unknown,
    method = body === undefined ? 'GET' : 'POST',
  ): Promise<T> => {
    const res = await fetchImpl(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
}

/**
 * Creates a tenant and connects it through the dashboard and the sandbox's consent page; returns its ids. Every call
 * to the broker goes through `fetchImpl` (the consent page is the emulator's, fetched directly).
 */
export async function connectTenant(
  b: { base: string },
  adminKey: string,
  name: string,
  fetchImpl: FetchLike = fetch,
) {
  const call = api(b.base, adminKey, fetchImpl);
  const tenant = await call<{ id: string }>('/tenants', { name });
  const location = await connectThroughDashboard(b, adminKey, tenant.id, fetchImpl);
  if (!location.includes('flash=connected')) throw new Error(`connect failed: ${location}`);
  const numbers = await call<{ data: Array<{ id: string; wabaId: string }> }>(
    `/tenants/${tenant.id}/phone-numbers`,
  );
  return {
    tenantId: tenant.id,
    phoneNumberId: numbers.data[0]?.id as string,
    wabaId: numbers.data[0]?.wabaId as string,
  };
}

/**
 * Logs in to the dashboard, connects WhatsApp for an existing tenant through the sandbox's consent page (another
 * site) and returns where the callback sent the browser (`/tenants/{id}?flash=…`).
 */
export async function connectThroughDashboard(
  b: { base: string },
  adminKey: string,
  tenantId: string,
  fetchImpl: FetchLike = fetch,
): Promise<string> {
  let cookie = '';
  const get = async (url: string, init: RequestInit = {}) => {
    const res = await fetchImpl(url.startsWith('http') ? url : `${b.base}${url}`, {
      ...init,
      redirect: 'manual',
      headers: { cookie, ...(init.headers ?? {}) },
    });
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0] as string;
    return res;
  };
  await get('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ key: adminKey }).toString(),
  });
  const start = await get(`/connect/start?tenant=${tenantId}`);
  const callback = await consent((u, i) => fetch(u, i), start.headers.get('location') as string);
  const done = await get(callback);
  return String(done.headers.get('location'));
}

/**
 * The broker in this process, wired the way `wacloud up` wires it (src/cli/commands/up.ts): a sandbox emulator
 * listening on loopback, the vault store (SQLite, or PostgreSQL when asked), derived-looking random secrets, and its
 * JSON log lines captured (for secret scans). Tests that gain nothing from a real process use this.
 */
export interface InProcessBroker {
  broker: Broker;
  base: string;
  sandbox: Sandbox;
  home: TestStoreHome;
  adminKey: string;
  /** Every log line the broker wrote. */
  logs: string[];
  /** The secrets this broker was started with: its session signing key and webhook verify token. */
  brokerSecrets: string[];
  close(): Promise<void>;
}

export async function startInProcessBroker(
  options: { engine?: TestEngine; broker?: Partial<BrokerOptions> } = {},
): Promise<InProcessBroker> {
  const home = await createTestStoreHome(options.engine ?? 'sqlite');
  const logs: string[] = [];
  const logger = createBrokerLogger({ level: 'debug', destination: { write: (l) => logs.push(l) } });
  const sandbox = await startSandbox({ dataDir: home.dataDir, port: 0 });
  const store = await home.open({ logger });
  const verifyToken = new Secret(generateApiKey().hash, 'verify-token');
  const sessionKey = new Secret(generateApiKey().hash, 'session');
  const broker = createBroker({
    store,
    appId: sandbox.appId,
    appSecret: new Secret(sandbox.appSecret, 'app-secret'),
    graphUrl: sandbox.url,
    // The dialog on another site than the broker (localhost vs 127.0.0.1), as `wacloud up` serves it.
    dialogUrl: dialogOnAnotherSite(sandbox.url, 'http://127.0.0.1'),
    verifyToken,
    sessionKey,
    sandbox: true,
    embeddedSignupConfigId: sandbox.embeddedSignupConfigId,
    clock: sandbox.emulator.clock,
    logger,
    outboundAllow: LOCAL_RECEIVERS,
    ...options.broker,
  });
  const base = await broker.listen(0, '127.0.0.1');
  await sandbox.connect(base, '/webhook', verifyToken);
  const made = generateApiKey();
  await store.apiKeys.insert(
    { keyId: made.keyId, hash: made.hash, tenantId: null, label: 'test admin' },
    Date.now(),
  );
  let closed = false;
  return {
    broker,
    base,
    sandbox,
    home,
    adminKey: made.key.reveal(),
    logs,
    brokerSecrets: [sessionKey.reveal(), verifyToken.reveal()],
    async close() {
      if (closed) return;
      closed = true;
      await broker.close();
      await sandbox.close();
      await home.cleanup();
    },
  };
}

/**
 * Anything the broker answered, sent or logged during a test, for a secret scan at the end. `fetch` records every
 * response in full (status line, every header, the body) before handing it back; tests send all their broker traffic
 * (API, proxy, dashboard) through it, and give the SDKs it through `createFetchTransport(transcript.fetch)`.
 */
export class Transcript {
  readonly parts: string[] = [];
  /** Per part: secrets it shows on purpose (an API key or a subscription secret in its create response). */
  private readonly allowed = new Map<number, string[]>();

  add(what: string, res: { status: number; statusText?: string; headers: Headers }, text: string): void {
    const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
    this.parts.push(`${what} -> HTTP ${res.status} ${res.statusText ?? ''}\n${headers}\n\n${text}`);
  }

  /** `fetch`, recording the response; the body is read from a clone, so the caller still reads the original. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const url = input instanceof Request ? input.url : String(input);
    this.add(`${method} ${url}`, res, await res.clone().text());
    return res;
  };

  /** A request the broker made to a test server (an outbound delivery): every header and the body. */
  addReceived(what: string, headers: Record<string, string | string[] | undefined>, body: string): void {
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
    this.parts.push(`${what} <- broker\n${lines.join('\n')}\n\n${body}`);
  }

  /**
   * `secret` is shown on purpose in the latest recorded part holding it (a new key or subscription secret, shown
   * once): the scan skips it there and only there.
   */
  shownOnce(secret: string): void {
    for (let i = this.parts.length - 1; i >= 0; i--) {
      if ((this.parts[i] as string).includes(secret)) {
        this.allowed.set(i, [...(this.allowed.get(i) ?? []), secret]);
        return;
      }
    }
    throw new Error('shownOnce: no recorded response holds that secret');
  }

  text(): string {
    return this.parts
      .map((p, i) => (this.allowed.get(i) ?? []).reduce((t, s) => t.split(s).join('[shown once]'), p))
      .join('\n---\n');
  }
}

/**
 * `transcript.fetch` for a dashboard client: a session cookie is a bearer credential, shown on purpose only in the
 * Set-Cookie of the response that issued it; each one is pushed onto `secrets`, so the scan looks for it elsewhere.
 */
export function dashboardFetch(transcript: Transcript, secrets: string[]): FetchLike {
  return async (input, init) => {
    const res = await transcript.fetch(input, init);
    const value = /^[^=;]+=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
    if (value) {
      transcript.shownOnce(value);
      secrets.push(value);
    }
    return res;
  };
}

/**
 * Every secret of a `wacloud up` run on its sandbox (or against a `wacloud emulator` process), from its data dir and
 * the emulator: the master key (base64 and hex), the secrets the broker derives from it (session signing key, webhook
 * verify token), the emulator's app secrets, and
 * every token the emulator issued so far (the seeded one included). Waits until the emulator's state file has caught
 * up with its live token count (it is written at most every 200 ms).
 */
export async function brokerRunSecrets(
  dataDir: string,
  emulatorUrl: string,
  /** The emulator's state file: the sandbox's by default, or that of a `wacloud emulator --state FILE` process. */
  emulatorStateFile = join(dataDir, '.wacloud', 'sandbox-emulator.json'),
): Promise<{ all: string[]; metaTokens: string[]; masterKey: string; sessionKey: string }> {
  const dir = join(dataDir, '.wacloud');
  const live = async () =>
    ((await (await fetch(`${emulatorUrl}/_emulator/state`)).json()) as { tokens: number }).tokens;
  type Saved = {
    seed?: { accessToken: string; appSecret: string };
    apps: Array<{ secret: string }>;
    tokens: Array<{ value: string }>;
  };
  const state = await until(
    'the emulator state file to catch up with its tokens',
    async () => {
      const saved = JSON.parse(readFileSync(emulatorStateFile, 'utf8')) as Saved;
      return saved.tokens.length >= (await live()) ? saved : undefined;
    },
    10_000,
  );
  const masterKey = (JSON.parse(readFileSync(join(dir, MASTER_KEY_FILE), 'utf8')) as { key: string }).key;
  const keyBytes = Buffer.from(masterKey, 'base64');
  const sessionKey = derive(keyBytes, 'session').reveal();
  const metaTokens = [
    ...new Set([...(state.seed ? [state.seed.accessToken] : []), ...state.tokens.map((t) => t.value)]),
  ];
  const all = [
    masterKey,
    keyBytes.toString('hex'),
    keyBytes.toString('base64url'),
    sessionKey,
    derive(keyBytes, 'verify-token').reveal(),
    ...(state.seed ? [state.seed.appSecret] : []),
    ...state.apps.map((a) => a.secret),
    ...metaTokens,
  ];
  return { all, metaTokens, masterKey, sessionKey };
}

/**
 * Every secret the sandbox world holds: its app secret and every token the emulator ever minted or exchanged, and the
 * broker's own session signing key and verify token.
 */
export function sandboxSecrets(h: InProcessBroker): string[] {
  const emu = h.sandbox.emulator;
  return [emu.seed?.appSecret ?? '', ...[...emu.state.tokens.keys()], ...h.brokerSecrets];
}

/**
 * Two tenants on one in-process broker, each connected through the consent page with its own user, WABA and phone
 * number, each with a tenant API key, an outbound subscription, a template it created through the proxy, a message
 * sent through the proxy, and the inbound status webhooks that message produced (inbox rows and deliveries).
 */
export interface TenantWorld {
  tenantId: string;
  name: string;
  key: string;
  keyId: string;
  credentialId: string;
  phoneNumberId: string;
  displayNumber: string;
  wabaId: string;
  userId: string;
  templateId: string;
  subscriptionId: string;
  subscriptionUrl: string;
  subscriptionSecret: string;
  deliveryId: string;
  inboxId: string;
}

export async function control(h: InProcessBroker, path: string, body?: unknown) {
  const res = await fetch(`${h.sandbox.url}/_emulator/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`control ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export async function setUpTenant(
  h: InProcessBroker,
  name: string,
  subscriberBase: string,
  fresh: boolean,
): Promise<TenantWorld> {
  const emu = h.sandbox.emulator;
  const seed = emu.seed as NonNullable<typeof emu.seed>;
  let userId = seed.userId;
  if (fresh) {
    // Its own user, WABA and number, so the two tenants share nothing at Meta either.
    const waba = emu.world.createWaba({ businessId: seed.businessId });
    emu.world.createPhoneNumber({ wabaId: waba.id, allowedRecipients: [seed.recipient] });
    userId = emu.world.createUser({ businessIds: [seed.businessId], wabaIds: [waba.id] }).id;
  }
  await control(h, 'dialog/user', { user_id: userId });
  const call = api(h.base, h.adminKey);
  const ids = await connectTenant(h, h.adminKey, name);
  const made = await call<{ key: string; keyId: string }>('/api-keys', {
    tenantId: ids.tenantId,
    label: `${name} service`,
  });
  const mine = api(h.base, made.key);
  const credentialId = (await mine<{ data: Array<{ id: string }> }>(`/tenants/${ids.tenantId}/credentials`))
    .data[0]?.id as string;
  const subscriptionUrl = `${subscriberBase}/${name.toLowerCase()}-hooks-${made.keyId}`;
  const sub = await mine<{ id: string; secret: string }>(`/tenants/${ids.tenantId}/subscriptions`, {
    url: subscriptionUrl,
    events: [],
  });
  const graph = async (path: string, body: unknown) => {
    const res = await fetch(`${h.base}/graph/v26.0/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${made.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`proxy ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const template = await graph(`${ids.wabaId}/message_templates`, {
    name: `${name.toLowerCase()}_notice`,
    language: 'en_US',
    category: 'UTILITY',
    components: [{ type: 'BODY', text: `Hello from ${name}` }],
  });
  // Statuses come 0.2/1/3 s after a send by default; short delays keep set-up quick and the world still afterwards.
  await control(h, 'webhooks/config', { status_delays_ms: { sent: 0, delivered: 20, read: 40 } });
  await graph(`${ids.phoneNumberId}/messages`, {
    messaging_product: 'whatsapp',
    to: seed.recipient,
    type: 'text',
    text: { body: `hello from ${name}` },
  });
  // The emulator reports sent/delivered/read; wait until the broker has routed them and delivered them onward.
  const { deliveryId, inboxId } = await until(
    `${name}: the webhooks routed by the broker and delivered to its subscriber`,
    async () => {
      const deliveries = await call<{ data: Array<{ id: string; status: string }> }>(
        `/tenants/${ids.tenantId}/deliveries`,
      );
      // sent, delivered and read: three webhooks in, three deliveries out.
      const done = deliveries.data.filter((d) => d.status === 'delivered');
      const hooks = await call<{ data: Array<{ id: string; tenantId: string | null; status: string }> }>(
        '/webhooks',
      );
      const mine = hooks.data.filter((w) => w.tenantId === ids.tenantId && w.status === 'done');
      const deliveryId = done.length >= 3 ? done[0]?.id : undefined;
      const inboxId = mine.length >= 3 ? mine[0]?.id : undefined;
      return deliveryId && inboxId ? { deliveryId, inboxId } : undefined;
    },
    20_000,
  );
  const number = (
    await call<{ data: Array<{ id: string; displayPhoneNumber: string }> }>(
      `/tenants/${ids.tenantId}/phone-numbers`,
    )
  ).data[0];
  return {
    tenantId: ids.tenantId,
    name,
    key: made.key,
    keyId: made.keyId,
    credentialId,
    phoneNumberId: ids.phoneNumberId,
    displayNumber: String(number?.displayPhoneNumber ?? ''),
    wabaId: ids.wabaId,
    userId,
    templateId: String(template.id),
    subscriptionId: sub.id,
    subscriptionUrl,
    subscriptionSecret: sub.secret,
    deliveryId,
    inboxId,
  };
}

/** A Prometheus text exposition, parsed: `value(name, labels)` sums the samples whose labels include `labels`. */
export function parseMetrics(text: string) {
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return {
    samples,
    /** The sum over matching samples; undefined when none matches (a metric that is not there at all). */
    value(name: string, labels: Record<string, string> = {}): number | undefined {
      const hits = samples.filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );
      return hits.length === 0 ? undefined : hits.reduce((a, s) => a + s.value, 0);
    },
  };
}
