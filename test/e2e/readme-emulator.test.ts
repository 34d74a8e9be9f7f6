// README.md's emulator walk-through, run as written: the sh block of "## The emulator", line by line in one shell,
// with only the port changed (4010 may be taken here). Each `# HTTP/...` comment is what the command before it
// prints: its `...`-separated pieces must appear in that output, in order. Needs `npm run build` (npx runs bin/).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliProcess, repoRoot, spawnCli } from '../support/cli-process.js';
import { freePort } from '../support/ports.js';

interface Step {
  command: string;
  /** The comment lines right after it (`# HTTP/1.1 200 OK ... {...}`), without `# `. */
  expected: string[];
}

function walkThrough(): Step[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.split(/^## The emulator$/m)[1]?.split(/^## /m)[0] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const steps: Step[] = [];
  for (const line of block.split('\n')) {
    if (!line.trim()) continue;
    if (line.startsWith('#')) steps.at(-1)?.expected.push(line.replace(/^#\s*/, ''));
    else steps.push({ command: line, expected: [] });
  }
  return steps;
}

describe('README: the emulator walk-through', () => {
  let proc: CliProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'wacloud-readme-emu-'));
  afterAll(async () => {
    await proc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts the emulator, sends (200, a wamid), is refused without a token (401, 104) and after a day (190/463)', async () => {
    const steps = walkThrough();
    expect(steps[0]?.command).toMatch(/^npx wacloud emulator --port 4010 &/);
    // What the block must show, so a shorter README cannot pass: the three answers the issue names.
    const shown = steps.flatMap((s) => s.expected).join('\n');
    for (const needle of ['HTTP/1.1 200', 'wamid.', 'HTTP/1.1 401', '"code":104', '"error_subcode":463']) {
      expect(shown).toContain(needle);
    }

    const port = String(await freePort());
    // Each command on its own lines inside { }, so trailing comments stay comments; its output goes to a file.
    const script = steps
      .map((s, i) => `{\n${s.command.replaceAll('4010', port)}\n} > '${dir}/out.${i}' 2> '${dir}/err.${i}'\n`)
      .join('');
    // One process group: stop() ends the backgrounded emulator too.
    proc = spawnCli([], { command: ['sh', '-c', `${script}echo walk-through-done`], cwd: repoRoot });
    await proc.waitFor(/walk-through-done/, 90_000);

    const outputs = steps.map((_, i) => readFileSync(join(dir, `out.${i}`), 'utf8'));
    for (const [i, step] of steps.entries()) {
      for (const expected of step.expected) {
        const out = outputs[i] as string;
        let from = 0;
        for (const piece of expected
          .split('...')
          .map((p) => p.trim())
          .filter(Boolean)) {
          const at = out.indexOf(piece, from);
          expect(
            at,
            `README line "${step.command}" should print "${piece}"; it printed:\n${out}`,
          ).toBeGreaterThanOrEqual(0);
          from = at + piece.length;
        }
      }
    }
    // And the commands did what the prose says, beyond the pieces quoted.
    const sends = steps.flatMap((s, i) => (s.command.includes('/messages') ? [outputs[i] as string] : []));
    expect(sends).toHaveLength(3);
    expect(sends[0]).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(sends[0]).toMatch(/"id":"wamid\.[\w=-]+"/);
    expect(sends[1]).toMatch(/^HTTP\/1\.1 401[\s\S]*"code":104/);
    expect(sends[2]).toMatch(/^HTTP\/1\.1 401[\s\S]*"code":190,"error_subcode":463/);
    expect(proc.output()).toBe('walk-through-done\n');
  }, 120_000); // npx resolves the bin and starts a process: slow on a loaded 2-core CI run (timed out at 30 s once)
});
