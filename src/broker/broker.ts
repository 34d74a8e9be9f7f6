import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { TokenEvent } from '../auth/token-events.js';
import { DEFAULT_TOKEN_POLICIES, TokenManager, type TokenPolicies } from '../auth/token-manager.js';
import { type Clock, systemClock } from '../core/clock.js';
import { DEFAULT_API_VERSION } from '../core/config.js';
import { createGraphError } from '../core/graph-error.js';
import type { Logger } from '../core/logger.js';
import { type Secret, scrubText } from '../core/secret.js';
import { GraphClient } from '../graph/graph-client.js';
import type { RotationBus } from '../scale/rotation-bus.js';
import type { SendLimiter } from '../scale/send-limiter.js';
import type { Transport } from '../transport/types.js';
import { createUndiciTransport } from '../transport/undici-transport.js';
import { createNodeWebhookHandler } from '../webhooks/adapters/node.js';
import { createAccessCache } from './access.js';
import { createApi } from './api.js';
import { rediscoverOnCheck } from './connect.js';
import type { BrokerContext } from './context.js';
import { createDashboard } from './dashboard/routes.js';
import { createBrokerFlowEndpoint } from './flow-endpoint.js';
import { createGraphProxy } from './graph-proxy.js';
import { createInboxDispatcher, createInboxWriter, subscriptionWants } from './inbox.js';
import { createBrokerLogger } from './logger.js';
import { createBrokerMedia } from './media-download.js';
import { createBrokerMetrics } from './metrics.js';
import { createdObjectKind } from './object-ownership.js';
import { createDeliveryWorker, createOutboundTransport } from './outbound.js';
import { createOutboundPolicy, type Resolver } from './outbound-policy.js';
import type { BrokerStore } from './ports.js';
import { createRetentionSweeper } from './retention.js';
import { createAuthGuard, isThrottled } from './security/auth-guard.js';
import { metricsEndpoint, securityHeaders } from './security/headers.js';
import { createSessions } from './security/session.js';

export interface BrokerOptions {
  store: BrokerStore;
  /** The Meta app (or the sandbox emulator's). */
  appId: string;
  appSecret: Secret;
  /** Previous app secrets still accepted on webhooks during a rotation. */
  previousAppSecrets?: Secret[];
  /** Time a tenant's flow service has to answer a Flow endpoint request; default 8 s (Meta gives up at 10 s). */
  flowTimeoutMs?: number;
  graphUrl: string;
  dialogUrl: string;
  /** `WA_LOGIN_CONFIG_ID`: Connect sends this Login for Business `config_id` instead of scopes. */
  loginConfigId?: string | undefined;
  /**
   * The configuration the dashboard's "Connect with Embedded Signup" uses: the sandbox's seeded one, or
   * `WA_LOGIN_CONFIG_ID` with a real app (Meta's JS SDK). Unset: no Embedded Signup button.
   */
  embeddedSignupConfigId?: string | undefined;
  apiVersion?: string;
  /** The verify token of Meta's webhook handshake. */
  verifyToken: Secret;
  webhookPath?: string;
  /** Signs dashboard sessions and CSRF tokens. */
  sessionKey: Secret;
  /**
   * The origin people and Meta reach the broker at (`WACLOUD_PUBLIC_URL`): login redirect URIs, printed links, and
   * `Secure` cookies when https. Default http://<listen host>:<port> once listening.
   */
  publicUrl?: string | undefined;
  /** Reverse proxies whose `X-Forwarded-For` names the client (`WACLOUD_TRUSTED_PROXIES`). */
  trustedProxies?: readonly string[] | undefined;
  /** `/metrics`: a bearer token it requires, a port of its own (off the public listener), tenant ids listed or not. */
  metrics?: { token?: Secret | undefined; port?: number | undefined; tenantLabels?: boolean | undefined };
  sandbox?: boolean;
  /** Drives the token lifecycle, workers and audit times; the sandbox passes the emulator's virtual clock. */
  clock?: Clock;
  logger?: Logger;
  transport?: Transport;
  policies?: Partial<TokenPolicies>;
  instanceId?: string;
  /** Run the token scheduler and the webhook workers (default true; tests may drive them by hand). */
  background?: boolean;
  /** Delivery worker tuning (tests use short delays). */
  delivery?: { baseDelayMs?: number; maxAttempts?: number };
  /** Extra hook per token event. */
  onTokenEvent?: (event: TokenEvent) => void;
  /** Scale-out: tells other instances about new token versions (PostgreSQL LISTEN/NOTIFY); started by `listen`. */
  rotationBus?: RotationBus;
  /** Scale-out: per-number send limits on `POST /{phone-number-id}/messages` in the Graph proxy. Closed by `close`. */
  sendLimiter?: SendLimiter;
  /**
   * `WACLOUD_OUTBOUND_ALLOW`: hosts, addresses or CIDRs outbound webhooks may reach although they are local
   * (development receivers); everything local is refused otherwise (src/broker/outbound-policy.ts).
   */
  outboundAllow?: string | undefined;
  /** `WACLOUD_CONTENT_RETENTION_DAYS`: customer content (webhook bodies, delivery payloads) is deleted after it. */
  contentRetentionDays?: number;
  /** How outbound webhook hosts are resolved (default: the system resolver); tests answer names without DNS. */
  outboundResolve?: Resolver;
}

