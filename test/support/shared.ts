import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Meta's reference material the tests read as it is (the OpenAPI spec, real fixtures), kept inside the repository in
 * `test/meta` (sources and licences: test/meta/README.md), so a clone anywhere runs the suite with nothing beside it.
 */
export const metaDir = join(repoRoot, 'test', 'meta');

/** A path under test/meta, e.g. `sharedPath('fixtures/signatures.json')` or `sharedPath('spec/…yaml')`. */
export function sharedPath(relative: string): string {
  return join(metaDir, relative);
}

/** The same as a file URL (keeps a trailing slash, so `new URL(name, sharedUrl('fixtures/errors/'))` works). */
export function sharedUrl(relative: string): URL {
  const url = pathToFileURL(sharedPath(relative));
  if (relative.endsWith('/') && !url.href.endsWith('/')) url.href += '/';
  return url;
}
