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
      default:
        return EXIT.failure;
    }
  }
  return EXIT.failure;
}

export async function readAllStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
