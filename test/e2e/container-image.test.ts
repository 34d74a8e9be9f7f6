// Issue 15: the container image. No container engine runs on these machines (docs/deployment.md, "Container image"),
// so this test runs the Dockerfile itself without one: it parses the stages, executes the build stage's COPY and RUN
// steps in a clean folder (the build context is a clone of the working tree, so .dockerignored files are absent), the
// runtime stage's COPY --from steps into a second folder, then starts the image's CMD there with the image's ENV and
// answers its HEALTHCHECK. It also checks what a runtime image must be (non-root, VOLUME, config by environment only)
// and that compose.yaml is the two-instance deployment docs/deployment.md describes.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot, spawnCli } from '../support/cli-process.js';
import { freePort } from '../support/ports.js';

const run = promisify(execFile);

interface Step {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string;
  steps: Step[];
}

/** The Dockerfile's stages and steps (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\n\s*/g, ' ').split('\n');
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, op, args] = m as unknown as [string, string, string];
    if (op === 'FROM') {
      const [from, , name] = args.split(/\s+/);
      stages.push({ from: from!, name: name ?? String(stages.length), steps: [] });
    } else stages.at(-1)?.steps.push({ op, args });
  }
  return stages;
}

/** A JSON-array instruction argument (exec form), as the engine reads it. */
const execForm = (args: string): string[] => JSON.parse(args) as string[];
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  npm_config_update_notifier: 'false',
  NO_COLOR: '1',
};
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1)!;
const scratch = mkdtempSync(join(tmpdir(), 'wacloud-image-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('Dockerfile', () => {
  it('is multi-stage: a build stage, then a slim runtime that runs as a non-root user with a volume and a healthcheck', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    expect(runtime.from).toMatch(/^node:20-[a-z]+-slim$/);
    const ops = (op: string) => runtime.steps.filter((s) => s.op === op).map((s) => s.args);
    expect(ops('USER')).toEqual(['node']);
    const [dataDir] = ops('ENV').flatMap((e) => [...e.matchAll(/WACLOUD_DATA_DIR=(\S+)/g)].map((m) => m[1]));
    expect(ops('VOLUME').map(execForm)).toEqual([[dataDir]]);
    expect(ops('HEALTHCHECK')[0]).toContain('/readyz');
    // Configuration by environment only: no build arguments, no secrets baked into ENV.
    expect(stages.flatMap((s) => s.steps).filter((s) => s.op === 'ARG')).toEqual([]);
    expect(ops('ENV').join(' ')).not.toMatch(/SECRET|KEY|TOKEN|PASSWORD|DATABASE_URL/);
    // Production dependencies only in what the runtime copies.
    expect(stages[0]!.steps.some((s) => s.op === 'RUN' && /npm prune --omit=dev/.test(s.args))).toBe(true);
  });

  it("its build steps, run in a clean folder, give a runtime that starts from the image's CMD and is healthy", async () => {
    const context = join(scratch, 'context');
    await run(join(repoRoot, 'scripts/clone-working-tree.sh'), [context]);
    const roots: Record<string, string> = {};
    for (const stage of stages) {
      const root = join(scratch, stage.name);
      mkdirSync(root);
      roots[stage.name] = root;
      let workdir = root;
      for (const { op, args } of stage.steps) {
        if (op === 'WORKDIR') workdir = join(root, args);
        if (op === 'WORKDIR') mkdirSync(workdir, { recursive: true });
        if (op === 'COPY') {
          const parts = args.split(/\s+/);
          const from = parts[0]!.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : undefined;
          const dest = parts.pop()!;
          for (const src of parts) {
            // A stage path is absolute inside that stage (its WORKDIR is /app); the context is the clone.
            const source = from ? join(roots[from]!, src) : join(context, src);
            expect(existsSync(source), `${op} ${args}: ${source}`).toBe(true);
            const target =
              dest.endsWith('/') || dest === './'
                ? join(workdir, src.split('/').pop()!)
                : join(workdir, dest);
            cpSync(source, target, { recursive: true });
          }
        }
        // System packages (apt-get) and paths outside the app folder need root in a real image: not run here.
        if (op === 'RUN' && !/apt-get|chown|^mkdir -p \//.test(args)) {
          await run('sh', ['-c', args], {
            cwd: workdir,
            env: { ...env, npm_config_prefer_offline: 'true' },
            maxBuffer: 64 * 1024 * 1024,
          });
        }
      }
    }
    const app = join(roots.runtime!, '/app');
    expect(existsSync(join(app, 'node_modules/typescript'))).toBe(false); // dev dependencies pruned
    expect(existsSync(join(app, 'node_modules/better-sqlite3'))).toBe(true);
    expect(existsSync(join(app, 'src'))).toBe(false);

    const imageEnv = Object.fromEntries(
      runtime.steps
        .filter((s) => s.op === 'ENV')
        .flatMap((s) => [...s.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])),
    ) as Record<string, string>;
    const port = String(await freePort());
    const runEnv = { ...env, ...imageEnv, PORT: port, WACLOUD_DATA_DIR: join(scratch, 'data') };
    const [cmd, ...cmdArgs] = execForm(runtime.steps.find((s) => s.op === 'CMD')!.args);
    expect(cmd).toBe('node');
    const broker = spawnCli(cmdArgs, { command: [process.execPath], cwd: app, env: runEnv });
    try {
      await broker.waitFor(/listening on http/, 90_000);
      const check = runtime.steps.find((s) => s.op === 'HEALTHCHECK')!.args;
      const [probe, ...probeArgs] = execForm(check.slice(check.indexOf('CMD ') + 4));
      expect(probe).toBe('node');
      await run(process.execPath, probeArgs, { env: runEnv }); // throws on a non-zero exit
    } finally {
      await broker.stop();
    }
  }, 1_200_000);
});

describe('compose.yaml', () => {
  const compose = parse(readFileSync(join(repoRoot, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, Record<string, unknown> & { environment?: Record<string, string> }>;
    volumes: Record<string, unknown>;
  };

  it('runs two broker instances from this Dockerfile on one PostgreSQL and one Redis, all with healthchecks', () => {
    const brokers = Object.entries(compose.services).filter(([, s]) => s.build === '.');
    expect(brokers.map(([name]) => name)).toEqual(['broker-1', 'broker-2']);
    const [a, b] = brokers.map(([, s]) => s.environment!);
    for (const name of ['WACLOUD_MASTER_KEY', 'DATABASE_URL', 'REDIS_URL', 'WA_APP_ID', 'WA_APP_SECRET']) {
      expect(a![name], name).toBeTruthy();
      expect(a![name], `${name}: the same on every instance (docs/deployment.md)`).toBe(b![name]);
    }
    expect(a!.WACLOUD_INSTANCE_ID).not.toBe(b!.WACLOUD_INSTANCE_ID);
    expect(a!.WACLOUD_INSTANCES).toBe('2');
    expect(a!.DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
    expect(a!.REDIS_URL).toBe('redis://redis:6379');
    // A secret is required from the operator's environment, never written into the file.
    expect(a!.WACLOUD_MASTER_KEY).toMatch(/^\$\{WACLOUD_MASTER_KEY:\?/);
    for (const [, s] of brokers) {
      expect(s.depends_on).toEqual({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
    }
    for (const name of ['postgres', 'redis']) expect(compose.services[name]!.healthcheck, name).toBeTruthy();
    const pgVolume = (compose.services.postgres!.volumes as string[])[0]!.split(':')[0]!;
    expect(Object.keys(compose.volumes)).toContain(pgVolume);
  });
});
