import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { type Clock, systemClock } from '../core/clock.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { type Secret, scrubText } from '../core/secret.js';
import type { Db } from '../store/engine.js';

/** What the broker does with notices: pick up a newer version; re-read everything after a reconnect. */
export interface RotationHandlers {
  onRotation(credentialId: string, version: number): unknown;
  /** Runs after every successful (re)connect: notices sent while the listener was away are lost. */
  onResync(): Promise<unknown>;
}

export type RotationBusState = 'idle' | 'listening' | 'reconnecting' | 'closed';

/**
 * Tells every broker instance on one PostgreSQL database that a credential has a new token version. The payload is
 * `{"id","version"}` only: never a token; each instance reads the new ciphertext from the store itself.
 */
export interface RotationBus {
  readonly channel: string;
  /** Starts listening (in the background: a failed connection is retried with back-off and never throws). */
  start(handlers: RotationHandlers): void;
  /** NOTIFY after a successful compare-and-set write. Never throws: a lost notice is covered by the cache TTL. */
  publish(credentialId: string, version: number): Promise<void>;
  state(): RotationBusState;
  /** Backend pid of the current LISTEN connection (diagnostics; tests terminate it). */
  backendPid(): number | undefined;
  close(): Promise<void>;
}

export interface RotationBusOptions {
  /** The LISTEN connection: a direct or session-mode URL (PgBouncer's transaction pooling drops LISTEN). */
  listenUrl: Secret;
  /** Channel name; see {@link rotationChannel}. */
  channel: string;
  /** Sends one NOTIFY (through the store's pool: NOTIFY works in any pooling mode). */
  notify(channel: string, payload: string): Promise<void>;
  logger?: Logger;
  /** Back-off and health-check timing (real time by default). */
  clock?: Clock;
  /** Reconnect back-off: base doubling up to max, with jitter. Default 250 ms to 15 s. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** A `SELECT 1` on the listener this often finds half-open connections. Default 15 s. */
  pingIntervalMs?: number;
  connectTimeoutMs?: number;
  random?: () => number;
}

const MAX_IDENTIFIER = 63;

/**
 * The NOTIFY channel for a store schema. Channels are per database, not per schema, so the schema is part of the name:
 * two stores (or parallel test schemas) on one database never hear each other.
 */
export function rotationChannel(schema: string): string {
  const clean = schema.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const name = `wacloud_rotation_${clean}`;
  if (name.length <= MAX_IDENTIFIER && clean === schema) return name;
  // Long or unusual schema names: a digest keeps the channel a plain identifier and still unique per schema.
  return `wacloud_rotation_${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`;
}

