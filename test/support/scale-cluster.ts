import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { BrokerStore } from '../../src/broker/ports.js';
import { generateApiKey } from '../../src/broker/security/api-key.js';
import { Secret } from '../../src/core/secret.js';
import { openStore, type Store } from '../../src/store/open-store.js';
import { LOCAL_RECEIVERS } from './broker.js';
import { type CliProcess, spawnCli } from './cli-process.js';
import { passThrough } from './raw-http.js';

/**
 * The scale-out harness (issue #8): one standalone emulator process, N `wacloud up` processes on one fresh PostgreSQL
 * database with one master key, and the same store opened in the test process (to seed and to inspect rows).
 */

const DAY_MS = 86_400_000;
/** The token manager's default renewal window for 60-day system-user tokens (TokenPolicies.renewBeforeExpiryMs). */
export const RENEW_BEFORE_EXPIRY_MS = 10 * DAY_MS;

/** A database created for one test file; `drop()` removes it (and any connection still open to it). */
export interface ScaleDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** CREATE DATABASE wacloud_scale_<random> next to `serverUrl`'s database: isolates tables and LISTEN/NOTIFY. */
export async function createScaleDatabase(serverUrl: string): Promise<ScaleDatabase> {
  const name = `wacloud_scale_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface EmulatorSeedInfo {
  url: string;
  appId: string;
  appSecret: string;
  businessId: string;
  systemUserId: string;
  wabaId: string;
  phoneNumberId: string;
}

export interface EmulatorProcess extends EmulatorSeedInfo {
  proc: CliProcess;
  /** Calls the control API; throws on a non-2xx answer. */
  control<T = Record<string, unknown>>(path: string, body?: unknown, method?: string): Promise<T>;
  /** Renewals seen by the emulator: `fb_exchange_token` calls to /oauth/access_token (any method). */
  renewals(): Promise<number>;
}

/** Starts `wacloud emulator --port 0 --json` and reads its seed from the JSON banner. */
export async function startEmulatorProcess(): Promise<EmulatorProcess> {
  const proc = spawnCli(['emulator', '--port', '0', '--json']);
  const m = await proc.waitFor(/^\{[\s\S]*?\n\}$/m, 30_000);
  const seed = JSON.parse(m[0]) as EmulatorSeedInfo;
  const control = async <T>(path: string, body?: unknown, method?: string): Promise<T> => {
    const res = await fetch(`${seed.url}/_emulator${path}`, {
      method: method ?? (body === undefined ? 'GET' : 'POST'),
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`emulator ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  return {
    ...seed,
    proc,
    control,
    async renewals() {
      const counters = await control<Record<string, number>>('/counters');
      let n = 0;
      for (const [k, v] of Object.entries(counters))
        if (/oauth\/access_token grant_type=fb_exchange_token$/.test(k)) n += v;
      return n;
    },
  };
}

export interface BrokerInstance {
  /** WACLOUD_INSTANCE_ID: the lease owner name in the store. */
  id: string;
  proc: CliProcess;
  base: string;
}

export interface ClusterOptions {
  instances: number;
  /** Server URL (any database); a fresh database is created on it. */
  serverUrl: string;
  /** Extra environment for every instance (lease, poll, ...). */
  env?: Record<string, string>;
  /** Put a recording proxy between the instances and the emulator (which token each Graph call carried). */
  recordGraph?: boolean;
  /** REDIS_URL for every instance: per-number send limits shared through this Redis. Unset: no Redis. */
  redisUrl?: string;
}

export interface ScaleCluster {
  db: ScaleDatabase;
  emulator: EmulatorProcess;
  /** With `recordGraph`: every Graph call the instances made. */
  recorder: GraphRecorder | undefined;
  instances: BrokerInstance[];
  /** The same store as the instances, opened in the test process with the same master key. */
  store: Store;
  /** The same store through the broker's ports (tenants, phone numbers, API keys). */
  broker: BrokerStore;
  /** Raw SQL on the cluster's database. */
  sql: pg.Pool;
  adminKey: string;
  env: Record<string, string>;
  /** Starts one more instance (also used to restart a killed one). */
  startInstance(id: string): Promise<BrokerInstance>;
  stop(): Promise<void>;
}

/** A free-standing broker process with the cluster's environment; waits for its banner. */
async function startBroker(
  env: Record<string, string>,
  id: string,
  dataDir: string,
): Promise<BrokerInstance> {
  const proc = spawnCli(['up', '--port', '0', '--log-level', 'warn'], {
    cwd: dataDir,
    env: { ...env, WACLOUD_INSTANCE_ID: id, WACLOUD_DATA_DIR: join(dataDir, id) },
  });
  const m = await proc.waitFor(/listening on (http:\/\/\S+)/, 60_000);
  return { id, proc, base: m[1] as string };
}

