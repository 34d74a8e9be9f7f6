import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

/**
 * A private PostgreSQL cluster (initdb + pg_ctl) on a free loopback port, so a test can restart PostgreSQL without
 * touching the machine's shared server that other tests use. Runs as the `postgres` OS user when the test runs as
 * root (PostgreSQL refuses to run as root).
 */
export interface PrivatePg {
  url: string;
  port: number;
  /** `pg_ctl stop -m fast`: every connection is cut. */
  stop(): Promise<void>;
  /** `pg_ctl start`, waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): void;
}

/** The newest installed PostgreSQL bin directory (Debian layout), if any. */
function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

function currentUser(): string {
  try {
    return execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** Why a private cluster cannot be started here, or undefined when it can. */
export function privatePgUnavailable(): string | undefined {
  if (!pgBinDir()) return 'no PostgreSQL server binaries under /usr/lib/postgresql/*/bin';
  const user = currentUser();
  if (user !== 'root' && user !== 'postgres')
    return `initdb needs to run as root (then as the postgres user) or as postgres; this is "${user}"`;
  if (user === 'root') {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root but there is no postgres OS user to run the server as';
    }
  }
  return undefined;
}

export async function startPrivatePg(): Promise<PrivatePg> {
  const bin = pgBinDir() as string;
  const asRoot = currentUser() === 'root';
  const dir = mkdtempSync(join(tmpdir(), 'wacloud-pg-'));
  const data = join(dir, 'data');
  const argv = (tool: string, args: string[]): [string, string[]] => {
    const cmd = join(bin, tool);
    return asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  };
  const run = async (tool: string, args: string[]): Promise<void> => {
    const [cmd, rest] = argv(tool, args);
    await promisify(execFile)(cmd, rest);
  };
  if (asRoot) {
    chmodSync(dir, 0o700);
    execFileSync('chown', ['postgres:postgres', dir]);
  }
  const port = await freePort();
  await run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const start = () =>
    run('pg_ctl', ['start', '-D', data, '-w', '-t', '30', '-l', join(dir, 'log'), '-o', options]);
  const stop = () => run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30']);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    destroy() {
      try {
        const [cmd, rest] = argv('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30']);
        execFileSync(cmd, rest, { stdio: 'ignore' });
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
