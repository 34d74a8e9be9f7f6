import { createHmac, randomBytes } from 'node:crypto';
import { Secret } from '../../core/secret.js';
import { booleanFlag, intFlag, parseCliArgs, stringFlag } from '../args.js';
import { type CliCommand, CliExit, EXIT } from '../io.js';

const usage =
  'wacloud up [--port 8080] [--host 127.0.0.1] [--public-url https://wa.example.com] [--sandbox-port 0] [--log-level info]';

/** Derives a named broker secret from the master key, so every instance sharing the key agrees on it. */
export function derive(masterKey: Buffer, purpose: string): Secret {
  return new Secret(
    createHmac('sha256', masterKey).update(`wacloud/broker/${purpose}/v1`).digest('base64url'),
    purpose,
  );
}

/**
 * Scheduler tuning from the environment (small fleets, tests): `WACLOUD_TOKEN_LEASE_MS` (how long a renewal lease
 * holds a credential; a crashed instance's work is taken over after it), `WACLOUD_TOKEN_POLL_MS` (how often an
 * instance asks the store for work other instances scheduled) and `WACLOUD_INSTANCE_ID` (the lease owner name, unique
 * per instance). Unset: the token manager's defaults (2 min, 60 s) and a random id.
 */
async function schedulerPolicies(
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<{ policies: { leaseMs?: number; pollIntervalMs?: number }; instanceId?: string }> {
  const { readEnvFile } = await import('../../core/config.js');
  const { ConfigError } = await import('../../core/errors.js');
  const vars = { ...readEnvFile(`${cwd}/.env`), ...env };
  const read = (name: string): number | undefined => {
    const v = vars[name]?.trim();
    if (!v) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 100 || n > 86_400_000)
      throw new ConfigError(name, 'must be a whole number of milliseconds from 100 to 86400000');
    return n;
  };
  const leaseMs = read('WACLOUD_TOKEN_LEASE_MS');
  const pollIntervalMs = read('WACLOUD_TOKEN_POLL_MS');
  const instanceId = vars.WACLOUD_INSTANCE_ID?.trim() || undefined;
  if (instanceId !== undefined && !/^[A-Za-z0-9._:-]{1,100}$/.test(instanceId))
    throw new ConfigError('WACLOUD_INSTANCE_ID', 'must be 1-100 letters, digits, ".", "_", ":" or "-"');
  return {
    policies: { ...(leaseMs ? { leaseMs } : {}), ...(pollIntervalMs ? { pollIntervalMs } : {}) },
    ...(instanceId ? { instanceId } : {}),
  };
}

/**
 * `wacloud up`: the broker on its embedded defaults: SQLite in ./.wacloud, a generated key file, and, with no Meta
 * app configured (WA_APP_ID / WA_APP_SECRET), an embedded emulator as a sandbox. Prints the dashboard URL and, on
 * the first start, an admin key (once: only its hash is stored).
 */
