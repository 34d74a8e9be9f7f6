import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './ports.js';

/**
 * A private `redis-server` on a free loopback port (no persistence), so a test can stop Redis and start it again
 * without touching the machine's shared Redis that other tests use.
 */
export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGTERM, waiting until the process has exited: every connection is cut. */
  stop(): Promise<void>;
  /** Starts it again on the same port, waiting until it answers PING. */
  start(): Promise<void>;
  /** Stops it (SIGKILL if it lingers). */
  destroy(): Promise<void>;
}

/** Why a private Redis cannot be started here, or undefined when it can. */
export function privateRedisUnavailable(): string | undefined {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'no redis-server on PATH (apt-get install redis-server)';
  }
}

/** Whether something on 127.0.0.1:port answers a RESP PING with +PONG. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    output = '';
    const p = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    p.stdout?.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
    });
    p.stderr?.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
    });
    child = p;
    const deadline = Date.now() + 15_000;
    while (!(await pings(port))) {
      if (p.exitCode !== null || Date.now() > deadline)
        throw new Error(`redis-server on port ${port} did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    const p = child;
    child = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop: () => stopWith('SIGTERM'),
    destroy: () => stopWith('SIGKILL'),
  };
}
