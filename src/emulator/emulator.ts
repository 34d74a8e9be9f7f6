import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import {
  type AppTokenError,
  type CoreSettings,
  type EmuContext,
  type EmuEnv,
  type EmulatorCore,
  readBodyBytes,
} from './context.js';
import { registerControlRoutes } from './control-routes.js';
import { registerDialogRoutes } from './dialog.js';
import { type InboundMessageInput, inboundMessageEvent, scheduleStatuses } from './events.js';
import { trySendFastPath } from './fast-send.js';
import { checkFaultInput, FaultInjector, type FaultRule, type FaultRuleInput } from './faults.js';
import { registerFlowControlRoutes } from './flow-sessions.js';
import { registerFlowRoutes } from './flows-routes.js';
import { type ErrorStatusMapping, errorBody, graphError } from './graph-errors.js';
import { registerGraphRoutes } from './graph-routes.js';
import { traceId } from './ids.js';
import { RateLimiter, type ThroughputOptions } from './limits.js';
import { graphErrorParts, metaHeaders } from './responses.js';
import { formatSeed, refreshSeedToken, type SeedOptions, seedCurl, seedWorld } from './seed.js';
import { type EmulatorSeed, EmulatorState, type EmulatorStateData, type SentMessageRecord } from './state.js';
import { resolveTtls, TokenService, type TokenTtlOptions } from './tokens.js';
import { warmValidators } from './validate.js';
import { VirtualClock, type VirtualClockOptions } from './virtual-clock.js';
import {
  type DeliveryRecord,
  type PendingWebhooksData,
  resolveWebhookOptions,
  WebhookDispatcher,
  type WebhookOptions,
} from './webhooks.js';
import { registerWhatsAppRoutes, scheduleTemplateReview } from './whatsapp-routes.js';
import { ControlError, World } from './world.js';

/** Options of {@link createEmulator}. Every default follows graph-api-facts.md; UNVERIFIED facts are options. */
export interface EmulatorOptions {
  /** A clock to share, or options for the emulator's own (real time + offset by default). */
  clock?: VirtualClock | VirtualClockOptions;
  /** Persist the world to this JSON file (loaded at start when it exists, written shortly after changes). */
  stateFile?: string;
  /** Overrides for the seeded world, or `false` for an empty world. Ignored when the state file exists. */
  seed?: SeedOptions | false;
  /** The version printed in the seed curl and reported for unversioned calls. Default `v26.0` (latest). */
  apiVersion?: string;
  /** Accepted `vNN.0` majors. Older ones are served as `minVersion` (Graph upgrades them); newer ones are unknown. Default 18-26. */
  minVersion?: number;
  maxVersion?: number;
  /** HTTP status per error (facts §8.3). Default `meta`. */
  errorStatus?: ErrorStatusMapping;
  /** Throughput (130429) and pair rate (131056) limits, usage header scales. */
  throughput?: ThroughputOptions;
  /** Token and code lifetimes. */
  tokenTtl?: TokenTtlOptions;
  /** `same-token` (default; historical Meta doc) or `new-token-same-expiry` when a long-lived user token is re-exchanged. */
  longLivedReexchange?: 'same-token' | 'new-token-same-expiry';
  /** Webhook delivery. */
  webhooks?: WebhookOptions;
  /** Template review outcome and delay (virtual ms). Default approved at once. */
  templateApproval?: { status?: 'APPROVED' | 'PENDING' | 'REJECTED'; delayMs?: number };
  /** Largest JSON/form body accepted. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Largest media upload accepted. Default 100 MiB (Meta's document limit). */
  maxMediaBytes?: number;
  /** Sent messages kept for inspection. Default 10,000. */
  maxStoredMessages?: number;
  /**
   * The fragment facebook.com appends to the login dialog's redirects (code and cancel): `#_=_` in captured
   * redirects (facts §1.2, UNVERIFIED as documented behaviour). Default `'_=_'`; `false` for none. Browsers never send
   * a fragment to the server; client-side code that reads `location.href` sees it.
   */
  loginRedirectFragment?: string | false;
  /** The error for an app access token on WhatsApp Business endpoints (UNVERIFIED; default: code 200). */
  appTokenError?: AppTokenError;
  /** Origin of media URLs (default: the request's), e.g. `https://lookaside.fbsbx.com` mapped here: docs/emulator.md. */
  mediaUrlOrigin?: string;
}

