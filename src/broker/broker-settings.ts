import { isIP } from 'node:net';
import { parseBaseUrl, readEnvFile } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { Secret } from '../core/secret.js';

/**
 * The broker's own settings (only `wacloud up` reads them; the SDK never does), from the environment merged over
 * `.env` like every other setting:
 *
 * - `WACLOUD_PUBLIC_URL` (`--public-url`): the origin people and Meta reach the broker at (behind a TLS proxy, the
 *   proxy's https origin). It makes the login redirect URIs, the `Secure` cookie flag and every printed URL right.
 *   https, or http for loopback hosts only (a local broker, the sandbox); an origin, with no path.
 * - `WACLOUD_TRUSTED_PROXIES`: addresses of reverse proxies whose `X-Forwarded-For` is believed (comma-separated IPs);
 *   unset, the client address is the socket's.
 * - `WACLOUD_METRICS_TOKEN`: `/metrics` then needs `Authorization: Bearer <token>`.
 * - `WACLOUD_METRICS_PORT`: `/metrics` moves to its own listener on this port (same host), off the public one.
 * - `WACLOUD_METRICS_TENANT_LABELS=true`: per-credential series carry tenant ids (off: no tenant id is listed).
 */
export interface BrokerSettings {
  publicUrl: string | undefined;
  trustedProxies: string[];
  metricsToken: Secret | undefined;
  metricsPort: number | undefined;
  metricsTenantLabels: boolean;
}

/** Validates a public URL: https (http on loopback hosts only), an origin with no path, query or fragment. */
export function parsePublicUrl(variable: string, value: string): string {
  const base = parseBaseUrl(variable, value.trim());
  const url = new URL(base);
  if (url.pathname !== '/' && url.pathname !== '')
    throw new ConfigError(
      variable,
      `must be an origin like https://wa.example.com, with no path (got the path ${url.pathname})`,
    );
  if (url.username || url.password) throw new ConfigError(variable, 'must not carry a user name or password');
  return url.origin;
}

export function readBrokerSettings(
  env: Record<string, string | undefined>,
  cwd: string,
  flags: { publicUrl?: string | undefined } = {},
): BrokerSettings {
  const vars: Record<string, string | undefined> = { ...readEnvFile(`${cwd}/.env`) };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') vars[k] = v;
  const get = (name: string) => {
    const v = vars[name]?.trim();
    return v ? v : undefined;
  };
  const publicUrl = flags.publicUrl ?? get('WACLOUD_PUBLIC_URL');
  const proxies = (get('WACLOUD_TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const p of proxies)
    if (isIP(p) === 0)
      throw new ConfigError(
        'WACLOUD_TRUSTED_PROXIES',
        `"${p.slice(0, 50)}" is not an IP address (list the proxies' addresses, comma-separated)`,
      );
  const metricsToken = get('WACLOUD_METRICS_TOKEN');
  if (metricsToken !== undefined && metricsToken.length < 16)
    throw new ConfigError('WACLOUD_METRICS_TOKEN', 'must be at least 16 characters');
  const port = get('WACLOUD_METRICS_PORT');
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535))
    throw new ConfigError('WACLOUD_METRICS_PORT', 'must be a port number from 1 to 65535');
  const labels = (get('WACLOUD_METRICS_TENANT_LABELS') ?? 'false').toLowerCase();
  if (!['true', 'false', '1', '0'].includes(labels))
    throw new ConfigError('WACLOUD_METRICS_TENANT_LABELS', 'must be true or false');
  return {
    publicUrl:
      publicUrl === undefined
        ? undefined
        : parsePublicUrl(flags.publicUrl !== undefined ? '--public-url' : 'WACLOUD_PUBLIC_URL', publicUrl),
    trustedProxies: proxies.map((p) => p.toLowerCase()),
    metricsToken: metricsToken ? new Secret(metricsToken, 'metrics-token') : undefined,
    metricsPort: port === undefined ? undefined : Number(port),
    metricsTenantLabels: labels === 'true' || labels === '1',
  };
}

/**
 * A Meta app needs both its id and its secret. Half of one (`WA_APP_ID` without `WA_APP_SECRET`, or the reverse) is
 * a configuration error naming the missing variable: never a silent fall-back to the sandbox.
 */
export function checkMetaApp(config: { appId: string | undefined; appSecret: Secret | undefined }): void {
  if (config.appId && !config.appSecret)
    throw new ConfigError(
      'WA_APP_SECRET',
      'is not set, but WA_APP_ID is: a Meta app needs both (unset both to run the sandbox)',
    );
  if (!config.appId && config.appSecret)
    throw new ConfigError(
      'WA_APP_ID',
      'is not set, but WA_APP_SECRET is: a Meta app needs both (unset both to run the sandbox)',
    );
}

/**
 * The sandbox's Facebook dialog on another site than the broker, as facebook.com is: the return from it is then a
 * cross-site navigation in the browser, so cookie rules (SameSite) that would break with real Meta break here too.
 * Loopback has two names for one address: the dialog takes whichever the broker's public URL does not use.
 */
export function dialogOnAnotherSite(sandboxUrl: string, brokerPublicUrl: string): string {
  const dialog = new URL(sandboxUrl);
  const brokerHost = new URL(brokerPublicUrl).hostname;
  dialog.hostname = brokerHost === '127.0.0.1' ? 'localhost' : '127.0.0.1';
  return dialog.origin;
}