export const command: CliCommand = {
  summary: 'run the broker (dashboard, Graph proxy, webhook inbox)',
  usage,
  async run(args, io) {
    const { values } = parseCliArgs(
      args,
      {
        port: { type: 'string' },
        host: { type: 'string' },
        'sandbox-port': { type: 'string' },
        'public-url': { type: 'string' },
        'log-level': { type: 'string' },
        quiet: { type: 'boolean', default: false },
      },
      usage,
    );
    // Secret settings may be references (file:, vault://, aws-sm://, gcp-sm://, dotenv:, env:): fetched once, here,
    // before anything is created or connects. WACLOUD_MASTER_KEY is fetched by resolveMasterKey below.
    const { loadResolvedConfig } = await import('../../vault/secret-sources/config-references.js');
    const config = await loadResolvedConfig(
      {},
      {
        env: io.env,
        cwd: io.cwd,
        secrets: [
          'WA_APP_SECRET',
          'WA_APP_SECRET_PREVIOUS',
          'WEBHOOK_VERIFICATION_TOKEN',
          'DATABASE_URL',
          'DATABASE_LISTEN_URL',
          'REDIS_URL',
        ],
      },
    );
    const { policies, instanceId } = await schedulerPolicies(io.env, io.cwd);
    // A malformed WACLOUD_OUTBOUND_ALLOW stops the start here, before anything is created.
    const { createOutboundPolicy } = await import('../../broker/outbound-policy.js');
    createOutboundPolicy({ allow: config.outboundAllow });
    const { checkMetaApp, dialogOnAnotherSite, readBrokerSettings } = await import(
      '../../broker/broker-settings.js'
    );
    checkMetaApp(config);
    const settings = readBrokerSettings(io.env, io.cwd, { publicUrl: stringFlag(values, 'public-url') });
    const port = intFlag(values, 'port', 0, 65_535, usage) ?? config.brokerPort;
    const host = stringFlag(values, 'host') ?? '127.0.0.1';
    const level = (stringFlag(values, 'log-level') ?? (config.debug ? 'debug' : 'info')) as
      | 'debug'
      | 'info'
      | 'warn'
      | 'error';
    if (!['debug', 'info', 'warn', 'error'].includes(level))
      throw new CliExit(EXIT.usage, `--log-level must be debug, info, warn or error\nUsage: ${usage}`);

    const { mkdirSync, rmSync } = await import('node:fs');
    // A failed start leaves no half-made data dir: what this run created (key file, SQLite, sandbox state) goes again.
    const createdDataDir = mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const discardDataDir: (err: unknown) => never = (err) => {
      if (createdDataDir) rmSync(createdDataDir, { recursive: true, force: true });
      throw err;
    };
    const { createBrokerLogger } = await import('../../broker/logger.js');
    const logger = createBrokerLogger({ level, destination: { write: (l) => io.stderr(l) } });
    const { resolveMasterKey } = await import('../../vault/crypto/master-key.js');
    // WACLOUD_MASTER_KEY may be a secret reference (file:, vault://, aws-sm://, gcp-sm://): fetched once, here.
    const master = await resolveMasterKey({
      masterKey: config.masterKey,
      dataDir: config.dataDir,
      logger,
      createIfMissing: true,
      secretSources: { env: config.sourceEnv },
    }).catch(discardDataDir);
    const fromReferences = Object.keys(config.secretReferences);
    if (fromReferences.length > 0) {
      logger.info('secret settings read from secret references', { ...config.secretReferences });
    }

    let sandbox: import('../../broker/sandbox.js').Sandbox | undefined;
    let appId = config.appId;
    let appSecret = config.appSecret;
    let graphUrl = config.graphUrl;
    let dialogUrl = config.dialogUrl;
    if (!appId || !appSecret) {
      const { startSandbox } = await import('../../broker/sandbox.js');
      sandbox = await startSandbox({
        dataDir: config.dataDir,
        port: intFlag(values, 'sandbox-port', 0, 65_535, usage) ?? 0,
        loginConfigId: config.loginConfigId,
      }).catch(discardDataDir);
      appId = sandbox.appId;
      appSecret = new Secret(sandbox.appSecret, 'app-secret');
      graphUrl = sandbox.url;
      // The dialog on another site than the broker, as facebook.com is (the return is then cross-site here too).
      dialogUrl = dialogOnAnotherSite(
        sandbox.url,
        settings.publicUrl ??
          `http://${host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}`,
      );
    }
    const verifyToken =
      config.webhookVerificationToken ?? (sandbox ? derive(master.key, 'verify-token') : undefined);
    if (!verifyToken) {
      logger.warn(
        'WEBHOOK_VERIFICATION_TOKEN is not set: Meta webhook handshakes will be refused until it is',
      );
    }

    const { openStore } = await import('../../store/open-store.js');
    let store: Awaited<ReturnType<typeof openStore>>;
    try {
      store = await openStore(config, { logger, masterKey: master });
    } catch (err) {
      await sandbox?.close();
      discardDataDir(err);
    }
    // Scale-out (docs/deployment.md): rotation notices between instances on PostgreSQL; per-number send limits,
    // shared through Redis when REDIS_URL is set, else this instance's share (WACLOUD_INSTANCES).
    const { createSendLimiter } = await import('../../scale/send-limiter.js');
    const sendLimiter = createSendLimiter({
      limit: config.sendRateLimit,
      overrides: config.sendRateLimitOverrides,
      instances: config.instances,
      redisUrl: config.redisUrl,
      logger,
    });
    let rotationBus: import('../../scale/rotation-bus.js').RotationBus | undefined;
    if (store.engine === 'postgres' && config.databaseUrl) {
      const { createStoreRotationBus } = await import('../../scale/rotation-bus.js');
      rotationBus = await createStoreRotationBus(store.credentials.db, {
        listenUrl: config.databaseListenUrl ?? config.databaseUrl,
        logger,
      });
    }
    const { createBroker } = await import('../../broker/broker.js');
    const broker = createBroker({
      store: store,
      appId,
      appSecret,
      // Outside the sandbox: app secrets still accepted on webhooks while Meta's app secret is being rotated.
      ...(sandbox ? {} : { previousAppSecrets: config.previousAppSecrets }),
      graphUrl,
      dialogUrl,
      loginConfigId: config.loginConfigId,
      embeddedSignupConfigId: sandbox ? sandbox.embeddedSignupConfigId : config.loginConfigId,
      apiVersion: config.apiVersion,
      // Unset outside the sandbox: an unguessable value, so every handshake is refused until the variable is set.
      verifyToken: verifyToken ?? new Secret(randomBytes(32).toString('hex'), 'verify-token'),
      webhookPath: config.webhookEndpoint,
      sessionKey: derive(master.key, 'session'),
      publicUrl: settings.publicUrl,
      trustedProxies: settings.trustedProxies,
      metrics: {
        token: settings.metricsToken,
        port: settings.metricsPort,
        tenantLabels: settings.metricsTenantLabels,
      },
      sandbox: sandbox !== undefined,
      policies,
      instanceId,
      // In the sandbox, token lifetimes follow the emulator's virtual clock: advancing it ages the tokens.
      clock: sandbox?.emulator.clock,
      logger,
      rotationBus,
      sendLimiter,
      outboundAllow: config.outboundAllow,
      contentRetentionDays: config.contentRetentionDays,
    });
    let url: string;
    let listening: string;
    try {
      url = await broker.listen(port, host);
      listening = broker.listenUrl();
    } catch (err) {
      await broker.close().catch(() => undefined);
      await sandbox?.close();
      const code = (err as { code?: string }).code;
      if (code === 'EADDRINUSE')
        discardDataDir(
          new CliExit(EXIT.config, `port ${port} is already in use (set PORT or --port; 0 picks a free one)`),
        );
      discardDataDir(err);
    }
    if (sandbox && verifyToken) await sandbox.connect(url, config.webhookEndpoint, verifyToken);

    const { generateApiKey } = await import('../../broker/security/api-key.js');
    let adminKey: string | undefined;
    if ((await store.apiKeys.count()) === 0) {
      const made = generateApiKey();
      await store.apiKeys.insert(
        { keyId: made.keyId, hash: made.hash, tenantId: null, label: 'first admin key' },
        Date.now(),
      );
      adminKey = made.key.reveal();
    }
    const lines = [
      `wacloud broker listening on ${listening}`,
      ...(settings.publicUrl ? [`  public URL     ${url}`] : []),
      `  dashboard      ${url}/`,
      `  API            ${url}/api/v1 (OpenAPI: ${url}/api/v1/openapi.json)`,
      `  Graph proxy    ${url}/graph/${config.apiVersion}/...`,
      `  webhooks       ${url}${config.webhookEndpoint}`,
      `  store          ${store.engine === 'postgres' ? 'PostgreSQL' : `SQLite in ${config.dataDir}`}`,
    ];
    if (sandbox)
      lines.push(
        `  sandbox        no Meta app configured: using the embedded emulator at ${sandbox.url}`,
        `                 its Facebook dialog at ${dialogUrl} (another site than the broker, as facebook.com is)`,
      );
    else
      lines.push(`  redirect URIs  ${url}/connect/callback (add it to the app's Valid OAuth Redirect URIs)`);
    if (adminKey) {
      lines.push(
        '',
        'Admin key (shown once; only its hash is stored — keep it somewhere safe):',
        `  ${adminKey}`,
      );
    }
    if (!booleanFlag(values, 'quiet')) io.stdout(`${lines.join('\n')}\n`);

    await new Promise<void>((resolve) => {
      if (io.stopSignal.aborted) resolve();
      io.stopSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    io.stderr('wacloud broker: shutting down\n');
    await broker.close();
    await sandbox?.close();
    return EXIT.ok;
  },
};
