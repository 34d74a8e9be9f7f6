import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { Secret } from '../../core/secret.js';
import { booleanFlag, parseCliArgs, printResult, stringFlag } from '../args.js';
import { type CliCommand, CliExit, type CliIo, EXIT } from '../io.js';

const usage = `wacloud webhook <sign|verify|listen> [options]

  sign    [--file BODY] [--json]
          print the X-Hub-Signature-256 Meta would send for BODY (or standard input), signed with WA_APP_SECRET
  verify  --signature "sha256=…" [--file BODY] [--fallback-secret-env NAME]... [--json]
          check a captured delivery: exit 0 when the signature matches WA_APP_SECRET (or one of
          WA_APP_SECRET_PREVIOUS, or a fallback), 6 when not,
          and list the events it holds
  listen  [--port N] [--host 127.0.0.1] [--path /webhook] [--dedupe] [--json]
          a local endpoint: answers the handshake (WEBHOOK_VERIFICATION_TOKEN), verifies deliveries
          (WA_APP_SECRET) and prints one line per event: kind, phone number id, message/status id.
          Port: WA_LISTENER_PORT (default 3000); path: WEBHOOK_ENDPOINT (default /webhook)`;

/** `wacloud webhook sign | verify | listen`: debug deliveries and run a local endpoint. */
export const command: CliCommand = {
  summary: 'sign or verify a webhook delivery, or listen for deliveries locally',
  usage,
  async run(args, io) {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'sign':
        return sign(rest, io);
      case 'verify':
        return verify(rest, io);
      case 'listen':
        return listen(rest, io);
      default:
        throw new CliExit(
          EXIT.usage,
          `${sub ? `unknown subcommand "${sub}"` : 'a subcommand is required'}\nUsage: ${usage}`,
        );
    }
  },
};

/** WA_APP_SECRET (fetched first when it is a secret reference) and, when asked, WA_APP_SECRET_PREVIOUS. */
async function appSecretsOf(io: CliIo, withPrevious = false): Promise<[Secret, ...Secret[]]> {
  const { cliConfig } = await import('./login.js');
  const config = await cliConfig(
    io,
    withPrevious ? ['WA_APP_SECRET', 'WA_APP_SECRET_PREVIOUS'] : ['WA_APP_SECRET'],
  );
  if (!config.appSecret) {
    throw new CliExit(
      EXIT.config,
      'WA_APP_SECRET is not set: it is the app secret Meta signs webhook deliveries with',
    );
  }
  return [config.appSecret, ...(withPrevious ? config.previousAppSecrets : [])];
}

