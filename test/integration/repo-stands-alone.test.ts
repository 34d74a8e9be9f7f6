// Issue 15: the repository stands alone. No file the tests, benchmarks, scripts or the CLI run reads a path outside
// the repository, and the fixture-reading tests pass in a clone alone in an empty temporary directory (.ci/run runs
// the whole suite that way; this keeps the proof inside `npm test` too).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli-process.js';

const run = promisify(execFile);

/** Paths that leave the repository: the old sibling folder, this workspace's absolute root, the old env override. */
const OUTSIDE = [
  ['..', 'shared'].join('/'),
  ['', 'work', ''].join('/'),
  ['SHARED', 'DIR'].join('_'),
  ['..', '..', '..', ''].join('/'),
];

/** What a clone holds (tracked and untracked files, ignored ones left out), under the folders that run code. */
function repoFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return out
    .split('\0')
    .filter((f) => /^(src|test|bench|scripts|bin|\.ci)\//.test(f) && !f.startsWith('test/meta/'))
    .filter((f) => /\.(ts|js|mjs|cjs|sh|json)$/.test(f) || f === '.ci/run');
}

describe('the repository stands alone', () => {
  it('no source, test, benchmark or script names a path outside the repository', () => {
    const files = repoFiles();
    expect(files.length).toBeGreaterThan(100);
    const offenders: string[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(join(repoRoot, file), 'utf8');
      } catch {
        continue; // deleted in the working tree but still in the index
      }
      text.split('\n').forEach((line, i) => {
        if (OUTSIDE.some((p) => line.includes(p))) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('the fixture-reading tests pass in a clone alone in an empty temporary directory', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'wacloud-alone-'));
    try {
      const clone = join(scratch, 'wacloud');
      await run(join(repoRoot, 'scripts/clone-working-tree.sh'), [clone]);
      // Dependencies are linked, not reinstalled (.ci/run does the full `npm ci` in its clone); nothing else is.
      symlinkSync(join(repoRoot, 'node_modules'), join(clone, 'node_modules'), 'dir');
      const tests = [
        'src/webhooks/verify-signature.test.ts',
        'src/core/graph-error.test.ts',
        'test/integration/webhooks-spec-examples.test.ts',
        'test/integration/emulator-spec.test.ts',
      ];
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', FORCE_COLOR: '0' };
      const { stdout } = await run(
        process.execPath,
        [join(clone, 'node_modules/vitest/vitest.mjs'), 'run', ...tests],
        {
          cwd: clone,
          env,
          maxBuffer: 16 * 1024 * 1024,
        },
      );
      expect(stdout).toMatch(/Test Files\s+4 passed \(4\)/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 180_000);
});
