import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ValidationError } from '../core/errors.js';
import { reveal, type Secret } from '../core/secret.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function quote(value: string): string {
  if (/[\r\n]/.test(value)) throw new ValidationError('must not contain line breaks', 'value');
  return /^[A-Za-z0-9_./:|+=@-]*$/.test(value)
    ? value
    : `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Sets `name=value` in a `.env` file, keeping every other line, and leaves the file readable by its owner only
 * (mode 0600). The new content is written to a temporary file (0600 from birth) and renamed over the old one, so a
 * crash never leaves a half-written file and the token is never world-readable, not even for a moment.
 *
 * @example
 * await setEnvFileVariable('.env', 'CLOUD_API_ACCESS_TOKEN', token);
 */
export async function setEnvFileVariable(
  path: string,
  name: string,
  value: string | Secret,
  extra: Record<string, string> = {},
): Promise<void> {
  const entries: [string, string][] = [[name, reveal(value)], ...Object.entries(extra)];
  for (const [key] of entries) {
    if (!NAME.test(key)) throw new ValidationError(`"${key}" is not a valid variable name`, 'name');
  }
  let lines: string[] = [];
  try {
    lines = (await readFile(path, 'utf8')).split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const [key, v] of entries) {
    const line = `${key}=${quote(v)}`;
    const re = new RegExp(`^\\s*(?:export\\s+)?${key}\\s*=`);
    const at = lines.findIndex((l) => re.test(l));
    if (at >= 0) {
      lines[at] = line;
      // Later duplicates would win when the file is read: drop them.
      lines = lines.filter((l, i) => i <= at || !re.test(l));
    } else lines.push(line);
  }
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, `${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await chmod(path, 0o600);
}
