import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Credential counts for the gauges, computed at scrape time from the store. */
export interface CredentialSnapshot {
  byState: Record<string, number>;
  /** Seconds to expiry per credential that expires (never-expiring ones are left out). */
  expiries: Array<{ credentialId: string; tenantId: string; kind: string; secondsToExpiry: number }>;
}

/**
 * The broker's Prometheus metrics. One registry per broker (tests run several in one process).
 * Label values are ids and kinds, never a token.
 */
export function createBrokerMetrics(
  snapshot: () => Promise<CredentialSnapshot>,
  options: {
    /** List tenant ids in per-credential series (`WACLOUD_METRICS_TENANT_LABELS`); off by default. */
    tenantLabels?: boolean;
  } = {},
) {
  const tenantLabels = options.tenantLabels === true;
  const registry = new Registry();
  let last: Promise<CredentialSnapshot> | undefined;
  const collectOnce = (): Promise<CredentialSnapshot> => {
    last ??= snapshot().finally(() => {
      last = undefined;
    });
    return last;
  };
  new Gauge({
    name: 'wacloud_credentials',
    help: 'Credentials by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const s = await collectOnce();
      this.reset();
      for (const state of ['active', 'expiring', 'expired', 'invalid', 'revoked'])
        this.set({ state }, s.byState[state] ?? 0);
    },
  });
  new Gauge({
    name: 'wacloud_credential_seconds_to_expiry',
    help: 'Seconds until each expiring credential stops working',
    labelNames: tenantLabels ? ['credential_id', 'tenant_id', 'kind'] : ['credential_id', 'kind'],
    registers: [registry],
    async collect() {
      const s = await collectOnce();
      this.reset();
      for (const e of s.expiries) {
        const labels = { credential_id: e.credentialId, kind: e.kind };
        this.set(tenantLabels ? { ...labels, tenant_id: e.tenantId } : labels, e.secondsToExpiry);
      }
    },
  });
  const tokenEvents = new Counter({
    name: 'wacloud_token_events_total',
    help: 'Token lifecycle events (refreshed, rotated, expiring, invalid, renewal_failed, ...)',
    labelNames: ['event'],
    registers: [registry],
  });
  const proxyDuration = new Histogram({
    name: 'wacloud_proxy_request_duration_seconds',
    help: 'Graph proxy request duration, whole request',
    labelNames: ['status_class'],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const proxyAdded = new Histogram({
    name: 'wacloud_proxy_added_latency_seconds',
    help: 'Latency the proxy adds on top of the upstream call',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025],
    registers: [registry],
  });
  // Label children resolved once: `observe({ status_class }, v)` hashes the labels object on every proxied request.
  const proxyByClass = ['1xx', '2xx', '3xx', '4xx', '5xx'].map((c) => proxyDuration.labels(c));
  const webhookIngest = new Counter({
    name: 'wacloud_webhook_ingest_total',
    help: 'Webhook requests received, by result (accepted, duplicate, bad_signature, bad_request, too_large, ...)',
    labelNames: ['result'],
    registers: [registry],
  });
  const deliveries = new Counter({
    name: 'wacloud_webhook_deliveries_total',
    help: 'Outbound deliveries to tenant subscriptions, by result (delivered, retry, dead)',
    labelNames: ['result'],
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'wacloud_auth_failures_total',
    help: 'Failed authentications (a wrong or malformed key), by surface (proxy, api, dashboard)',
    labelNames: ['surface'],
    registers: [registry],
  });
  const authThrottled = new Counter({
    name: 'wacloud_auth_throttled_total',
    help: 'Requests answered 429 after a burst of failed authentications, by surface',
    labelNames: ['surface'],
    registers: [registry],
  });
  return {
    registry,
    authFailure: (surface: string) => authFailures.inc({ surface }),
    authThrottled: (surface: string) => authThrottled.inc({ surface }),
    tokenEvent: (event: string) => tokenEvents.inc({ event }),
    proxy: (status: number, durationMs: number, upstreamMs: number) => {
      const byClass = proxyByClass[Math.floor(status / 100) - 1];
      if (byClass) byClass.observe(durationMs / 1000);
      else proxyDuration.observe({ status_class: `${Math.floor(status / 100)}xx` }, durationMs / 1000);
      if (upstreamMs > 0) proxyAdded.observe(Math.max(0, durationMs - upstreamMs) / 1000);
    },
    webhookIngest: (result: string) => webhookIngest.inc({ result }),
    delivery: (result: string) => deliveries.inc({ result }),
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;