export interface Broker {
  server: Server;
  app: Hono;
  manager: TokenManager;
  context: BrokerContext;
  /** Starts listening; resolves with the public base URL. */
  listen(port?: number, host?: string): Promise<string>;
  /** The address it listens on (http://host:port), once listening; may differ from the public URL. */
  listenUrl(): string;
  /** The metrics listener's URL when `metrics.port` is set, once listening. */
  metricsUrl(): string | undefined;
  /** Runs the background workers once (inbox, deliveries, due credentials); for tests with a manual clock. */
  runWorkersOnce(): Promise<void>;
  /** Stops accepting, finishes in-flight requests, stops the workers and closes the store. */
  close(): Promise<void>;
}

/** Token events that tenants may subscribe to as outbound webhooks. */
const OUTBOUND_TOKEN_EVENTS = new Set([
  'credential.expiring',
  'credential.invalid',
  'credential.expired',
  'credential.refreshed',
  'credential.rotated',
  'credential.revoked',
]);

/**
 * Builds the broker: the dashboard, the admin/tenant API, the Graph proxy, the webhook inbox and its workers, the
 * token scheduler and the metrics, over one store. The proxy and the webhook endpoint are served straight from
 * node:http (their hot paths skip the router); everything else goes through Hono.
 */
export function createBroker(options: BrokerOptions): Broker {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createBrokerLogger();
  const store = options.store;
  const instanceId = options.instanceId ?? randomUUID();
  const apiVersion = options.apiVersion ?? DEFAULT_API_VERSION;
  const transport = options.transport ?? createUndiciTransport();
  const policies: TokenPolicies = { ...DEFAULT_TOKEN_POLICIES, ...options.policies };
  const webhookPath = options.webhookPath ?? '/webhook';
  let publicUrl = options.publicUrl;
  const graph = new GraphClient({
    graphUrl: options.graphUrl,
    apiVersion,
    transport,
    clock,
    appSecret: options.appSecret,
    logger,
  });

  const metrics = createBrokerMetrics(
    async () => {
      const now = clock.now();
      const byState: Record<string, number> = {};
      const expiries: Array<{
        credentialId: string;
        tenantId: string;
        kind: string;
        secondsToExpiry: number;
      }> = [];
      // Summaries: a scrape never decrypts every credential.
      for (const c of await manager.listSummaries()) {
        byState[c.status] = (byState[c.status] ?? 0) + 1;
        if (c.expiresAtMs !== null) {
          expiries.push({
            credentialId: c.id,
            tenantId: c.tenantId,
            kind: c.kind,
            secondsToExpiry: Math.round((c.expiresAtMs - now) / 1000),
          });
        }
      }
      return { byState, expiries };
    },
    { tenantLabels: options.metrics?.tenantLabels },
  );

  // Explicit settings only: the broker never reads the environment (`wacloud up` loaded it at the edge).
  const manager = new TokenManager({
    store: store.credentials,
    appId: options.appId,
    appSecret: options.appSecret,
    graph,
    clock,
    logger,
    policies,
    instanceId,
    // Only versions this instance wrote are announced; the others apply them through `reload`.
    onRotated: options.rotationBus
      ? (info) => void options.rotationBus?.publish(info.credentialId, info.version)
      : undefined,
  });

  const access = createAccessCache(store, clock);
  const outbound = createOutboundPolicy({
    allow: options.outboundAllow,
    sandbox: options.sandbox === true,
    denyOrigins: options.sandbox ? [options.graphUrl, options.dialogUrl] : [],
    ...(options.outboundResolve ? { resolve: options.outboundResolve } : {}),
  });
  const outboundTransport = createOutboundTransport(outbound);
  // Failed authentications on every surface: counted per client and key id, throttled after a burst, on real time.
  const authGuard = createAuthGuard({
    clock: systemClock,
    logger,
    access,
    trustedProxies: options.trustedProxies,
    onFailure: (surface) => metrics.authFailure(surface),
    onThrottled: (surface) => metrics.authThrottled(surface),
  });
  // Sessions and login limits run on real time even when the token lifecycle runs on a virtual clock (sandbox).
  const sessions = createSessions({
    signingKey: options.sessionKey,
    clock: systemClock,
    secureCookie: (options.publicUrl ?? '').startsWith('https:'),
  });

  let inbox: ReturnType<typeof createInboxDispatcher>;
  let deliveries: ReturnType<typeof createDeliveryWorker>;
  const context: BrokerContext = {
    store,
    manager,
    policies,
    graph,
    transport,
    outbound,
    access,
    authGuard,
    sessions,
    metrics,
    clock,
    logger,
    appId: options.appId,
    appSecret: options.appSecret,
    graphUrl: options.graphUrl,
    dialogUrl: options.dialogUrl,
    loginConfigId: options.loginConfigId,
    embeddedSignupConfigId: options.embeddedSignupConfigId,
    apiVersion,
    sandbox: options.sandbox === true,
    publicUrl: () => {
      if (!publicUrl) throw new Error('the broker is not listening yet');
      return publicUrl;
    },
    poke: () => {
      inbox?.poke();
      deliveries?.poke();
    },
    async audit(event, fields) {
      try {
        await store.audit.append(
          {
            tenantId: fields.tenantId ?? null,
            credentialId: fields.credentialId ?? null,
            event,
            detail: JSON.parse(scrubText(JSON.stringify(fields.detail ?? {}))) as Record<string, unknown>,
          },
          clock.now(),
        );
      } catch (err) {
        logger.error('audit append failed', {
          event,
          error: scrubText(String((err as Error)?.message ?? err)),
        });
      }
    },
  };

  // Every token event: audit log, metrics, logs, and the tenant's outbound webhooks.
  manager.on('*', (event) => {
    metrics.tokenEvent(event.type.replace('credential.', ''));
    logger.info('token event', { ...event });
    const { type, credentialId, tenantId, ...detail } = event;
    void context.audit(type, { tenantId, credentialId, detail });
    options.onTokenEvent?.(event);
    if (OUTBOUND_TOKEN_EVENTS.has(type)) {
      void (async () => {
        for (const sub of await store.subscriptions.listByTenant(tenantId)) {
          if (!subscriptionWants(sub, type)) continue;
          await store.deliveries.enqueue(
            {
              subscriptionId: sub.id,
              tenantId,
              eventId: `${type}:${credentialId}:${event.version}:${event.atMs}`,
              eventType: type,
              payload: JSON.stringify({ type, timestamp: new Date(event.atMs).toISOString(), data: event }),
              nextAttemptAtMs: clock.now(),
            },
            clock.now(),
          );
        }
        deliveries.poke();
      })().catch((err) => logger.error('token event delivery', { error: scrubText(String(err)) }));
    }
  });

  // A working credential with no phone number recorded (discovery failed when it was added) is discovered again.
  manager.on('credential.checked', rediscoverOnCheck(context));

  inbox = createInboxDispatcher({ store, clock, logger, instanceId, onQueued: () => deliveries.poke() });
  deliveries = createDeliveryWorker({
    store,
    clock,
    logger,
    instanceId,
    baseDelayMs: options.delivery?.baseDelayMs,
    maxAttempts: options.delivery?.maxAttempts,
    transport: outboundTransport,
    policy: outbound,
    onResult: (r) => metrics.delivery(r),
  });

  const retention = createRetentionSweeper({
    store,
    clock,
    logger,
    retentionDays: options.contentRetentionDays,
  });

  /**
   * A tenant's token for an object: the credential that covers it (a phone number's own, a WABA's numbers'), else
   * the tenant's first working one (objects it created, before discovery has recorded any number).
   */
  async function tokenFor(tenantId: string, objectId: string) {
    // From the access cache (same TTL and invalidation as the object check): no store read per proxied send.
    let credentialId = (await access.credentialFor(tenantId, objectId)) ?? null;
    if (!credentialId) {
      const usable = (await manager.listSummaries(tenantId)).find(
        (c) => c.status === 'active' || c.status === 'expiring',
      );
      credentialId = usable?.id ?? null;
    }
    if (!credentialId) return undefined;
    try {
      // The token and its own version, from one cache entry (no side lookup that could see a newer version).
      return { ...(await manager.currentToken(credentialId)), credentialId };
    } catch {
      return undefined;
    }
  }

  // Failed keys count towards the client's throttle on the proxy and on media URLs alike.
  const authenticateTenant = async (key: string, req: IncomingMessage) => {
    const p = await authGuard.authenticate('proxy', () => authGuard.clientOf(req), key);
    if (isThrottled(p)) return p;
    // Admin keys have no tenant: the proxy and media URLs are for tenant keys only.
    return p?.tenantId ? { tenantId: p.tenantId, keyId: p.keyId } : undefined;
  };
  const media = createBrokerMedia({
    sessionKey: options.sessionKey,
    clock,
    appSecret: options.appSecret,
    upstreamUrl: options.graphUrl,
    authenticate: async (key, req) => {
      const p = await authenticateTenant(key, req);
      return isThrottled(p) ? undefined : p;
    },
    ownerOf: (objectId) => access.ownerOf(objectId),
    tokenFor,
  });

  const proxy = createGraphProxy({
    upstreamUrl: options.graphUrl,
    clock,
    appSecret: options.appSecret,
    authenticate: authenticateTenant,
    isAllowedObject: (tenantId, objectId) => access.isAllowedObject(tenantId, objectId),
    tokenFor,
    admitSend: options.sendLimiter
      ? (phoneNumberId) => (options.sendLimiter as SendLimiter).take(phoneNumberId)
      : undefined,
    onTokenRejected: async (_tenantId, rejected, errorBody) => {
      // The token manager decides: a newer version (rotated meanwhile) to retry with, or inspect and mark invalid.
      const next = await manager.tokenRejected(
        rejected.credentialId,
        rejected.token,
        createGraphError({ httpStatus: 401, body: errorBody }),
      );
      return next ? { ...next, credentialId: rejected.credentialId } : undefined;
    },
    rememberObject: (tenantId, objectId, edge) =>
      access.recordObjects(
        [{ objectId, tenantId, kind: createdObjectKind(edge), origin: 'created' }],
        clock.now(),
      ),
    rewriteObjectAnswer: (tenantId, objectId, json) =>
      media.rewrite(json, context.publicUrl(), tenantId, objectId),
    observe: (e) => metrics.proxy(e.status, e.durationMs, e.upstreamMs),
  });

  // Meta calls the Flow endpoint with the real clock's timing; keys retire on the broker's clock.
  const flowEndpoint = createBrokerFlowEndpoint({
    store,
    appSecrets: [options.appSecret, ...(options.previousAppSecrets ?? [])],
    clock,
    logger,
    ...(options.flowTimeoutMs !== undefined ? { timeoutMs: options.flowTimeoutMs } : {}),
    observe: (outcome) => metrics.flowRequest(outcome),
    audit: (event, fields) => context.audit(event, fields),
  });
  const webhook = createNodeWebhookHandler({
    appSecrets: [options.appSecret, ...(options.previousAppSecrets ?? [])],
    verifyToken: options.verifyToken,
    path: webhookPath,
    dedupe: false,
    // The inbox keeps the raw bytes and the dispatcher parses them: no parse on the ack path (a signed body that is
    // not JSON is stored and marked dead by the dispatcher).
    parse: 'after-ack',
    beforeAck: createInboxWriter(
      store,
      (r) => {
        metrics.webhookIngest(r);
        inbox.poke();
      },
      inbox.handoff,
    ),
    onRejected: (err) => metrics.webhookIngest(err.reason),
    logger,
    clock,
  });

  const app = new Hono();
  app.use('*', securityHeaders);
  let ready = false;
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await store.ping();
      if (!ready) return c.json({ status: 'starting' }, 503);
      // Still ready when degraded: the cache TTL covers a missing listener, the local share a missing Redis.
      const bus = options.rotationBus?.state();
      const limits = options.sendLimiter?.mode();
      return c.json({
        status: 'ready',
        engine: store.engine,
        ...(bus ? { rotationListener: bus } : {}),
        ...(limits ? { sendLimits: limits } : {}),
      });
    } catch {
      return c.json({ status: 'store unreachable' }, 503);
    }
  });
  const metricsPort = options.metrics?.port;
  const serveMetrics = metricsEndpoint(metrics, options.metrics?.token);
  // With a port of its own, /metrics is not on the public listener at all.
  if (metricsPort === undefined) app.get('/metrics', serveMetrics);
  app.route('/api/v1', createApi(context));
  app.route('/', createDashboard(context));
  const honoListener = getRequestListener(app.fetch);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    // The proxy and the webhook endpoint answer outside Hono: the same baseline headers as every page.
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    if (url.startsWith('/graph/')) {
      void proxy(req, res, url.slice('/graph'.length));
      return;
    }
    if (url.startsWith('/flows/')) {
      const target = decodeURIComponent(url.slice('/flows/'.length).split('?')[0] ?? '');
      void flowEndpoint(req, res, target).catch((error: unknown) => {
        logger.error('flow endpoint failed', { error });
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    if (url.startsWith('/media/')) {
      void media.handle(req, res, url.slice('/media'.length));
      return;
    }
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) === webhookPath) {
      webhook(req, res);
      return;
    }
    void honoListener(req, res);
  });
  server.keepAliveTimeout = 65_000;
  // Shutdown: responses still being served close their connection when done, so the drain ends with the last one.
  let closing = false;
  const inFlight = new Set<ServerResponse>();
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) res.shouldKeepAlive = false;
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });

  let metricsServer: Server | undefined;
  if (metricsPort !== undefined) {
    const metricsApp = new Hono();
    metricsApp.use('*', securityHeaders);
    metricsApp.get('/metrics', serveMetrics);
    metricsServer = createServer(getRequestListener(metricsApp.fetch));
  }
  let listenUrl: string | undefined;
  let metricsUrl: string | undefined;
  const background = options.background !== false;
  return {
    server,
    app: app as unknown as Hono,
    manager,
    context,
    async listen(port = 8080, host = '127.0.0.1') {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
      listenUrl = `http://${shownHost}:${address.port}`;
      publicUrl ??= listenUrl;
      if (metricsServer) {
        const m = metricsServer;
        await new Promise<void>((resolve, reject) => {
          m.once('error', reject);
          m.listen(metricsPort, host, () => resolve());
        });
        metricsUrl = `http://${shownHost}:${(m.address() as AddressInfo).port}`;
      }
      options.rotationBus?.start({
        onRotation: (id, version) => manager.reload(id, version),
        onResync: () => manager.resyncAll(),
      });
      if (background) {
        manager.start();
        inbox.start();
        deliveries.start();
        retention.start();
      }
      ready = true;
      return publicUrl;
    },
    listenUrl() {
      if (!listenUrl) throw new Error('the broker is not listening yet');
      return listenUrl;
    },
    metricsUrl() {
      return metricsUrl;
    },
    async runWorkersOnce() {
      await manager.runDue();
      await inbox.runOnce();
      await deliveries.runOnce();
      await retention.runOnce();
    },
    async close() {
      ready = false;
      // Stop taking requests, let in-flight ones finish (bounded), then stop workers and the store.
      closing = true;
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      const forced = setTimeout(() => server.closeAllConnections(), 10_000);
      await closed;
      if (metricsServer?.listening) {
        const m = metricsServer;
        await new Promise<void>((resolve) => m.close(() => resolve()));
      }
      clearInterval(idle);
      clearTimeout(forced);
      await inbox.stop();
      await deliveries.stop();
      await retention.stop();
      await manager.close();
      await options.rotationBus?.close();
      await options.sendLimiter?.close();
      if (!options.transport) await transport.close();
      await outboundTransport.close();
      await media.close();
      await store.close();
    },
  };
}
