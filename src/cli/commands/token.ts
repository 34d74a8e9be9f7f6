import { resolve } from 'node:path';
import { Secret } from '../../core/secret.js';
import { booleanFlag, parseCliArgs, printResult, stringFlag } from '../args.js';
import { type CliCommand, CliExit, type CliIo, EXIT } from '../io.js';
import { appConfig, cliConfig } from './login.js';

const usage = `wacloud token <inspect|exchange|refresh|revoke|app> [options]
  inspect   what a token is, for whom, until when, with which scopes (debug_token)
  exchange  a short-lived user token for a long-lived one (fb_exchange_token)
  refresh   a 60-day system-user token for a new 60-day one
  revoke    revoke a token at Meta
  app       get the app access token (client_credentials) and check it

The token is read from an environment variable (--from-env NAME, default CLOUD_API_ACCESS_TOKEN, also from ./.env)
or from standard input (--stdin; \`inspect\` also reads a piped one without it); never from the command line, where shell history and ps would keep it.
Options: [--from-env NAME | --stdin] [--save env|store|none|stdout] [--tenant NAME] [--env-file .env] [--env-var NAME] [--yes] [--reveal] [--json]`;

const SUBCOMMANDS = new Set(['inspect', 'exchange', 'refresh', 'revoke', 'app']);

async function readToken(io: CliIo, values: Record<string, unknown>, sub: string): Promise<Secret> {
  // `wacloud token inspect < token.txt` (README): without --stdin or --from-env, a non-terminal standard input that
  // holds text is the token; an empty one (a closed pipe, /dev/null) falls back to the variable.
  const piped =
    sub === 'inspect' && values.stdin !== true && values['from-env'] === undefined && io.stdinIsTTY === false
      ? (await io.readStdin()).trim()
      : '';
  if (values.stdin === true || piped) {
    const text = piped || (await io.readStdin()).trim();
    if (!text) throw new CliExit(EXIT.usage, '--stdin: standard input was empty (pipe the token in)');
    if (/\s/.test(text))
      throw new CliExit(EXIT.usage, 'standard input: expected one token, found whitespace inside');
    return new Secret(text, 'access-token');
  }
  const name = typeof values['from-env'] === 'string' ? values['from-env'] : 'CLOUD_API_ACCESS_TOKEN';
  const fromEnv = io.env[name];
  let value = fromEnv?.trim();
  const { isSecretReferenceText, readEnvFile } = await import('../../core/config.js');
  const fileVars = readEnvFile(resolve(io.cwd, '.env'));
  // The .env file in the working directory, as every other command reads it.
  if (!value) value = fileVars[name]?.trim();
  if (!value)
    throw new CliExit(
      EXIT.config,
      `${name} is not set: export it, put it in ./.env, or pipe the token with --stdin`,
    );
  if (isSecretReferenceText(value)) {
    // The variable may name where the token is (vault://…, aws-sm://…, file:…), like every secret setting.
    const { resolveSecretSetting } = await import('../../vault/secret-sources/secret-reference.js');
    const env = { ...fileVars };
    for (const [k, v] of Object.entries(io.env)) if (v?.trim()) env[k] = v;
    return new Secret(
      (await resolveSecretSetting(name, value, { env })).value.reveal().trim(),
      'access-token',
    );
  }
  return new Secret(value, 'access-token');
}

