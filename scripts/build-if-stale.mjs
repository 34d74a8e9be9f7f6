#!/usr/bin/env node
// Builds dist/ when it is missing or older than a source file, so `npm start` works on a fresh clone (no `prepare`
// step: it would break `npm install --omit=dev`, where tsc is absent) without rebuilding, and rewriting dist/ under
// running processes, when the build is current. Arguments, if any, then run as a `wacloud` command in this same
// process (`npm start` = `build-if-stale.mjs up`): one process under npm, so a stop signal reaches the broker itself
// and npm exits only once it has shut down (with `a && b` the shell in between exits first).
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = join(root, 'dist/cli/main.js');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (!entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

let builtAt = 0;
try {
  builtAt = statSync(built).mtimeMs;
} catch {
  // not built yet
}
const sources = Math.max(
  newestSource(join(root, 'src')),
  statSync(join(root, 'tsconfig.json')).mtimeMs,
  statSync(join(root, 'tsconfig.build.json')).mtimeMs,
);
if (builtAt < sources) {
  process.stderr.write(builtAt ? 'dist/ is older than src/: building\n' : 'dist/ is missing: building\n');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}

const args = process.argv.slice(2);
if (args.length > 0) {
  const bin = join(root, 'bin/wacloud.js');
  process.argv = [process.argv[0], bin, ...args];
  await import(pathToFileURL(bin).href);
}
