import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The team's shared material (Meta's spec, real fixtures) lives beside the repository in `../shared`. A clone made
 * elsewhere (a CI scratch directory) finds it through WACLOUD_SHARED_DIR or the workspace's fixed location, so tests
 * read the fixtures as they are instead of keeping copies.
 */
function findSharedDir(): string {
  const candidates = [process.env.WACLOUD_SHARED_DIR, join(repoRoot, '..', 'shared'), '/work/shared'];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, 'fixtures'))) return dir;
  }
  throw new Error(
    `the shared fixtures were not found (looked in ${candidates.filter(Boolean).join(', ')}); set WACLOUD_SHARED_DIR`,
  );
}

export const sharedDir = findSharedDir();

/** A path under the shared folder, e.g. `sharedPath('fixtures/signatures.json')`. */
export function sharedPath(relative: string): string {
  return join(sharedDir, relative);
}

/** The same as a file URL (keeps a trailing slash, so `new URL(name, sharedUrl('fixtures/errors/'))` works). */
export function sharedUrl(relative: string): URL {
  const url = pathToFileURL(sharedPath(relative));
  if (relative.endsWith('/') && !url.href.endsWith('/')) url.href += '/';
  return url;
}