async function readBody(file: string | undefined, io: CliIo): Promise<Buffer> {
  if (file) {
    try {
      return await readFile(file);
    } catch (err) {
      throw new CliExit(
        EXIT.usage,
        `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  const text = await io.readStdin();
  if (text === '')
    throw new CliExit(EXIT.usage, `give the body with --file or on standard input\nUsage: ${usage}`);
  return Buffer.from(text, 'utf8');
}

async function sign(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCliArgs(
    args,
    { file: { type: 'string' }, json: { type: 'boolean', default: false } },
    usage,
  );
  const [secret] = await appSecretsOf(io);
  const body = await readBody(stringFlag(values, 'file'), io);
  const { signPayload } = await import('../../webhooks/verify-signature.js');
  const signature = signPayload(body, secret);
  printResult(
    io,
    booleanFlag(values, 'json'),
    { header: 'X-Hub-Signature-256', signature, bytes: body.length },
    () => signature,
  );
  return EXIT.ok;
}

async function verify(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCliArgs(
    args,
    {
      signature: { type: 'string' },
      file: { type: 'string' },
      'fallback-secret-env': { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
    },
    usage,
  );
  const signature = stringFlag(values, 'signature');
  if (!signature)
    throw new CliExit(EXIT.usage, `--signature is required (the X-Hub-Signature-256 value)\nUsage: ${usage}`);
  const [current, ...previous] = await appSecretsOf(io, true);
  const secrets: Secret[] = [current, ...previous];
  const names = ['WA_APP_SECRET', ...previous.map((_, i) => `WA_APP_SECRET_PREVIOUS[${i}]`)];
  const fallbackNames = (values['fallback-secret-env'] as string[] | undefined) ?? [];
  const { isSecretReferenceText } = await import('../../core/config.js');
  for (const name of fallbackNames) {
    const v = io.env[name];
    if (!v || v.trim() === '') throw new CliExit(EXIT.config, `${name} (a fallback secret) is not set`);
    if (isSecretReferenceText(v)) {
      // A fallback may be a secret reference too (vault://…, file:…), fetched like WA_APP_SECRET.
      const { resolveSecretSetting } = await import('../../vault/secret-sources/secret-reference.js');
      const { value } = await resolveSecretSetting(name, v, { env: io.env });
      secrets.push(new Secret(value.reveal().trim(), 'fallback-app-secret'));
    } else secrets.push(new Secret(v.trim(), 'fallback-app-secret'));
    names.push(name);
  }
  const body = await readBody(stringFlag(values, 'file'), io);
  const { verifySignature } = await import('../../webhooks/verify-signature.js');
  const check = verifySignature(body, signature, secrets);
  const json = booleanFlag(values, 'json');
  if (!check.valid) {
    const why: Record<typeof check.reason, string> = {
      missing: 'the signature is empty',
      malformed: 'the signature is not "sha256=" followed by 64 hex digits',
      mismatch:
        'the signature does not match this body with the configured secret(s): wrong app secret, or the body was changed (re-serialised, re-encoded, trailing newline?)',
      no_secret: 'no usable secret',
    };
    printResult(
      io,
      json,
      { valid: false, reason: check.reason, message: why[check.reason] },
      () => `invalid: ${why[check.reason]}`,
    );
    return EXIT.invalid;
  }
  const [{ parseJsonBody }, { parseWebhook }, { describeEvent, formatEventLine }] = await Promise.all([
    import('../../webhooks/parse-json-body.js'),
    import('../../webhooks/parse-webhook.js'),
    import('../../webhooks/describe-event.js'),
  ]);
  let events: import('../../webhooks/events.js').WebhookEvent[] = [];
  let jsonError: string | undefined;
  try {
    events = parseWebhook(parseJsonBody(body));
  } catch {
    jsonError = 'the body is not valid JSON (a real delivery would be answered 400)';
  }
  const secretName = names[check.secretIndex];
  const how =
    check.method === 'raw'
      ? 'over the raw bytes'
      : "by Meta's escaped-unicode rule (the body arrived with its \\u escapes decoded)";
  printResult(
    io,
    json,
    { valid: true, secret: secretName, method: check.method, jsonError, events: events.map(describeEvent) },
    () =>
      [
        `valid: signed with ${secretName}, ${how}`,
        ...(jsonError ? [jsonError] : []),
        ...events.map(formatEventLine),
      ].join('\n'),
  );
  return EXIT.ok;
}

async function listen(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCliArgs(
    args,
    {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      path: { type: 'string' },
      dedupe: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    usage,
  );
  const portFlag = stringFlag(values, 'port');
  const { loadResolvedConfig } = await import('../../vault/secret-sources/config-references.js');
  // WA_APP_SECRET (and previous ones) and WEBHOOK_VERIFICATION_TOKEN may be secret references: fetched first.
  const config = await loadResolvedConfig(
    {
      ...(portFlag !== undefined ? { listenerPort: parsePort(portFlag) } : {}),
      ...(stringFlag(values, 'path') !== undefined ? { webhookEndpoint: stringFlag(values, 'path') } : {}),
    },
    {
      env: io.env,
      cwd: io.cwd,
      secrets: ['WA_APP_SECRET', 'WA_APP_SECRET_PREVIOUS', 'WEBHOOK_VERIFICATION_TOKEN'],
    },
  );
  if (!config.appSecret) {
    throw new CliExit(
      EXIT.config,
      'WA_APP_SECRET is not set: deliveries cannot be verified without the app secret',
    );
  }
  if (!config.webhookVerificationToken) {
    io.stderr(
      'warning: WEBHOOK_VERIFICATION_TOKEN is not set; verification requests (the GET handshake) will get 403\n',
    );
  }
  const json = booleanFlag(values, 'json');
  const [
    { createServer },
    { createNodeWebhookHandler },
    { describeEvent, formatEventLine },
    { createJsonLogger },
  ] = await Promise.all([
    import('node:http'),
    import('../../webhooks/adapters/node.js'),
    import('../../webhooks/describe-event.js'),
    import('../../core/logger.js'),
  ]);
  const listener = createNodeWebhookHandler({
    appSecrets: [config.appSecret, ...config.previousAppSecrets],
    verifyToken: config.webhookVerificationToken,
    path: config.webhookEndpoint,
    dedupe: booleanFlag(values, 'dedupe'),
    logger: createJsonLogger({ level: 'warn', write: (line) => io.stderr(`${line}\n`) }),
    onEvent: (event) => {
      io.stdout(
        json
          ? `${JSON.stringify({ ...describeEvent(event), type: event.type })}\n`
          : `${formatEventLine(event)}\n`,
      );
    },
    onRejected: (error, where) =>
      io.stderr(`rejected ${where.method} ${where.path}: ${error.status} ${error.reason}\n`),
  });
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.once('finish', () => {
        if (res.statusCode === 200) io.stderr(`handshake answered for ${req.url?.split('?')[0] ?? ''}\n`);
      });
    }
    listener(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new CliExit(
          EXIT.config,
          err.code === 'EADDRINUSE'
            ? `port ${config.listenerPort} is in use (set WA_LISTENER_PORT or --port)`
            : `cannot listen: ${err.message}`,
        ),
      ),
    );
    server.listen(config.listenerPort, stringFlag(values, 'host'), () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  io.stdout(`listening on http://${host}:${address.port}${config.webhookEndpoint}\n`);
  if (!io.stopSignal.aborted)
    await new Promise((resolve) => io.stopSignal.addEventListener('abort', resolve, { once: true }));
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return EXIT.ok;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new CliExit(EXIT.usage, `--port must be 0-65535, got "${value}"`);
  return n;
}
