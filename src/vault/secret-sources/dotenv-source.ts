import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { reveal, Secret } from '../../core/secret.js';
import { writeFileAtomic } from './atomic-write.js';
import { type WatchOptions, watchFileValue } from './file-watch.js';
import { mergeField, parseSecretKey, selectField } from './secret-key.js';
import { SecretSourceError } from './secret-source-error.js';
import type { PutSecretOptions, PutSecretResult, SecretChangeListener, SecretSource } from './types.js';

/** Options for {@link createDotenvSource}. */
export interface DotenvSourceOptions {
  /** How {@link SecretSource.watch} notices edits. */
  watch?: WatchOptions;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** One assignment's place in the file: [start, end) covers the whole line(s), newline excluded. */
interface Assignment {
  name: string;
  start: number;
  end: number;
}

/**
 * Finds the assignments of a .env file the way Node's parser reads them: `[export ]NAME=value`, where a value that
 * opens with a quote runs to the matching quote, across lines. Lines inside such a value are not assignments.
 */
function findAssignments(text: string): Assignment[] {
  const out: Assignment[] = [];
  let pos = 0;
  while (pos < text.length) {
    let lineEnd = text.indexOf('\n', pos);
    if (lineEnd < 0) lineEnd = text.length;
    const line = text.slice(pos, lineEnd);
    const m = /^\s*(?:export\s+)?([^=\s#]+)\s*=\s*/.exec(line);
    if (m) {
      const name = m[1] as string;
      let end = lineEnd;
      const quote = line[m[0].length];
      if (quote === '"' || quote === "'" || quote === '`') {
        const close = text.indexOf(quote, pos + m[0].length + 1);
        if (close >= 0) {
          const after = text.indexOf('\n', close);
          end = after < 0 ? text.length : after;
        }
      }
      out.push({ name, start: pos, end });
      pos = end + 1;
    } else {
      pos = lineEnd + 1;
    }
  }
  return out;
}

/** The shortest quoting Node's parser reads back as exactly `value`, or undefined if there is none. */
function encodeAssignment(name: string, value: string): string | undefined {
  for (const q of ["'", '`', '"']) {
    if (value.includes(q)) continue;
    const line = `${name}=${q}${value}${q}`;
    if (parseEnv(line)[name] === value) return line;
  }
  return undefined;
}

function sameExcept(
  a: Record<string, string>,
  b: Record<string, string>,
  name: string,
  value: string,
): boolean {
  if (b[name] !== value) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (k !== name && a[k] !== b[k]) return false;
  return true;
}

/** Serialises writes to one file from this process (two sources on the same path included). */
const writeQueues = new Map<string, Promise<unknown>>();

/**
 * Secrets from a `.env` file, parsed with Node's own `util.parseEnv` (the same parser as `node --env-file`). A missing
 * file holds no secrets. `put` rewrites the file atomically with mode 0600, replacing the variable's assignment in
 * place (or appending it) and keeping every other line, comment and quoting as it was; it refuses to write when the
 * result would not read back exactly.
 *
 * @example
 * const dotenv = createDotenvSource('.env');
 * await dotenv.put('WACLOUD_MASTER_KEY', newKey);
 */
export function createDotenvSource(path: string, options: DotenvSourceOptions = {}): SecretSource {
  const file = resolve(path);
  const name = `dotenv(${path})`;

  async function readText(): Promise<string | undefined> {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SecretSourceError(
        'io',
        name,
        `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          cause: err,
        },
      );
    }
  }

  function parse(text: string | undefined): Record<string, string> {
    // parseEnv does not throw on odd lines; it skips them, like `node --env-file`.
    return text === undefined ? {} : (parseEnv(text) as Record<string, string>);
  }

  async function get(key: string): Promise<Secret | undefined> {
    const parsed = parseSecretKey(name, key);
    const raw = parse(await readText())[parsed.name];
    if (raw === undefined) return undefined;
    const value = parsed.field === undefined ? raw : selectField(name, key, raw, parsed.field);
    return value === undefined ? undefined : new Secret(value, parsed.name);
  }

  async function write(
    key: string,
    value: Secret | string,
    putOptions?: PutSecretOptions,
  ): Promise<PutSecretResult> {
    if (putOptions?.cas !== undefined) {
      throw new SecretSourceError(
        'not-supported',
        name,
        'a .env file has no versions; check-and-set is not supported',
        {
          key,
        },
      );
    }
    const parsedKey = parseSecretKey(name, key);
    if (!NAME_RE.test(parsedKey.name)) {
      throw new SecretSourceError('invalid-key', name, `"${parsedKey.name}" is not a valid variable name`, {
        key,
      });
    }
    const text = (await readText()) ?? '';
    const before = parse(text);
    const newValue =
      parsedKey.field === undefined
        ? reveal(value)
        : mergeField(name, key, before[parsedKey.name], parsedKey.field, reveal(value));
    const line = encodeAssignment(parsedKey.name, newValue);
    if (line === undefined) {
      throw new SecretSourceError(
        'bad-value',
        name,
        `the value for "${parsedKey.name}" cannot be written to a .env file (it holds every kind of quote); the file was not changed`,
        { key },
      );
    }
    const mine = findAssignments(text).filter((a) => a.name === parsedKey.name);
    let next: string;
    if (mine.length === 0) {
      next = text === '' || text.endsWith('\n') ? `${text}${line}\n` : `${text}\n${line}\n`;
    } else {
      // Replace the first assignment (keeps the variable where people expect it), drop later ones (the last wins).
      next = '';
      let from = 0;
      mine.forEach((a, i) => {
        next += text.slice(from, a.start);
        if (i === 0) next += line;
        from = i === 0 ? a.end : a.end + 1;
      });
      next += text.slice(Math.min(from, text.length));
    }
    if (!sameExcept(before, parse(next), parsedKey.name, newValue)) {
      throw new SecretSourceError(
        'bad-value',
        name,
        `updating "${parsedKey.name}" in place would change how other lines read; the file was not changed`,
        { key },
      );
    }
    try {
      await writeFileAtomic(file, next, 0o600);
    } catch (err) {
      throw new SecretSourceError(
        'io',
        name,
        `cannot write the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          key,
          cause: err,
        },
      );
    }
    return {};
  }

  return {
    name,
    get,
    put(key: string, value: Secret | string, putOptions?: PutSecretOptions): Promise<PutSecretResult> {
      const previous = writeQueues.get(file) ?? Promise.resolve();
      const result = previous.catch(() => {}).then(() => write(key, value, putOptions));
      const tail = result.catch(() => {});
      writeQueues.set(file, tail);
      void tail.then(() => {
        if (writeQueues.get(file) === tail) writeQueues.delete(file);
      });
      return result;
    },
    watch(key: string, onChange: SecretChangeListener): () => void {
      parseSecretKey(name, key);
      return watchFileValue(dirname(file), () => get(key), onChange, {
        ...options.watch,
        label: { source: name, key },
      });
    },
  };
}
