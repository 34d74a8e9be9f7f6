import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { WacloudConfig } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { type Secret, scrubText } from '../../core/secret.js';
import type { SecretSetting } from '../../vault/secret-sources/config-references.js';
import { booleanFlag, parseCliArgs, printResult, stringFlag } from '../args.js';
import { type CliCommand, CliExit, type CliIo, EXIT } from '../io.js';

const usage = `wacloud login [--scopes a,b | --config-id ID] [--rerequest] [--port N] [--host 127.0.0.1|localhost]
                     [--path /callback] [--open | --no-open] [--no-exchange] [--save env|store|none|stdout] [--tenant NAME]
                     [--env-file .env] [--env-var CLOUD_API_ACCESS_TOKEN] [--timeout SECONDS] [--json]`;

const DEFAULT_SCOPES = ['whatsapp_business_management', 'whatsapp_business_messaging'];

/**
 * The configuration with the secret settings a command uses fetched first when they are secret references
 * (`WA_APP_SECRET=vault://…`, `DATABASE_URL=file:…`; docs/secret-sources.md). Nothing connects before this.
 */
export async function cliConfig(
  io: CliIo,
  secrets: readonly SecretSetting[],
): Promise<WacloudConfig & { sourceEnv: Record<string, string | undefined> }> {
  const { loadResolvedConfig } = await import('../../vault/secret-sources/config-references.js');
  return loadResolvedConfig({}, { env: io.env, cwd: io.cwd, secrets });
}

/** Reads WA_APP_ID / WA_APP_SECRET (and the URLs) the way every command does; a clear message when missing. */
export async function appConfig(
  io: CliIo,
  secrets: readonly SecretSetting[] = ['WA_APP_SECRET'],
): Promise<WacloudConfig & { appId: string; appSecret: Secret }> {
  const config = await cliConfig(io, secrets);
  if (!config.appId)
    throw new ConfigError('WA_APP_ID', 'is not set: the Meta app id (App Dashboard > App settings)');
  if (!config.appSecret) {
    throw new ConfigError(
      'WA_APP_SECRET',
      'is not set: the app secret (App Dashboard > App settings > Basic)',
    );
  }
  return config as WacloudConfig & { appId: string; appSecret: Secret };
}