/**
 * Starts the emulator, creates the database, opens the store in-process (migrations and the first data key happen
 * here, once), makes an admin key, then starts the instances in parallel.
 */
export async function startScaleCluster(options: ClusterOptions): Promise<ScaleCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-scale-'));
  const started: Array<{ stop(): Promise<unknown> }> = [];
  const instances: BrokerInstance[] = [];
  let db: ScaleDatabase | undefined;
  let store: Store | undefined;
  let sql: pg.Pool | undefined;
  const stopAll = async (): Promise<void> => {
    // An instance that died on its own (not killed by a test) says why: its last output goes to the test log.
    for (const i of instances) {
      if (i.proc.proc.exitCode !== null && !killed.has(i.proc.proc.pid ?? -1))
        console.log(
          `[scale-cluster] ${i.id} exited with ${i.proc.proc.exitCode}:\n${i.proc.output().slice(-4000)}`,
        );
    }
    await Promise.allSettled(instances.map((i) => i.proc.stop(3_000)));
    await Promise.allSettled(started.map((s) => s.stop()));
    await store?.close().catch(() => undefined);
    await sql?.end().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const emulator = await startEmulatorProcess();
    started.push({ stop: () => emulator.proc.stop(3_000) });
    const recorder = options.recordGraph ? await startGraphRecorder(emulator.url) : undefined;
    if (recorder) started.push(recorder);
    db = await createScaleDatabase(options.serverUrl);
    const masterKey = randomBytes(32).toString('base64');
    store = await openStore(
      {
        dataDir,
        databaseUrl: new Secret(db.url, 'database-url'),
        masterKey: new Secret(masterKey, 'master-key'),
      },
      { postgres: { poolSize: 8 } },
    );
    sql = new pg.Pool({ connectionString: db.url, max: 4 });
    sql.on('error', () => undefined);
    sql.on('connect', (client) => client.on('error', () => undefined));
    const broker = store;
    const admin = generateApiKey();
    await broker.apiKeys.insert(
      { keyId: admin.keyId, hash: admin.hash, tenantId: null, label: 'scale test admin' },
      Date.now(),
    );
    const env: Record<string, string> = {
      WA_APP_ID: emulator.appId,
      WA_APP_SECRET: emulator.appSecret,
      WA_GRAPH_URL: recorder?.url ?? emulator.url,
      WA_DIALOG_URL: emulator.url,
      DATABASE_URL: db.url,
      WACLOUD_MASTER_KEY: masterKey,
      WEBHOOK_VERIFICATION_TOKEN: randomBytes(16).toString('hex'),
      WACLOUD_OUTBOUND_ALLOW: LOCAL_RECEIVERS,
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
      ...options.env,
    };
    const startInstance = async (id: string): Promise<BrokerInstance> => {
      const i = await startBroker(env, id, dataDir);
      const at = instances.findIndex((x) => x.id === id);
      if (at >= 0) instances[at] = i;
      else instances.push(i);
      return i;
    };
    await Promise.all(
      Array.from({ length: options.instances }, (_, n) =>
        startInstance(`broker-${String.fromCharCode(97 + n)}`),
      ),
    );
    instances.sort((a, b) => a.id.localeCompare(b.id));
    return {
      db,
      emulator,
      recorder,
      instances,
      store,
      broker,
      sql,
      adminKey: admin.key.reveal(),
      env,
      startInstance,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Processes the tests killed on purpose. */
const killed = new Set<number>();

/** SIGKILL to the instance's process group: no shutdown hook runs. */
export async function killInstance(i: BrokerInstance): Promise<void> {
  if (i.proc.proc.pid) {
    killed.add(i.proc.proc.pid);
    process.kill(-i.proc.proc.pid, 'SIGKILL');
  }
  await i.proc.exited;
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T, i);
      }
    }),
  );
  return out;
}

export interface SeededTenant {
  tenantId: string;
  credentialId: string;
  /** The token as minted (version 1). */
  token: string;
  /** Only for the first `withProxy` tenants: a phone number of their own and a tenant API key. */
  phoneNumberId?: string;
  apiKey?: string;
}

export interface SeedOptions {
  count: number;
  /** When the credentials fall due (their renewal time), on the emulator's clock (real time here). */
  dueAtMs: number;
  /** How many of them get a phone number and an API key for proxy calls. */
  withProxy?: number;
  /** Name prefix of the tenants. */
  prefix?: string;
}

/**
 * Seeds tenants, each with one 60-day system-user token minted at the emulator, written straight into the store
 * (encrypted with the cluster's keys) as the token manager would have stored it: `nextCheckAtMs` is its renewal time
 * (expiry minus the 10-day window), which is what the manager computes for such a token.
 */