/** `wacloud token …`: inspection, exchange, refresh, revocation and the app token, all with masked output. */
export const command: CliCommand = {
  summary: 'inspect, exchange, refresh or revoke a token; get the app token',
  usage,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (!sub || !SUBCOMMANDS.has(sub)) {
      throw new CliExit(EXIT.usage, `${sub ? `unknown subcommand "${sub}"\n` : ''}Usage: ${usage}`);
    }
    const { values, positionals } = parseCliArgs(
      rest,
      {
        'from-env': { type: 'string' },
        stdin: { type: 'boolean', default: false },
        save: { type: 'string' },
        tenant: { type: 'string' },
        'env-file': { type: 'string' },
        'env-var': { type: 'string' },
        yes: { type: 'boolean', default: false },
        reveal: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      usage,
    );
    if (positionals.length > 0) {
      throw new CliExit(
        EXIT.usage,
        'tokens are not accepted as arguments (shell history and ps would keep them): use --stdin or --from-env NAME',
      );
    }
    const json = booleanFlag(values, 'json');
    const save = stringFlag(values, 'save') ?? (sub === 'exchange' || sub === 'refresh' ? 'env' : 'none');
    if (!['env', 'store', 'none', 'stdout'].includes(save))
      throw new CliExit(EXIT.usage, '--save must be env, store, none or stdout');
    const envVar =
      stringFlag(values, 'env-var') ?? stringFlag(values, 'from-env') ?? 'CLOUD_API_ACCESS_TOKEN';
    const envFile = resolve(io.cwd, stringFlag(values, 'env-file') ?? '.env');
    const progress = (line: string): void => io.stderr(`${line}\n`);

    const { createAuthClient } = await import('../../auth/auth-client.js');
    const { formatTokenSummary, maskToken, tokenSummaryJson } = await import('../../auth/token-summary.js');
    const { credentialKindOf, parseDebugToken } = await import('../../auth/token-inspection.js');

    if (sub === 'inspect') {
      const config = await cliConfig(io, ['WA_APP_SECRET']);
      const token = await readToken(io, values, sub);
      let inspection: import('../../auth/token-inspection.js').TokenInspection;
      if (config.appId && config.appSecret) {
        const auth = createAuthClient({
          appId: config.appId,
          appSecret: config.appSecret,
          graphUrl: config.graphUrl,
          apiVersion: config.apiVersion,
          timeoutMs: config.requestTimeoutMs,
        });
        try {
          inspection = await auth.inspect(token);
        } finally {
          await auth.close();
        }
      } else {
        // Without the app secret, a token can still describe itself (debug_token accepts a token of the same app).
        const { GraphClient } = await import('../../graph/graph-client.js');
        const { toOAuthError } = await import('../../auth/oauth-errors.js');
        const graph = new GraphClient({
          graphUrl: config.graphUrl,
          apiVersion: config.apiVersion,
          timeoutMs: config.requestTimeoutMs,
        });
        try {
          const data = await graph.get('debug_token', { input_token: token.reveal() }, { token });
          inspection = parseDebugToken(data);
        } catch (err) {
          throw toOAuthError(err, 'inspect');
        } finally {
          await graph.close();
        }
      }
      const kind = credentialKindOf(inspection, Date.now());
      printResult(io, json, tokenSummaryJson(inspection, token, kind), () =>
        formatTokenSummary(inspection, token, kind, Date.now()),
      );
      return inspection.isValid ? EXIT.ok : EXIT.invalid;
    }

    const config = await appConfig(io);
    const auth = createAuthClient({
      appId: config.appId,
      appSecret: config.appSecret,
      graphUrl: config.graphUrl,
      apiVersion: config.apiVersion,
      timeoutMs: config.requestTimeoutMs,
    });
    try {
      if (sub === 'app') {
        const token = await auth.getAppToken();
        const inspection = await auth.inspect(token);
        if (booleanFlag(values, 'reveal')) {
          io.stdout(`${token.reveal()}\n`);
          return EXIT.ok;
        }
        printResult(io, json, tokenSummaryJson(inspection, token, 'app'), () =>
          [
            formatTokenSummary(inspection, token, 'app', Date.now()),
            '',
            'App tokens are derived from the app secret: wacloud never stores them. Use --reveal to print it for a pipe.',
          ].join('\n'),
        );
        return EXIT.ok;
      }

      const token = await readToken(io, values, sub);
      if (sub === 'revoke') {
        if (!booleanFlag(values, 'yes')) {
          throw new CliExit(
            EXIT.usage,
            `revoking ${maskToken(token)} cannot be undone: add --yes to confirm`,
          );
        }
        await auth.revoke(token);
        printResult(
          io,
          json,
          { revoked: true, token: { length: token.length, sha256: token.fingerprint } },
          () => `Revoked ${maskToken(token)}.`,
        );
        return EXIT.ok;
      }

      progress(
        sub === 'exchange'
          ? 'Exchanging for a long-lived token...'
          : 'Refreshing the 60-day system-user token...',
      );
      const fresh =
        sub === 'exchange'
          ? await auth.exchangeForLongLived(token)
          : await auth.refreshSystemUserToken(token);
      const inspection = await auth.inspect(fresh.accessToken);
      const kind = credentialKindOf(inspection, Date.now());
      let savedTo: string | undefined;
      if (save === 'env') {
        const { setEnvFileVariable } = await import('../../auth/env-file.js');
        await setEnvFileVariable(envFile, envVar, fresh.accessToken);
        savedTo = envFile;
      }
      let stored: import('../save-to-store.js').SavedToStore | undefined;
      if (save === 'store') {
        const { saveToStore } = await import('../save-to-store.js');
        const { appConfig } = await import('./login.js');
        const { createJsonLogger } = await import('../../core/logger.js');
        if (!kind)
          throw new CliExit(EXIT.invalid, 'this token is not a user or system-user token: nothing to store');
        stored = await saveToStore(
          await appConfig(io, ['WA_APP_SECRET', 'DATABASE_URL']),
          stringFlag(values, 'tenant') ?? 'default',
          fresh.accessToken,
          kind,
          inspection,
          createJsonLogger({ level: 'warn', write: (l) => io.stderr(`${l}\n`) }),
        );
      }
      if (save === 'stdout') {
        io.stdout(`${fresh.accessToken.reveal()}\n`);
        progress(formatTokenSummary(inspection, fresh.accessToken, kind, Date.now()));
        return EXIT.ok;
      }
      const same = fresh.accessToken.equals(token);
      printResult(
        io,
        json,
        {
          ...tokenSummaryJson(inspection, fresh.accessToken, kind),
          unchanged: same,
          savedTo: savedTo ?? null,
          store: stored ?? null,
        },
        () =>
          [
            same
              ? 'Graph returned the same token (it was already long-lived or never expires).'
              : 'New token:',
            formatTokenSummary(inspection, fresh.accessToken, kind, Date.now()),
            stored
              ? `Stored encrypted: tenant "${stored.tenantName}", credential ${stored.credentialId} v${stored.version}${stored.replaced ? ' (replaced the previous token)' : ''}.`
              : savedTo
                ? `Saved ${envVar} to ${savedTo} (mode 0600).`
                : 'Not saved (--save none).',
          ].join('\n'),
      );
      return EXIT.ok;
    } finally {
      await auth.close();
    }
  },
};
