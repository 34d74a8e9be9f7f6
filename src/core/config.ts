import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from './errors.js';
import { Secret } from './secret.js';

/** Latest stable Graph API version (graph-api-facts.md §12). */
export const DEFAULT_API_VERSION = 'v26.0';
export const DEFAULT_GRAPH_URL = 'https://graph.facebook.com';
export const DEFAULT_DIALOG_URL = 'https://www.facebook.com';

/** Everything wacloud reads from options, the environment or `.env`, validated. Names: design.md "Contracts". */
export interface WacloudConfig {
  accessToken: Secret | undefined;
  phoneNumberId: string | undefined;
  businessAccountId: string | undefined;
  apiVersion: string;
  listenerPort: number;
  webhookEndpoint: string;
  webhookVerificationToken: Secret | undefined;
  requestTimeoutMs: number;
  debug: boolean;
  appId: string | undefined;
  appSecret: Secret | undefined;
  /** `WA_APP_SECRET_PREVIOUS`: app secrets still accepted on webhook signatures during an app-secret rotation. */
  previousAppSecrets: Secret[];
  graphUrl: string;
  dialogUrl: string;
  /**
   * `WA_LOGIN_CONFIG_ID`: a Facebook Login for Business configuration id. When set the broker's Connect sends
   * `config_id` instead of scopes, and its dashboard offers Embedded Signup (Meta's JS SDK) with it.
   */
  loginConfigId: string | undefined;
  dataDir: string;
  databaseUrl: Secret | undefined;
  masterKey: Secret | undefined;
  brokerPort: number;
  redisUrl: Secret | undefined;
  /** `DATABASE_LISTEN_URL`: a direct/session-mode PostgreSQL URL for the broker's LISTEN connection (PgBouncer). */
  databaseListenUrl: Secret | undefined;
  /** `WACLOUD_INSTANCES`: broker instances sharing the work; without Redis each takes 1/n of a send limit. */
  instances: number;
  /** `WACLOUD_SEND_RATE_LIMIT`: messages per second per phone number through the proxy (Meta: 80); 0 = off. */
  sendRateLimit: number;
  /** `WACLOUD_SEND_RATE_LIMIT_OVERRIDES`: `id=mps,id=mps` for numbers Meta upgraded (e.g. to 1000). */
  sendRateLimitOverrides: Record<string, number>;
  /** `WACLOUD_OUTBOUND_ALLOW`: hosts/addresses/CIDRs outbound webhooks may reach although local (development). */
  outboundAllow: string | undefined;
  /** `WACLOUD_CONTENT_RETENTION_DAYS`: days customer content (webhook bodies, delivery payloads) is kept. */
  contentRetentionDays: number;
}

/** Explicit options; each wins over its environment variable. Option names follow the seed SDK's. */
export interface ConfigOptions {
  accessToken?: string | Secret;
  phoneNumberId?: string;
  businessAcctId?: string;
  apiVersion?: string;
  listenerPort?: number;
  webhookEndpoint?: string;
  webhookVerificationToken?: string | Secret;
  requestTimeout?: number;
  debug?: boolean;
  appId?: string;
  appSecret?: string | Secret;
  previousAppSecrets?: Array<string | Secret>;
  graphUrl?: string;
  dialogUrl?: string;
  loginConfigId?: string;
  dataDir?: string;
  databaseUrl?: string | Secret;
  masterKey?: string | Secret;
  port?: number;
  redisUrl?: string | Secret;
  databaseListenUrl?: string | Secret;
  instances?: number;
  sendRateLimit?: number;
}

export interface LoadConfigOptions {
  /** Defaults to `process.env`. */
  env?: Record<string, string | undefined>;
  /** `.env` file to read when present; `false` to skip. Default: `./.env` in `cwd`. */
  envFile?: string | false;
  cwd?: string;
}

type Source = Record<string, string | undefined>;

const DIGITS = /^\d{1,32}$/;
const VERSION = /^v\d{1,3}\.\d{1,2}$/;

/**
 * A bad value as shown in a ConfigError. Short values (ids, ports, versions) are quoted to help; long ones are
 * only described, because a long value in the wrong variable is often a secret pasted into it (an app secret in
 * WA_APP_ID, a verify token in WEBHOOK_ENDPOINT).
 */
function shown(value: string): string {
  return value.length <= 20 ? `"${value}"` : `the ${value.length}-character value given`;
}