export interface ListenOptions {
  /** Default 0 (a free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

/** A running emulator: a fetch-style app plus programmatic control. */
export interface Emulator {
  /** Handles a request in-process. Usable wherever a `fetch` is expected. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Serves over HTTP (@hono/node-server); resolves with the base URL, e.g. `http://127.0.0.1:4010`. */
  listen(options?: ListenOptions): Promise<string>;
  /** The base URL once listening. */
  readonly url: string | undefined;
  /** Stops the server, cancels scheduled jobs and writes the state file. */
  close(): Promise<void>;
  /** The seeded world (undefined with `seed: false` and no state file). Contains secrets: a sandbox. */
  readonly seed: EmulatorSeed | undefined;
  /** The virtual clock driving every expiry, TTL, rate window and webhook retry. */
  readonly clock: VirtualClock;
  /** World building: apps, users, system users, WABAs, numbers, templates, tokens. */
  readonly world: World;
  /** The raw state (read it; change it through `world` so the state file follows). */
  readonly state: EmulatorState;
  /** Sent messages, oldest first. */
  sentMessages(filter?: { phoneNumberId?: string; to?: string }): SentMessageRecord[];
  /** Webhook delivery attempts, oldest first. */
  deliveries(): DeliveryRecord[];
  /** Calls per endpoint, e.g. `{"GET /oauth/access_token grant_type=fb_exchange_token": 2}`. */
  counters(): Record<string, number>;
  injectFault(rule: FaultRuleInput): FaultRule;
  clearFaults(): void;
  /** A user writes to the business: builds and delivers the inbound webhook. */
  sendInbound(input: Partial<InboundMessageInput> & { type: string }): { messageId: string; targets: number };
  /** Runs due jobs (deliveries, retries, statuses) and waits for attempts in flight; also sends open batches unless told not to. */
  flushWebhooks(options?: { openBatches?: boolean }): Promise<void>;
  /** The start banner (credentials + curl) for `url`. */
  banner(url?: string): string;
  /** Meta's getting-started curl against `url`. */
  curl(url?: string): string;
  /** The Hono app, for mounting elsewhere. */
  readonly app: Hono<EmuEnv>;
}

const RESET_HEADER = 'x-wacloud-emulator-reset';
const VERSION_RE = /^\/v(\d+)\.(\d+)(?=\/|$)/;

/**
 * Creates a faithful local Graph API / WhatsApp Cloud API.
 *
 * @example
 * const emu = createEmulator();
 * const res = await emu.fetch(`http://emulator/v26.0/${emu.seed!.phoneNumberId}/messages`, {
 *   method: 'POST',
 *   headers: { authorization: `Bearer ${emu.seed!.accessToken}`, 'content-type': 'application/json' },
 *   body: JSON.stringify({ messaging_product: 'whatsapp', to: emu.seed!.recipient, type: 'text', text: { body: 'hi' } }),
 * });
 */
export function createEmulator(options: EmulatorOptions = {}): Emulator {
  const maxStored = options.maxStoredMessages ?? 10_000;
  let state: EmulatorState;
  let saved: SavedExtras = {};
  const fromFile = options.stateFile !== undefined && existsSync(options.stateFile);
  if (fromFile) {
    const file = options.stateFile as string;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`emulator state file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    try {
      state = EmulatorState.fromJSON(data, maxStored);
      saved = savedExtras(data as Record<string, unknown>);
    } catch (err) {
      throw new Error(`emulator state file ${file}: ${(err as Error).message}`);
    }
  } else {
    state = new EmulatorState(maxStored);
  }
  const clock =
    options.clock instanceof VirtualClock
      ? options.clock
      : new VirtualClock(clockOptions(options.clock, saved.clock));
  const ownsClock = !(options.clock instanceof VirtualClock);

  const settings: CoreSettings = {
    apiVersion: options.apiVersion ?? 'v26.0',
    minVersion: options.minVersion ?? 18,
    maxVersion: options.maxVersion ?? 26,
    errorStatus: options.errorStatus ?? 'meta',
    maxBodyBytes: options.maxBodyBytes ?? 1 << 20,
    maxMediaBytes: options.maxMediaBytes ?? 100 << 20,
    templateApproval: {
      status: options.templateApproval?.status ?? 'APPROVED',
      delayMs: options.templateApproval?.delayMs ?? 0,
    },
    longLivedReexchange: options.longLivedReexchange ?? 'same-token',
    mediaUrlTtlMs: 5 * 60_000,
    appTokenError: options.appTokenError,
    mediaUrlOrigin: options.mediaUrlOrigin?.replace(/\/+$/, ''),
    loginRedirectFragment:
      options.loginRedirectFragment === false || options.loginRedirectFragment === ''
        ? undefined
        : (options.loginRedirectFragment ?? '_=_').replace(/^#/, ''),
  };
  if (!/^v\d+\.\d+$/.test(settings.apiVersion)) throw new Error('apiVersion must look like v26.0');
  if (settings.mediaUrlOrigin !== undefined && !/^https?:\/\/[^/?#\s]+$/.test(settings.mediaUrlOrigin))
    throw new Error('mediaUrlOrigin must be an http(s) origin like https://lookaside.fbsbx.com');

  let persistTimer: ReturnType<typeof setTimeout> | undefined;
  let unsubscribeClock: (() => void) | undefined;
  const writeState = (): void => {
    if (!options.stateFile) return;
    const tmp = `${options.stateFile}.${process.pid}.tmp`;
    const now = clock.now();
    const data: EmulatorStateData & SavedExtras = {
      ...state.toJSON(),
      clock: { nowMs: now, offsetMs: now - Date.now(), frozen: clock.frozen },
      webhooks: core.webhooks.toJSON(),
    };
    writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
    renameSync(tmp, options.stateFile);
  };

  const core: EmulatorCore = {
    state,
    clock,
    tokens: new TokenService(state, clock, resolveTtls(options.tokenTtl)),
    webhooks: undefined as unknown as WebhookDispatcher,
    limits: new RateLimiter(options.throughput),
    faults: new FaultInjector(),
    settings,
    counters: new Map(),
    dialogs: new Map(),
    dialogUserId: undefined,
    mediaUrlKey: randomBytes(32),
    // Every change lands here (state.touch(), clock moves, webhook queue changes): the send path pays one check of
    // the armed timer, and the whole file is written at most once per 200 ms, after the first change.
    persist() {
      if (persistTimer || !options.stateFile) return;
      persistTimer = setTimeout(() => {
        persistTimer = undefined;
        try {
          writeState();
        } catch {
          // A full disk must not take the emulator down; the next change retries.
        }
      }, 200);
      persistTimer.unref?.();
    },
  };
  core.webhooks = new WebhookDispatcher(state, clock, resolveWebhookOptions(options.webhooks));
  const world = new World(core);

  if (fromFile) {
    refreshSeedToken(core);
    if (saved.webhooks) core.webhooks.restore(saved.webhooks);
    for (const t of state.templates.values()) scheduleTemplateReview(core, t);
    // Status webhooks still to come for restored messages (each is sent once: a job skips a status already reached).
    for (const m of state.messages.values()) {
      const phone = state.phoneNumbers.get(m.phoneNumberId);
      if (
        m.status !== 'read' &&
        m.status !== 'failed' &&
        phone &&
        core.webhooks.targets(phone.wabaId, 'messages', phone.id).length
      )
        scheduleStatuses(core, m);
    }
  } else if (options.seed !== false) seedWorld(core, world, options.seed ?? {});
  if (options.stateFile) {
    writeState();
    state.onChange = core.persist;
    core.webhooks.onChange = core.persist;
    unsubscribeClock = clock.onChange(core.persist);
  }

  const app = buildApp(core, world);
  let server: Server | undefined;
  let url: string | undefined;

  const emulator: Emulator = {
    app,
    clock,
    world,
    state,
    get seed() {
      return state.seed;
    },
    get url() {
      return url;
    },
    async fetch(input, init) {
      let req =
        input instanceof Request && init === undefined
          ? input
          : new Request(
              typeof input === 'string' && input.startsWith('/') ? `http://emulator.local${input}` : input,
              init,
            );
      const u = new URL(req.url);
      const versioned = withVersion(u.pathname + u.search, settings.apiVersion);
      if (versioned) {
        // Re-target the request; a streamed body is buffered first (a Request cannot adopt another's stream).
        const body = req.body ? await req.arrayBuffer() : undefined;
        req = new Request(new URL(versioned, u.origin), { method: req.method, headers: req.headers, body });
      }
      const res = await app.fetch(req, {});
      if (res.headers.has(RESET_HEADER)) {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('read ECONNRESET (injected by the emulator)'), {
            code: 'ECONNRESET',
          }),
        });
      }
      return res;
    },
    listen(listenOptions = {}) {
      if (server) return Promise.reject(new Error('the emulator is already listening'));
      // Compile the schema validators before the first request instead of during it (~0.3 s).
      warmValidators();
      return new Promise<string>((resolve, reject) => {
        const host = listenOptions.host ?? '127.0.0.1';
        // No global Request/Response override: an embedded emulator must not change globals for its host process
        // (the hot send path does not use them anyway).
        const listener = getRequestListener(app.fetch, { hostname: host, overrideGlobalObjects: false });
        const s = createServer((incoming, outgoing) => {
          const versioned = incoming.url ? withVersion(incoming.url, settings.apiVersion) : undefined;
          if (versioned) incoming.url = versioned;
          // The send endpoint skips the web Request/Response layer (same logic, see fast-send.ts).
          if (!trySendFastPath(core, incoming, outgoing)) void listener(incoming, outgoing);
        });
        s.listen(listenOptions.port ?? 0, host);
        s.once('error', reject);
        s.once('listening', () => {
          const addr = s.address() as AddressInfo;
          const shownHost = host.includes(':') ? `[${host}]` : host;
          url = `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${addr.port}`;
          s.keepAliveTimeout = 65_000;
          server = s;
          resolve(url);
        });
      });
    },
    async close() {
      unsubscribeClock?.();
      state.onChange = undefined;
      core.webhooks.onChange = undefined;
      core.webhooks.close();
      if (ownsClock) clock.close();
      if (persistTimer) {
        clearTimeout(persistTimer);
        persistTimer = undefined;
      }
      try {
        writeState();
      } catch {
        // best effort on shutdown
      }
      const s = server;
      server = undefined;
      url = undefined;
      if (s) {
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections?.();
        });
      }
    },
    sentMessages(filter = {}) {
      return [...state.messages.values()].filter(
        (m) =>
          (!filter.phoneNumberId || m.phoneNumberId === filter.phoneNumberId) &&
          (!filter.to || m.waId === filter.to.replace(/\D/g, '')),
      );
    },
    deliveries() {
      return [...core.webhooks.log];
    },
    counters() {
      return Object.fromEntries(core.counters);
    },
    injectFault(rule) {
      const problem = checkFaultInput(rule);
      if (problem) throw new ControlError(problem);
      return core.faults.add(rule);
    },
    clearFaults() {
      core.faults.remove();
    },
    sendInbound(input) {
      const phoneNumberId = input.phoneNumberId ?? state.seed?.phoneNumberId;
      const from = input.from ?? state.seed?.recipient;
      if (!phoneNumberId || !from)
        throw new ControlError('phoneNumberId and from are required without a seed');
      const { event, messageId } = inboundMessageEvent(core, { ...input, phoneNumberId, from });
      return { messageId, targets: core.webhooks.emit([event]) };
    },
    async flushWebhooks(flushOptions = {}) {
      if (flushOptions.openBatches !== false) core.webhooks.flushBatches();
      await clock.runDue();
      await core.webhooks.idle();
    },
    banner(u) {
      if (!state.seed) return 'wacloud emulator: no seed (started with seed: false)\n';
      return formatSeed(state.seed, u ?? url ?? 'http://127.0.0.1:4010');
    },
    curl(u) {
      if (!state.seed) throw new Error('no seed');
      return seedCurl(state.seed, u ?? url ?? 'http://127.0.0.1:4010');
    },
  };
  return emulator;
}

