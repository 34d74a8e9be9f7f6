import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../../src/cli/io.js';
import type { Clock } from '../../src/core/clock.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const binPath = fileURLToPath(new URL('../../bin/wacloud.js', import.meta.url));

/** A running `wacloud` process (the built CLI, as users run it) with its output captured. */
export interface CliProcess {
  proc: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects after `timeoutMs` or if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(graceMs?: number): Promise<number | null>;
}

function signalGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (proc.pid) process.kill(-proc.pid, signal);
  } catch {
    proc.kill(signal);
  }
}

export function spawnCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; command?: string[] } = {},
): CliProcess {
  const [cmd, ...pre] = options.command ?? [process.execPath, binPath];
  const proc = spawn(cmd as string, [...pre, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group, so stop() also ends what it started (npm start → sh → node).
    detached: true,
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const l of listeners) l();
  });
  return {
    proc,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(pattern);
          if (m) {
            cleanup();
            resolve(m);
          } else if (done) {
            cleanup();
            reject(new Error(`process exited before ${pattern} appeared; output:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 5_000) {
      if (done) return exited;
      signalGroup(proc, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs the CLI to completion. */
export async function runCli(
  args: string[],
  options: {
    env?: Record<string, string | undefined>;
    cwd?: string;
    stdin?: string;
    timeoutMs?: number;
  } = {},
): Promise<{ code: number | null; output: string }> {
  const p = spawnCli(args, options);
  if (options.stdin !== undefined) p.proc.stdin?.end(options.stdin);
  else p.proc.stdin?.end();
  const timer = setTimeout(() => signalGroup(p.proc, 'SIGKILL'), options.timeoutMs ?? 30_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output() };
}

/** Runs the CLI's `main` in this process with a captured io (fast; for commands that need no separate process). */
export async function runCliInProcess(
  argv: string[],
  env: Record<string, string | undefined>,
  cwd: string,
  stopSignal: AbortSignal = new AbortController().signal,
  clock?: Clock,
): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../../src/cli/main.js');
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    env,
    cwd,
    readStdin: async () => '',
    stopSignal,
    isTTY: false,
    ...(clock ? { clock } : {}),
  };
  const code = await main(argv, io);
  return { code, out, err };
}