/** Reads a `.env` file; a missing file is fine, an unreadable one is a ConfigError. */
export function readEnvFile(path: string): Source {
  if (!existsSync(path)) return {};
  try {
    return parseEnv(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(path, `cannot read the .env file (${(err as Error).message})`);
  }
}

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Validates a base URL: https anywhere, http only on loopback (the emulator, a local broker). */
export function parseBaseUrl(variable: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `"${value}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(variable, `must be an http(s) URL, got ${url.protocol}`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(
      variable,
      `plain http is allowed only for loopback hosts (got ${url.hostname}); use https`,
    );
  }
  if (url.search || url.hash) throw new ConfigError(variable, 'must not have a query string or fragment');
  return url.toString().replace(/\/+$/, '');
}

function parseIntIn(variable: string, value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value.trim())) throw new ConfigError(variable, `${shown(value)} is not a whole number`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(variable, `${n} is out of range (${min} to ${max})`);
  return n;
}

function parseBool(variable: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', '*', 'wacloud', 'wacloud*'].includes(v)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(v)) return false;
  // DEBUG=some:namespace (the `debug` package convention) turns us on only when it names wacloud.
  if (v.includes(':') || v.includes(',')) return v.split(/[\s,]+/).some((ns) => ns.startsWith('wacloud'));
  throw new ConfigError(variable, `${shown(value)} is not a boolean (use true or false)`);
}

function parseId(variable: string, value: string): string {
  const v = value.trim();
  if (!DIGITS.test(v)) throw new ConfigError(variable, `${shown(value)} is not a numeric Meta id`);
  return v;
}

/**
 * How a secret reference starts (docs/secret-sources.md). Only these prefixes make a value a reference: a raw
 * `postgres://` URL, an app secret (hex) or a token never starts with one of them.
 */
export const SECRET_REFERENCE_SCHEMES = [
  'env:',
  'file:',
  'dotenv:',
  'vault://',
  'vault+http://',
  'aws-sm://',
  'gcp-sm://',
] as const;

/** True when `text` (trimmed) is a secret reference by {@link SECRET_REFERENCE_SCHEMES}. */
export function isSecretReferenceText(text: string): boolean {
  if (typeof text !== 'string') return false;
  const t = text.trim();
  return SECRET_REFERENCE_SCHEMES.some((s) => t.startsWith(s));
}

/**
 * A secret setting holding a reference the synchronous loader cannot fetch. Loading succeeds (a caller may not use
 * that setting at all), but using the value throws a ConfigError pointing at the async loader, so the reference's
 * text is never used as the secret itself (e.g. to sign with "vault://…"). Prints like any Secret.
 */
class UnresolvedSecretReference extends Secret {
  readonly #variable: string;
  constructor(variable: string, text: string, label: string) {
    super(text, label);
    this.#variable = variable;
  }
  override reveal(): string {
    const scheme = SECRET_REFERENCE_SCHEMES.find((s) => super.reveal().startsWith(s));
    throw new ConfigError(
      this.#variable,
      `holds a secret reference (${scheme}…), which loadConfig cannot fetch: load the configuration with loadResolvedConfig from wacloud/vault (the wacloud CLI does)`,
    );
  }
}

/** True for a setting whose value is a secret reference left unfetched by {@link loadConfig}. */
export function isUnresolvedSecretReference(value: unknown): boolean {
  return value instanceof UnresolvedSecretReference;
}

/** A secret setting from options or the environment; a reference becomes an {@link UnresolvedSecretReference}. */
function secretSetting(
  opt: [keyof ConfigOptions, string | Secret | undefined],
  found: [string, string] | undefined,
  label: string,
): Secret | undefined {
  const [variable, value] = opt[1] !== undefined ? [`options.${opt[0]}`, opt[1]] : (found ?? ['', undefined]);
  if (typeof value === 'string' && isSecretReferenceText(value)) {
    return new UnresolvedSecretReference(variable, value.trim(), label);
  }
  return secretOf(value, label);
}

function secretOf(value: string | Secret | undefined, label: string): Secret | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Secret) return value;
  const v = value.trim();
  return v === '' ? undefined : new Secret(v, label);
}

/**
 * Resolves configuration: explicit options over environment over `.env`. Throws one ConfigError naming the first
 * bad variable.
 *
 * @example
 * const config = loadConfig({}, { env: { CLOUD_API_ACCESS_TOKEN: '...', WA_PHONE_NUMBER_ID: '123' } });
 */