/** What the state file keeps besides the world: the clock and the webhook queue. */
interface SavedExtras {
  /** Virtual time at the write, how far ahead of real time it was, and whether it stood still. */
  clock?: { nowMs: number; offsetMs: number; frozen: boolean };
  webhooks?: PendingWebhooksData;
}

function savedExtras(data: Record<string, unknown>): SavedExtras {
  const out: SavedExtras = {};
  const c = data.clock as SavedExtras['clock'] | undefined;
  if (c !== undefined) {
    if (!c || typeof c !== 'object' || !Number.isFinite(c.nowMs) || !Number.isFinite(c.offsetMs)) {
      throw new Error('"clock" must be {"nowMs": number, "offsetMs": number, "frozen": boolean}');
    }
    out.clock = { nowMs: c.nowMs, offsetMs: c.offsetMs, frozen: c.frozen === true };
  }
  const w = data.webhooks as PendingWebhooksData | undefined;
  if (w !== undefined) {
    if (!w || typeof w !== 'object' || !Array.isArray(w.deliveries) || !Array.isArray(w.batches)) {
      throw new Error('"webhooks" must be {"deliveries": [...], "batches": [...]}');
    }
    out.webhooks = w;
  }
  return out;
}

/**
 * The clock after a restart: the saved offset from real time (time that passed while the emulator was down passes
 * for it too), or the saved instant for a clock that stood still. An explicit `startMs` wins.
 */
