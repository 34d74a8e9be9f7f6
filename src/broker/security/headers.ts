import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Secret } from '../../core/secret.js';
import type { BrokerMetrics } from '../metrics.js';

/** What every answer that is not a dashboard page gets as its CSP: it loads nothing and frames nothing. */
const BASELINE_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/**
 * Baseline headers on every answer of the broker's Hono app (pages, API, health, metrics): no MIME sniffing, no
 * Referer leaving the broker (its URLs carry tenant ids and one-time codes), and a CSP with `base-uri 'none'` (a
 * page's own CSP gains it when it lacks it).
 */
export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  c.res.headers.set('x-content-type-options', 'nosniff');
  c.res.headers.set('referrer-policy', 'no-referrer');
  const csp = c.res.headers.get('content-security-policy');
  if (!csp) c.res.headers.set('content-security-policy', BASELINE_CSP);
  else if (!/(^|;)\s*base-uri\b/.test(csp))
    c.res.headers.set('content-security-policy', `${csp}; base-uri 'none'`);
};

function tokenMatches(presented: string, expected: Secret): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected.reveal());
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `GET /metrics` (Prometheus text). With `WACLOUD_METRICS_TOKEN` it needs `Authorization: Bearer <token>` (401
 * otherwise, with a `WWW-Authenticate` challenge, as Prometheus' `authorization` scrape setting expects).
 */
export function metricsEndpoint(metrics: BrokerMetrics, token: Secret | undefined) {
  return async (c: Context) => {
    if (token) {
      const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !tokenMatches(m[1] as string, token))
        return c.text('metrics need Authorization: Bearer <WACLOUD_METRICS_TOKEN>', 401, {
          'www-authenticate': 'Bearer realm="wacloud metrics"',
        });
    }
    return c.body(await metrics.render(), 200, { 'content-type': metrics.contentType });
  };
}