/** A browser opener on PATH (xdg-open, open, wslview), if any. */
function findOpener(env: Record<string, string | undefined>): string | undefined {
  const names = process.platform === 'darwin' ? ['open'] : ['xdg-open', 'wslview'];
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    for (const name of names) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * Asks a yes/no question on the terminal without blocking the login: the callback may arrive while the question is
 * still open (the person pasted the URL themselves), and `close()` then withdraws it.
 */
function askYesNo(question: string): { answer: Promise<boolean>; close: () => void } {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = new Promise<boolean>((resolve) => {
    rl.question(question, (text) => resolve(!/^\s*n/i.test(text)));
    rl.once('close', () => resolve(false));
  });
  return { answer: answer.finally(() => rl.close()), close: () => rl.close() };
}

function escapeHtmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, text: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtmlText(title)}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto"><h1>${escapeHtmlText(title)}</h1>
<p>${escapeHtmlText(text)}</p></body></html>`;
}

/**
 * `wacloud login`: Facebook Login from a terminal. A loopback callback server on a free port, the dialog URL printed
 * (and opened on request), state + PKCE, code exchange, long-lived exchange, inspection, a masked summary, and the
 * token saved to a 0600 `.env`.
 */
export const command: CliCommand = {
  summary: 'log in with Facebook Login and save a long-lived token',
  usage,
  async run(args, io) {
    const { values } = parseCliArgs(
      args,
      {
        scopes: { type: 'string' },
        'config-id': { type: 'string' },
        rerequest: { type: 'boolean', default: false },
        port: { type: 'string' },
        host: { type: 'string' },
        path: { type: 'string' },
        open: { type: 'boolean', default: false },
        'no-open': { type: 'boolean', default: false },
        'no-exchange': { type: 'boolean', default: false },
        save: { type: 'string' },
        tenant: { type: 'string' },
        'env-file': { type: 'string' },
        'env-var': { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      usage,
    );
    const json = booleanFlag(values, 'json');
    const save = stringFlag(values, 'save') ?? 'env';
    if (!['env', 'store', 'none', 'stdout'].includes(save)) {
      throw new CliExit(EXIT.usage, `--save must be env, store, none or stdout\nUsage: ${usage}`);
    }
    const host = stringFlag(values, 'host') ?? '127.0.0.1';
    if (host !== '127.0.0.1' && host !== 'localhost') {
      throw new CliExit(
        EXIT.usage,
        '--host must be 127.0.0.1 or localhost: the callback server only listens on loopback',
      );
    }
    const portText = stringFlag(values, 'port') ?? '0';
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
      throw new CliExit(EXIT.usage, `--port must be a port number (0 for a free one), got "${portText}"`);
    }
    const path = stringFlag(values, 'path') ?? '/callback';
    if (!/^\/[A-Za-z0-9/_.-]*$/.test(path))
      throw new CliExit(EXIT.usage, '--path must be a plain path like /callback');
    const timeoutText = stringFlag(values, 'timeout') ?? '300';
    if (!/^\d{1,5}$/.test(timeoutText) || Number(timeoutText) < 1) {
      throw new CliExit(EXIT.usage, '--timeout must be a whole number of seconds');
    }
    const scopesFlag = stringFlag(values, 'scopes');
    const configId = stringFlag(values, 'config-id');
    const scopes = scopesFlag
      ? scopesFlag.split(/[\s,]+/).filter(Boolean)
      : configId
        ? undefined
        : DEFAULT_SCOPES;
    const envVar = stringFlag(values, 'env-var') ?? 'CLOUD_API_ACCESS_TOKEN';
    const envFile = resolve(io.cwd, stringFlag(values, 'env-file') ?? '.env');

    // --save store opens the credential store: DATABASE_URL may be a reference too.
    const config = await appConfig(
      io,
      save === 'store' ? ['WA_APP_SECRET', 'DATABASE_URL'] : ['WA_APP_SECRET'],
    );
    const { createAuthClient } = await import('../../auth/auth-client.js');
    const { createLoginFlow } = await import('../../auth/login-flow.js');
    const { formatTokenSummary, tokenSummaryJson } = await import('../../auth/token-summary.js');
    const { setEnvFileVariable } = await import('../../auth/env-file.js');
    const { OAuthStateError } = await import('../../auth/oauth-errors.js');
    const progress = (line: string): void => io.stderr(`${line}\n`);

    const auth = createAuthClient({
      appId: config.appId,
      appSecret: config.appSecret,
      graphUrl: config.graphUrl,
      apiVersion: config.apiVersion,
      timeoutMs: config.requestTimeoutMs,
    });
    let server: Server | undefined;
    try {
      // The server starts first: the redirect URI needs its port.
      // `afterSent` runs once the response has been sent, so the browser sees its page before the server closes.
      let onCallback: (url: string) => Promise<{ status: number; html: string; afterSent?: () => void }> =
        async () => ({
          status: 503,
          html: page('Not ready', 'The login has not started yet.'),
        });
      server = createServer((req, res) => {
        const url = req.url ?? '/';
        if (req.method !== 'GET' || url.split('?')[0] !== path) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
          return;
        }
        void onCallback(url).then(({ status, html, afterSent }) => {
          if (afterSent) res.once('finish', afterSent);
          res
            .writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
            .end(html);
        });
      });
      const srv = server;
      await new Promise<void>((ok, fail) => {
        srv.once('error', fail);
        srv.listen(Number(portText), '127.0.0.1', () => ok());
      }).catch((err: NodeJS.ErrnoException) => {
        throw new CliExit(
          EXIT.failure,
          `cannot listen on 127.0.0.1:${portText} (${err.code ?? err.message}): choose another --port`,
        );
      });
      const port = (srv.address() as AddressInfo).port;
      const redirectUri = `http://${host}:${port}${path}`;
      const flow = createLoginFlow({
        auth,
        redirectUri,
        scopes,
        configId,
        dialogUrl: config.dialogUrl,
        exchangeForLongLived: !booleanFlag(values, 'no-exchange'),
        stateTtlMs: Number(timeoutText) * 1000,
      });
      const started = await flow.start({ rerequest: booleanFlag(values, 'rerequest') });

      let question: ReturnType<typeof askYesNo> | undefined;
      type Outcome =
        | { ok: true; result: Awaited<ReturnType<typeof flow.complete>> }
        | { ok: false; error: unknown };
      const outcome = new Promise<Outcome>((settle) => {
        let done = false;
        onCallback = async (url) => {
          if (done) return { status: 409, html: page('Already done', 'This login has already finished.') };
          try {
            // A pending "Open it?" prompt has no newline yet.
            progress(`${question ? '\n' : ''}Callback received; exchanging the code...`);
            const result = await flow.complete(url);
            done = true;
            return {
              status: 200,
              html: page('Logged in', 'wacloud has your token. You can close this window.'),
              afterSent: () => settle({ ok: true, result }),
            };
          } catch (error) {
            // A stray or forged request must not end a login in progress: refuse it and keep waiting.
            if (error instanceof OAuthStateError && error.reason !== 'state-expired') {
              progress(`Ignored a callback: ${scrubText((error as Error).message)}`);
              return { status: 400, html: page('Login failed', (error as Error).message) };
            }
            done = true;
            return {
              status: 400,
              html: page('Login failed', scrubText((error as Error).message)),
              afterSent: () => settle({ ok: false, error }),
            };
          }
        };
      });

      progress(`Listening for the login callback on ${redirectUri}`);
      progress(
        `(add this exact URI to "Valid OAuth Redirect URIs" of app ${config.appId}; use --port for a fixed one)`,
      );
      progress('');
      progress('Open this URL in a browser to log in:');
      progress('');
      progress(`  ${started.url}`);
      progress('');
      const opener = findOpener(io.env);
      const openBrowser = (): void => {
        if (!opener) {
          progress('No browser opener (xdg-open/open) found: open the URL yourself.');
          return;
        }
        const child = spawn(opener, [started.url], { stdio: 'ignore', detached: true });
        child.on('error', () => progress('Could not start the browser: open the URL yourself.'));
        child.unref();
      };
      progress('Waiting for you to finish in the browser... (Ctrl-C to give up)');
      if (booleanFlag(values, 'open')) openBrowser();
      else if (!booleanFlag(values, 'no-open') && io.isTTY && process.stdin.isTTY && opener) {
        question = askYesNo('Open it in your browser now? [Y/n] ');
        void question.answer.then((yes) => {
          if (yes) openBrowser();
        });
      }

      const timeoutMs = Number(timeoutText) * 1000;
      let timer: NodeJS.Timeout | undefined;
      const stopped = new Promise<Outcome>((settle) => {
        timer = setTimeout(
          () =>
            settle({
              ok: false,
              error: new CliExit(EXIT.failure, `no login within ${timeoutText} s: run wacloud login again`),
            }),
          timeoutMs,
        );
        io.stopSignal.addEventListener(
          'abort',
          () => settle({ ok: false, error: new CliExit(EXIT.failure, 'login interrupted') }),
          { once: true },
        );
      });
      const final = await Promise.race([outcome, stopped]);
      clearTimeout(timer);
      question?.close();
      if (!final.ok) throw final.error;
      const { result } = final;

      const now = Date.now();
      let savedTo: string | undefined;
      if (save === 'env') {
        await setEnvFileVariable(envFile, envVar, result.token);
        savedTo = envFile;
      }
      let stored: import('../save-to-store.js').SavedToStore | undefined;
      if (save === 'store') {
        const { saveToStore } = await import('../save-to-store.js');
        const { createJsonLogger } = await import('../../core/logger.js');
        stored = await saveToStore(
          config,
          stringFlag(values, 'tenant') ?? 'default',
          result.token,
          result.kind,
          result.inspection,
          createJsonLogger({ level: 'warn', write: (l) => io.stderr(`${l}\n`) }),
        );
      }
      const summary = tokenSummaryJson(result.inspection, result.token, result.kind);
      const out = {
        ...summary,
        exchanged: result.exchanged,
        savedTo: savedTo ?? null,
        envVar: savedTo ? envVar : null,
        store: stored ?? null,
      };
      if (save === 'stdout') {
        // Asked for explicitly: the token alone on stdout, for a pipe; the summary on stderr.
        io.stdout(`${result.token.reveal()}\n`);
        progress(formatTokenSummary(result.inspection, result.token, result.kind, now));
        return EXIT.ok;
      }
      printResult(io, json, out, () =>
        [
          '',
          `Logged in${result.exchanged ? ' and exchanged for a long-lived token' : ''}.`,
          formatTokenSummary(result.inspection, result.token, result.kind, now),
          '',
          stored
            ? `Stored encrypted in the ${stored.engine === 'postgres' ? 'PostgreSQL' : 'SQLite'} store: tenant "${stored.tenantName}", credential ${stored.credentialId} v${stored.version}${stored.replaced ? ' (replaced the previous token)' : ''}.`
            : savedTo
              ? `Saved ${envVar} to ${savedTo} (mode 0600).`
              : 'Not saved (--save none): run again with --save env to keep it.',
          result.kind === 'user-long'
            ? 'A long-lived user token cannot be extended: run wacloud login again before it expires, or use a system-user token.'
            : '',
        ]
          .filter((l, i, all) => l !== '' || i === 0 || all[i - 1] !== '')
          .join('\n'),
      );
      return EXIT.ok;
    } finally {
      const srv = server;
      if (srv) {
        await new Promise<void>((r) => {
          srv.close(() => r());
          // Browsers keep connections alive; the page was already sent.
          srv.closeAllConnections();
        });
      }
      await auth.close();
    }
  },
};