function clockOptions(
  requested: VirtualClockOptions | undefined,
  saved: SavedExtras['clock'],
): VirtualClockOptions | undefined {
  if (!saved || requested?.startMs !== undefined) return requested;
  return {
    ...requested,
    startMs: saved.frozen ? saved.nowMs : Date.now() + saved.offsetMs,
  };
}

/**
 * Graph serves unversioned paths too (facts §12). They are routed as the default version: `/123/messages` →
 * `/v26.0/123/messages`. Returns undefined when the path needs no change.
 */
export function withVersion(pathAndQuery: string, version: string): string | undefined {
  if (
    VERSION_RE.test(pathAndQuery) ||
    pathAndQuery.startsWith('/_emulator') ||
    pathAndQuery.startsWith('/whatsapp_business/')
  ) {
    return undefined;
  }
  if (pathAndQuery === '/' || pathAndQuery.startsWith('/?')) return undefined;
  return `/${version}${pathAndQuery}`;
}

function buildApp(core: EmulatorCore, world: World): Hono<EmuEnv> {
  const app = new Hono<EmuEnv>();
  const { settings } = core;

  app.use('*', async (c, next) => {
    const trace = traceId();
    c.set('trace', trace);
    c.set('surface', 'graph');
    const path = c.req.path;
    const control = path.startsWith('/_emulator');
    let version = settings.apiVersion;
    const m = VERSION_RE.exec(path);
    if (m) {
      const major = Number(m[1]);
      version = major < settings.minVersion ? `v${settings.minVersion}.0` : `v${m[1]}.${m[2]}`;
    }
    c.set('version', version);
    if (!control) {
      // Every Graph response carries these (facts §10); set before the response exists.
      c.header('x-fb-trace-id', trace);
      c.header('x-fb-request-id', trace);
      c.header('facebook-api-version', version);
      c.header('cache-control', 'private, no-cache, no-store, must-revalidate');
    }
    try {
      if (m && Number(m[1]) > settings.maxVersion) {
        throw graphError(2500, `Unknown path components: /${m[0].slice(1)}`, { status: 400 });
      }
      const fault = control ? undefined : await applyFault(core, c);
      if (fault) c.res = fault;
      else await next();
    } catch (err) {
      c.res = errorResponse(core, c, err);
    }
    finish(core, c, control);
  });

  // Control routes, then Meta's, all versioned: unversioned Graph paths are rewritten to the default version
  // before routing (see withVersion), which halves the route table.
  // Before the control catch-all for unknown /_emulator paths.
  registerFlowControlRoutes(app, core);
  registerControlRoutes(app, core, world);
  const prefix = '/:version{v[0-9]+\\.[0-9]+}';
  registerDialogRoutes(app, core, prefix);
  // Before the generic `/{id}` routes: flow nodes are answered there, other ids handed on.
  registerFlowRoutes(app, core, prefix);
  registerWhatsAppRoutes(app, core, prefix);
  registerGraphRoutes(app, core, world, prefix);

  app.notFound((c) => {
    if (c.req.path.startsWith('/_emulator')) {
      return c.json(
        { error: { message: `no control route ${c.req.method} ${c.req.path}; see GET /_emulator` } },
        404,
      );
    }
    const spec = { code: 2500, message: `Unknown path components: ${c.req.path}`, status: 400 };
    return c.json(errorBody(spec, c.get('trace')), 400);
  });
  app.onError((err, c) => errorResponse(core, c, err));
  return app;
}