export function loadConfig(options: ConfigOptions = {}, load: LoadConfigOptions = {}): WacloudConfig {
  const cwd = load.cwd ?? process.cwd();
  const fileVars = load.envFile === false ? {} : readEnvFile(resolve(cwd, load.envFile ?? '.env'));
  // A variable that is set but blank in the environment does not hide the .env file's value for it.
  const env: Source = { ...fileVars };
  for (const [k, v] of Object.entries(load.env ?? process.env))
    if (v !== undefined && v.trim() !== '') env[k] = v;
  const get = (...names: string[]): [string, string] | undefined => {
    for (const name of names) {
      const v = env[name];
      if (v !== undefined && v.trim() !== '') return [name, v];
    }
    return undefined;
  };
  const str = (opt: string | undefined, ...names: string[]): [string, string] | undefined =>
    opt !== undefined ? [`options.${names[0]}`, opt] : get(...names);

  const phone = str(options.phoneNumberId, 'WA_PHONE_NUMBER_ID');
  const waba = str(options.businessAcctId, 'WA_BUSINESS_ACCOUNT_ID');
  const appId = str(options.appId, 'WA_APP_ID', 'M4D_APP_ID');
  const version = str(options.apiVersion, 'CLOUD_API_VERSION');
  const listener =
    options.listenerPort !== undefined
      ? ['options.listenerPort', String(options.listenerPort)]
      : get('WA_LISTENER_PORT', 'LISTENER_PORT');
  const endpoint = str(options.webhookEndpoint, 'WEBHOOK_ENDPOINT');
  const timeout =
    options.requestTimeout !== undefined
      ? ['options.requestTimeout', String(options.requestTimeout)]
      : get('REQUEST_TIMEOUT');
  const debug = options.debug !== undefined ? ['options.debug', String(options.debug)] : get('DEBUG');
  const graphUrl = str(options.graphUrl, 'WA_GRAPH_URL');
  const dialogUrl = str(options.dialogUrl, 'WA_DIALOG_URL');
  const loginConfigId = str(options.loginConfigId, 'WA_LOGIN_CONFIG_ID');
  const dataDir = str(options.dataDir, 'WACLOUD_DATA_DIR');
  const brokerPort = options.port !== undefined ? ['options.port', String(options.port)] : get('PORT');

  if (version && !VERSION.test(version[1].trim())) {
    throw new ConfigError(
      version[0],
      `${shown(version[1])} is not a Graph API version like ${DEFAULT_API_VERSION}`,
    );
  }
  const endpointPath = endpoint ? endpoint[1].trim() : '/webhook';
  if (!endpointPath.startsWith('/') || /[?#\s]/.test(endpointPath)) {
    throw new ConfigError(
      endpoint?.[0] ?? 'WEBHOOK_ENDPOINT',
      `${shown(endpointPath)} must be a path starting with /`,
    );
  }
  const dbUrl = secretSetting(['databaseUrl', options.databaseUrl], get('DATABASE_URL'), 'database-url');
  if (dbUrl && !isUnresolvedSecretReference(dbUrl) && !/^postgres(ql)?:\/\//.test(dbUrl.reveal())) {
    throw new ConfigError(
      'DATABASE_URL',
      'must be a postgres:// URL (leave it unset to use SQLite in the data dir)',
    );
  }

  const redisUrl = secretSetting(['redisUrl', options.redisUrl], get('REDIS_URL'), 'redis-url');
  if (redisUrl && !isUnresolvedSecretReference(redisUrl) && !/^rediss?:\/\//.test(redisUrl.reveal())) {
    throw new ConfigError(
      'REDIS_URL',
      'must be a redis:// or rediss:// URL (leave it unset to run without Redis)',
    );
  }
  const listenUrl = secretSetting(
    ['databaseListenUrl', options.databaseListenUrl],
    get('DATABASE_LISTEN_URL'),
    'database-url',
  );
  if (
    listenUrl &&
    !isUnresolvedSecretReference(listenUrl) &&
    !/^postgres(ql)?:\/\//.test(listenUrl.reveal())
  ) {
    throw new ConfigError(
      'DATABASE_LISTEN_URL',
      'must be a postgres:// URL (a direct or session-mode connection)',
    );
  }
  if (listenUrl && !dbUrl) {
    throw new ConfigError(
      'DATABASE_LISTEN_URL',
      'is set but DATABASE_URL is not (it is only used with PostgreSQL)',
    );
  }
  const instances =
    options.instances !== undefined
      ? ['options.instances', String(options.instances)]
      : get('WACLOUD_INSTANCES');
  const rate =
    options.sendRateLimit !== undefined
      ? ['options.sendRateLimit', String(options.sendRateLimit)]
      : get('WACLOUD_SEND_RATE_LIMIT');
  const overrides = get('WACLOUD_SEND_RATE_LIMIT_OVERRIDES');
  const retention = get('WACLOUD_CONTENT_RETENTION_DAYS');
  const previous = get('WA_APP_SECRET_PREVIOUS');
  const previousAppSecrets =
    options.previousAppSecrets !== undefined
      ? options.previousAppSecrets.map((v) =>
          secretSetting(['previousAppSecrets', v], undefined, 'app-secret-previous'),
        )
      : (previous?.[1].split(',') ?? []).map((item) =>
          secretSetting(
            ['previousAppSecrets', undefined],
            [previous?.[0] as string, item],
            'app-secret-previous',
          ),
        );
  return {
    accessToken: secretSetting(
      ['accessToken', options.accessToken],
      get('CLOUD_API_ACCESS_TOKEN'),
      'access-token',
    ),
    phoneNumberId: phone ? parseId(phone[0], phone[1]) : undefined,
    businessAccountId: waba ? parseId(waba[0], waba[1]) : undefined,
    apiVersion: version ? version[1].trim() : DEFAULT_API_VERSION,
    listenerPort: listener ? parseIntIn(listener[0], listener[1], 0, 65535) : 3000,
    webhookEndpoint: endpointPath,
    webhookVerificationToken: secretSetting(
      ['webhookVerificationToken', options.webhookVerificationToken],
      get('WEBHOOK_VERIFICATION_TOKEN'),
      'verify-token',
    ),
    requestTimeoutMs: timeout ? parseIntIn(timeout[0], timeout[1], 1, 600_000) : 20_000,
    debug: debug ? parseBool(debug[0], debug[1]) : false,
    appId: appId ? parseId(appId[0], appId[1]) : undefined,
    appSecret: secretSetting(
      ['appSecret', options.appSecret],
      get('WA_APP_SECRET', 'M4D_APP_SECRET'),
      'app-secret',
    ),
    previousAppSecrets: previousAppSecrets.filter((s): s is Secret => s !== undefined),
    graphUrl: graphUrl ? parseBaseUrl(graphUrl[0], graphUrl[1].trim()) : DEFAULT_GRAPH_URL,
    dialogUrl: dialogUrl ? parseBaseUrl(dialogUrl[0], dialogUrl[1].trim()) : DEFAULT_DIALOG_URL,
    loginConfigId: loginConfigId ? parseId(loginConfigId[0], loginConfigId[1]) : undefined,
    dataDir: resolve(cwd, dataDir ? dataDir[1].trim() : '.wacloud'),
    databaseUrl: dbUrl,
    masterKey: secretOf(options.masterKey ?? get('WACLOUD_MASTER_KEY')?.[1], 'master-key'),
    brokerPort: brokerPort ? parseIntIn(brokerPort[0], brokerPort[1], 0, 65535) : 8080,
    redisUrl,
    databaseListenUrl: listenUrl,
    instances: instances ? parseIntIn(instances[0], instances[1], 1, 10_000) : 1,
    sendRateLimit: rate ? parseIntIn(rate[0], rate[1], 0, 1_000_000) : 80,
    sendRateLimitOverrides: overrides ? parseRateOverrides(overrides[0], overrides[1]) : {},
    outboundAllow: get('WACLOUD_OUTBOUND_ALLOW')?.[1].trim() || undefined,
    contentRetentionDays: retention ? parseIntIn(retention[0], retention[1], 1, 36_500) : 30,
  };
}

/** `id=mps,id=mps` → a map; one ConfigError naming the variable on anything else. */
function parseRateOverrides(variable: string, value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of value.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^(\d{1,32})\s*=\s*([1-9]\d{0,6})$/.exec(item);
    if (!m) {
      throw new ConfigError(variable, `${shown(item)} is not "<phone-number-id>=<messages per second>"`);
    }
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}
