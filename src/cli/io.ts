import type { Clock } from '../core/clock.js';
import { WacloudError } from '../core/errors.js';

/** Exit codes, stable for scripts. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  config: 3,
  graph: 4,
  network: 5,
  invalid: 6,
  /** The store cannot be used: database unreachable, refusing the login, locked, full or failing a migration. */
  store: 7,
} as const;

/** What a command writes to and reads from; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Resolves with all of standard input, or '' when it is a terminal. */
  readStdin: () => Promise<string>;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); long-running commands await it. */
  stopSignal: AbortSignal;
  isTTY: boolean;
  /** Whether standard input is a terminal; false when something is piped in (unset in tests: treated as a terminal). */
  stdinIsTTY?: boolean;
  /** Time for commands that wait (`keys rotate --wait`); tests pass a ManualClock. Default: the system clock. */
  clock?: Clock;
}

/** Thrown by commands for a clean exit with a message; only the bin calls process.exit. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliExit';
  }
}

/** A command module: `wacloud <name> ...args`. */
export interface CliCommand {
  summary: string;
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
}

/** Maps an error to an exit code and a one-line message (already scrubbed by WacloudError). */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CliExit) return err.exitCode;
  if (err instanceof WacloudError) {
    switch (err.code) {
      case 'CONFIG_INVALID':
        return EXIT.config;
      case 'VALIDATION':
        return EXIT.invalid;
      case 'GRAPH':
      case 'OAUTH':
        return EXIT.graph;
      case 'TRANSPORT':
        return EXIT.network;
      case 'STORE':
        return EXIT.store;
      default:
        return EXIT.failure;
    }
  }
  if (describeSystemError(err)) return EXIT.config;
  return EXIT.failure;
}

/** What a file-system error on a path the user configured means, and what to do; undefined for anything else. */
export function describeSystemError(err: unknown): string | undefined {
  const { code, path } = (err ?? {}) as { code?: unknown; path?: unknown };
  if (typeof code !== 'string' || typeof path !== 'string') return undefined;
  switch (code) {
    case 'EEXIST':
    case 'ENOTDIR':
      return `${path} (or a folder on its way) is a file where a folder is needed: point WACLOUD_DATA_DIR (or the path option) at a folder, or move the file`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to use ${path}: run as a user that may write there, or point WACLOUD_DATA_DIR (or the path option) elsewhere`;
    case 'EROFS':
      return `${path} is on a read-only file system: point WACLOUD_DATA_DIR (or the path option) at a writable folder`;
    case 'ENOENT':
      return `${path} does not exist: check the path`;
    default:
      return undefined;
  }
}

export async function readAllStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