/** Applies injected faults: waits out latency, then answers for a terminal rule (or returns undefined). */
async function applyFault(core: EmulatorCore, c: EmuContext): Promise<Response | undefined> {
  const { latencyMs, terminal } = core.faults.take(c.req.method, c.req.path);
  // Injected latency is wall-clock time: it is what a client's timeout measures.
  if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
  if (!terminal) return undefined;
  c.set('endpoint', `${c.req.method} (fault ${terminal.id})`);
  // The route has not run yet: pick the status family from the path.
  c.set('surface', /\/(oauth|debug_token|dialog)\b/.test(c.req.path) ? 'oauth' : 'whatsapp');
  switch (terminal.kind) {
    case 'reset':
      c.env?.incoming?.socket?.destroy();
      return new Response(null, {
        status: 502,
        headers: { ...graphHeaders(c, c.get('trace')), [RESET_HEADER]: '1' },
      });
    case 'status':
      if (terminal.body !== undefined) {
        return new Response(terminal.body, {
          status: terminal.status ?? 500,
          headers: { 'content-type': 'text/plain' },
        });
      }
      throw graphError(2, 'An unexpected error has occurred. Please retry your request later.', {
        isTransient: true,
        status: terminal.status ?? 500,
      });
    case 'graph_error':
      throw graphError(terminal.code ?? 1, terminal.message ?? `(#${terminal.code ?? 1}) Injected error`, {
        subcode: terminal.subcode,
        type: terminal.type,
        details: terminal.details,
        isTransient: terminal.isTransient,
        status: terminal.status,
      });
    default:
      return undefined;
  }
}