export async function seedTenants(c: ScaleCluster, o: SeedOptions): Promise<SeededTenant[]> {
  const prefix = o.prefix ?? 'scale';
  const indexes = Array.from({ length: o.count }, (_, i) => i);
  return pool(indexes, 12, async (i) => {
    const expiresIn = Math.round((o.dueAtMs + RENEW_BEFORE_EXPIRY_MS - Date.now()) / 1000);
    const minted = await c.emulator.control<{
      access_token: string;
      subject_id: string;
      scopes: string[];
      issued_at: string;
      expires_at: string;
    }>('/tokens', { kind: 'system_user_60d', expires_in: expiresIn, target_ids: [c.emulator.wabaId] });
    const now = Date.now();
    const tenant = await c.broker.tenants.create({ name: `${prefix}-${i}` }, now);
    const expiresAtMs = Date.parse(minted.expires_at);
    const cred = await c.store.credentials.insert(
      {
        tenantId: tenant.id,
        kind: 'system-user',
        appId: c.emulator.appId,
        subjectId: minted.subject_id,
        scopes: minted.scopes,
        targetIds: [c.emulator.wabaId],
        token: new Secret(minted.access_token, 'access-token'),
        issuedAtMs: Date.parse(minted.issued_at),
        expiresAtMs,
        dataAccessExpiresAtMs: null,
        status: 'active',
        nextCheckAtMs: expiresAtMs - RENEW_BEFORE_EXPIRY_MS,
      },
      now,
    );
    const seeded: SeededTenant = { tenantId: tenant.id, credentialId: cred.id, token: minted.access_token };
    if (i < (o.withProxy ?? 0)) {
      const phone = await c.emulator.control<{ id: string }>('/phone-numbers', {
        waba_id: c.emulator.wabaId,
        display_phone_number: `+1 555 01${String(i).padStart(5, '0')}`,
      });
      await c.broker.phoneNumbers.upsert(
        {
          id: phone.id,
          tenantId: tenant.id,
          wabaId: c.emulator.wabaId,
          displayPhoneNumber: '',
          verifiedName: null,
          credentialId: cred.id,
        },
        now,
      );
      const key = generateApiKey();
      await c.broker.apiKeys.insert(
        { keyId: key.keyId, hash: key.hash, tenantId: tenant.id, label: 'scale test' },
        now,
      );
      seeded.phoneNumberId = phone.id;
      seeded.apiKey = key.key.reveal();
    }
    return seeded;
  });
}

/** GET /graph/v26.0/{phone number} through an instance's proxy with the tenant's key: the status and body. */
export async function proxyGet(
  i: BrokerInstance,
  t: SeededTenant,
): Promise<{ status: number; body: string }> {
  const res = await fetch(`${i.base}/graph/v26.0/${t.phoneNumberId}`, {
    headers: { authorization: `Bearer ${t.apiKey}` },
  });
  return { status: res.status, body: await res.text() };
}

/** Whether Graph (the emulator's `debug_token`, asked with the app token) holds `token` valid now. */
export async function tokenIsValid(e: EmulatorProcess, token: string): Promise<boolean> {
  const q = new URLSearchParams({ input_token: token, access_token: `${e.appId}|${e.appSecret}` });
  const res = await fetch(`${e.url}/v26.0/debug_token?${q}`);
  const body = (await res.json()) as { data?: { is_valid?: boolean } };
  return res.status === 200 && body.data?.is_valid === true;
}

/** X-Hub-Signature-256 of a body with the app secret, as Meta signs it. */
export function metaSignature(appSecret: string, body: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/** One received outbound delivery (Standard Webhooks). */
export interface ReceivedDelivery {
  webhookId: string;
  body: string;
}

/** A subscriber endpoint that records every delivery and answers 200. */
export async function startSubscriber(): Promise<{
  url: string;
  received: ReceivedDelivery[];
  close(): Promise<void>;
}> {
  const received: ReceivedDelivery[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ webhookId: String(req.headers['webhook-id']), body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One Graph call seen by the recorder: the path and the bearer token it carried. */
export interface RecordedCall {
  method: string;
  path: string;
  token: string | undefined;
}

export interface GraphRecorder {
  url: string;
  calls: RecordedCall[];
  stop(): Promise<void>;
}

/** A pass-through HTTP proxy to `target` that records each call's path and bearer token (header or query). */
export async function startGraphRecorder(target: string): Promise<GraphRecorder> {
  const upstream = new URL(target);
  const calls: RecordedCall[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', upstream);
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    calls.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      token: auth ?? url.searchParams.get('access_token') ?? undefined,
    });
    passThrough(req, res, upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