/** Parses a notice; anything else on the channel is ignored. */
export function parseRotationNotice(
  payload: string | undefined,
): { id: string; version: number } | undefined {
  if (!payload || payload.length > 512) return undefined;
  try {
    const v = JSON.parse(payload) as { id?: unknown; version?: unknown };
    if (typeof v.id !== 'string' || v.id.length === 0 || v.id.length > 200) return undefined;
    if (typeof v.version !== 'number' || !Number.isSafeInteger(v.version) || v.version < 1) return undefined;
    return { id: v.id, version: v.version };
  } catch {
    return undefined;
  }
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Creates a rotation bus over one dedicated `pg.Client` that reconnects with back-off and resyncs after each connect. */
export function createRotationBus(options: RotationBusOptions): RotationBus {
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const baseMs = options.backoff?.baseMs ?? 250;
  const maxMs = options.backoff?.maxMs ?? 15_000;
  const pingMs = options.pingIntervalMs ?? 15_000;
  const channel = options.channel;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) {
    throw new Error(`rotation channel "${channel}" is not a plain lower-case identifier`);
  }
  const stop = new AbortController();
  let state: RotationBusState = 'idle';
  let client: pg.Client | undefined;
  let loop: Promise<void> | undefined;

  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString: options.listenUrl.reveal(),
      keepAlive: true,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      application_name: 'wacloud-rotation-listener',
    });
    // Errors after connect surface through the `lost` promise below; this keeps them from crashing the process.
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      return c;
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
  }

  /** Resolves when the connection is lost (error, end). */
  function lostOf(c: pg.Client): Promise<string> {
    return new Promise<string>((resolve) => {
      c.on('error', (err) => resolve(codeOf(err) ?? 'error'));
      c.on('end', () => resolve('connection ended'));
    });
  }

  /** Resolves when the connection is lost, a ping fails, or the bus is closed. */
  async function watch(c: pg.Client, lost: Promise<string>): Promise<string> {
    while (!stop.signal.aborted) {
      const tick = new AbortController();
      const slept = clock.sleep(pingMs, AbortSignal.any([stop.signal, tick.signal])).then(
        () => 'tick',
        () => 'stop',
      );
      const first = await Promise.race([lost, slept]);
      tick.abort();
      if (first !== 'tick') return first;
      const timeout = new AbortController();
      try {
        await Promise.race([
          c.query('SELECT 1'),
          clock.sleep(pingMs, AbortSignal.any([stop.signal, timeout.signal])).then(() => {
            throw new Error('ping timeout');
          }),
        ]);
      } catch (err) {
        return codeOf(err) ?? (err as Error).message ?? 'ping failed';
      } finally {
        timeout.abort();
      }
    }
    return 'stop';
  }

  async function run(handlers: RotationHandlers): Promise<void> {
    let attempt = 0;
    let outageLogged = false;
    while (!stop.signal.aborted) {
      let c: pg.Client;
      try {
        c = await connect();
      } catch (err) {
        attempt++;
        if (!outageLogged) {
          outageLogged = true;
          logger.warn('rotation listener: cannot connect to PostgreSQL; retrying with back-off', {
            channel,
            code: codeOf(err),
            error: scrubText(String((err as Error)?.message ?? err)).slice(0, 200),
          });
        }
        const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 16));
        await clock.sleep(Math.floor(ceiling * (0.5 + random() / 2)), stop.signal).catch(() => undefined);
        continue;
      }
      if (stop.signal.aborted) {
        await c.end().catch(() => undefined);
        break;
      }
      const lost = lostOf(c);
      client = c;
      state = 'listening';
      attempt = 0;
      c.on('notification', (msg) => {
        if (msg.channel !== channel) return;
        const notice = parseRotationNotice(msg.payload);
        if (!notice) return;
        Promise.resolve()
          .then(() => handlers.onRotation(notice.id, notice.version))
          .catch((err) =>
            logger.warn('rotation listener: could not apply a rotation notice', {
              credentialId: notice.id,
              error: scrubText(String((err as Error)?.message ?? err)).slice(0, 200),
            }),
          );
      });
      if (outageLogged)
        logger.info('rotation listener: connected again; resyncing cached tokens', { channel });
      outageLogged = false;
      // LISTEN is active before the resync reads the store, so no rotation falls between the two.
      try {
        await handlers.onResync();
      } catch (err) {
        logger.warn('rotation listener: resync failed; cached tokens refresh on their TTL', {
          error: scrubText(String((err as Error)?.message ?? err)).slice(0, 200),
        });
      }
      const reason = await watch(c, lost);
      client = undefined;
      await c.end().catch(() => undefined);
      if (stop.signal.aborted) break;
      state = 'reconnecting';
      outageLogged = true;
      logger.warn('rotation listener: connection lost; reconnecting', { channel, reason });
      attempt = 1;
      await clock.sleep(Math.floor(baseMs * (0.5 + random() / 2)), stop.signal).catch(() => undefined);
    }
  }

  return {
    channel,
    start(handlers) {
      if (loop || stop.signal.aborted) return;
      state = 'reconnecting';
      loop = run(handlers).catch((err) => {
        logger.error('rotation listener stopped', { error: scrubText(String(err)) });
      });
    },
    async publish(credentialId, version) {
      try {
        await options.notify(channel, JSON.stringify({ id: credentialId, version }));
      } catch (err) {
        logger.warn('rotation notice not sent; other instances pick the version up on their cache TTL', {
          credentialId,
          version,
          code: codeOf(err),
        });
      }
    },
    state: () => state,
    backendPid: () => (client as unknown as { processID?: number } | undefined)?.processID,
    async close() {
      if (state === 'closed') return;
      state = 'closed';
      stop.abort();
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
      await loop;
    },
  };
}

/**
 * A rotation bus for an open PostgreSQL store: the channel comes from the schema the store's pool works in, and
 * NOTIFY goes through that pool. `listenUrl` defaults to the store's URL (set DATABASE_LISTEN_URL behind PgBouncer).
 */
export async function createStoreRotationBus(
  db: Db,
  options: Omit<RotationBusOptions, 'channel' | 'notify'>,
): Promise<RotationBus> {
  if (db.engine !== 'postgres') throw new Error('the rotation bus needs the PostgreSQL store');
  const schema = await db.run('reading the store schema', () =>
    sql<{ s: string }>`SELECT current_schema() AS s`.execute(db.kysely),
  );
  const channel = rotationChannel(schema.rows[0]?.s ?? 'public');
  return createRotationBus({
    ...options,
    channel,
    notify: async (ch, payload) => {
      await db.run('sending a rotation notice', () =>
        sql`SELECT pg_notify(${ch}, ${payload})`.execute(db.kysely),
      );
    },
  });
}