function errorResponse(core: EmulatorCore, c: EmuContext, err: unknown): Response {
  const trace = c.get('trace') ?? traceId();
  if (err instanceof ControlError) {
    return new Response(JSON.stringify({ error: { message: err.message } }), {
      status: err.status,
      headers: { 'content-type': 'application/json' },
    });
  }
  const { status, headers, body } = graphErrorParts(core, err, c.get('surface') ?? 'graph', {
    trace,
    version: c.get('version') ?? core.settings.apiVersion,
    appUsage: c.get('appUsage'),
    businessUsage: c.get('businessUsage'),
  });
  return new Response(body, { status, headers });
}

function graphHeaders(c: EmuContext, trace: string): Record<string, string> {
  return metaHeaders({
    trace,
    version: c.get('version') ?? 'v26.0',
    appUsage: c.get('appUsage'),
    businessUsage: c.get('businessUsage'),
  });
}

/** Per-endpoint counters (tests count token exchanges with them). */
function finish(core: EmulatorCore, c: EmuContext, control: boolean): void {
  const endpoint = c.get('endpoint') ?? `${c.req.method} ${control ? c.req.path : '(unmatched)'}`;
  core.counters.set(endpoint, (core.counters.get(endpoint) ?? 0) + 1);
  // A grant-specific endpoint also counts toward its plain form ("GET /oauth/access_token").
  const space = endpoint.indexOf(' grant_type=');
  if (space > 0) {
    const plain = endpoint.slice(0, space);
    core.counters.set(plain, (core.counters.get(plain) ?? 0) + 1);
  }
}

/** What {@link startEmulator} resolves with. */
export interface StartedEmulator {
  url: string;
  emulator: Emulator;
  close(): Promise<void>;
}

/**
 * Starts a listening emulator on 127.0.0.1 (port 0 unless given): the helper other parts' tests use.
 *
 * @example
 * const { url, emulator, close } = await startEmulator();
 * // ... point a client at url with emulator.seed!.accessToken ...
 * await close();
 */
export async function startEmulator(options: EmulatorOptions & ListenOptions = {}): Promise<StartedEmulator> {
  const { port, host, ...rest } = options;
  const emulator = createEmulator(rest);
  const url = await emulator.listen({ port: port ?? 0, host: host ?? '127.0.0.1' });
  return { url, emulator, close: () => emulator.close() };
}

// Re-exported for the body reader's users in tests.
export { readBodyBytes };
