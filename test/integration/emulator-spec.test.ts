// The schemas and examples shipped in src/emulator/spec/ must be what scripts/extract-spec.mjs derives from Meta's
// spec in test/meta/spec as it is now: re-derived into a temporary directory and compared, with the recorded sha256.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli-process.js';
import { sharedPath } from '../support/shared.js';

const run = promisify(execFile);
const SPEC = sharedPath('spec/business-messaging-api_v23.0.yaml');
const FILES = ['schemas.json', 'message-examples.json', 'webhook-examples.json'];
const shipped = (file: string) =>
  JSON.parse(readFileSync(join(repoRoot, 'src/emulator/spec', file), 'utf8')) as {
    provenance: { sha256: string };
  };

describe('src/emulator/spec/*.json against test/meta/spec', () => {
  it('record the sha256 of the spec file as it is', () => {
    const sha256 = createHash('sha256').update(readFileSync(SPEC)).digest('hex');
    for (const file of FILES) {
      expect(shipped(file).provenance.sha256, `${file}: regenerate with node scripts/extract-spec.mjs`).toBe(
        sha256,
      );
    }
  });

  it('are exactly what scripts/extract-spec.mjs derives from it now', { timeout: 120_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'wacloud-spec-'));
    try {
      const { stdout } = await run(process.execPath, ['scripts/extract-spec.mjs', SPEC, '--out', out], {
        cwd: repoRoot,
        timeout: 110_000,
      });
      expect(stdout).toMatch(/extract-spec: \d+ schemas, 50 message examples/);
      for (const file of FILES) {
        const derived = JSON.parse(readFileSync(join(out, file), 'utf8'));
        expect(
          derived,
          `${file} differs from a fresh extraction: run node scripts/extract-spec.mjs`,
        ).toStrictEqual(shipped(file));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
