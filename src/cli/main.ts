import { scrubText } from '../core/secret.js';
import { type CliCommand, type CliIo, describeSystemError, exitCodeFor, readAllStdin } from './io.js';

/** Commands load lazily so `wacloud --help` stays fast and a command's dependencies load only when used. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CliCommand> }> = {
  // One line per command: name → summary and a lazy import of src/cli/commands/<name>.ts (exports `command`).
  up: {
    summary: 'run the broker: dashboard, API, Graph proxy, webhook inbox (sandbox without a Meta app)',
    load: () => import('./commands/up.js').then((m) => m.command),
  },
  emulator: {
    summary: 'run a local Graph API / WhatsApp Cloud API emulator',
    load: () => import('./commands/emulator.js').then((m) => m.command),
  },
  flows: {
    summary: 'WhatsApp Flows: key pairs in the vault, Flow JSON checks, previews, endpoint tests',
    load: () => import('./commands/flows.js').then((m) => m.command),
  },
  keys: {
    summary: 'show, rotate or re-wrap the encryption keys of the credential store',
    load: () => import('./commands/keys.js').then((m) => m.command),
  },
  send: {
    summary: 'send a text or template message',
    load: () => import('./commands/send.js').then((m) => m.command),
  },
  login: {
    summary: 'log in with Facebook Login and save a long-lived token',
    load: () => import('./commands/login.js').then((m) => m.command),
  },
  'admin-key': {
    summary: 'create a new admin key (recovers a lost one); needs access to the store',
    load: () => import('./commands/admin-key.js').then((m) => m.command),
  },
  token: {
    summary: 'inspect, exchange, refresh or revoke a token; get the app token',
    load: () => import('./commands/token.js').then((m) => m.command),
  },
  webhook: {
    summary: 'sign or verify a webhook delivery, or listen for deliveries locally',
    load: () => import('./commands/webhook.js').then((m) => m.command),
  },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `wacloud: keep WhatsApp Cloud API access working

Usage: wacloud <command> [options]

Commands:
${lines.join('\n')}

Run "wacloud <command> --help" for a command's options.
Configuration comes from options, the environment and ./.env (see the README).
`;
}

export function defaultIo(): CliIo {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    readStdin: readAllStdin,
    stopSignal: controller.signal,
    isTTY: process.stdout.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
  };
}

export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(help());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    io.stdout(`${pkg.version}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr(`wacloud: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(`${command.summary}\n\nUsage: ${command.usage}\n`);
      return 0;
    }
    return await command.run(rest, io);
  } catch (err) {
    const text = describeSystemError(err) ?? (err instanceof Error ? err.message : String(err));
    io.stderr(`wacloud ${name}: ${scrubText(text)}\n`);
    return exitCodeFor(err);
  }
}
