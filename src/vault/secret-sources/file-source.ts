import { open, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { reveal, Secret } from '../../core/secret.js';
import { writeFileAtomic } from './atomic-write.js';
import { type WatchOptions, watchFileValue } from './file-watch.js';
import { mergeField, parseSecretKey, selectField } from './secret-key.js';
import { SecretSourceError } from './secret-source-error.js';
import type { PutSecretOptions, PutSecretResult, SecretChangeListener, SecretSource } from './types.js';

/** Options for {@link createFileSource}. */
export interface FileSourceOptions {
  /**
   * `'dir'`: one secret per file in the directory, the key is the file name (Docker `/run/secrets`, a Kubernetes
   * secret volume). `'file'`: the path is one secret, its key is the file's base name. `'auto'` (default): decided
   * by what the path is when it is used.
   */
  kind?: 'auto' | 'dir' | 'file';
  /** Drop one trailing `\n` or `\r\n` (default true: `echo secret > file` should not change the secret). */
  trimTrailingNewline?: boolean;
  /** Refuse files larger than this (default 1 MiB): a secret is small, a mistaken path may not be. */
  maxBytes?: number;
  /** How {@link SecretSource.watch} notices changes. */
  watch?: WatchOptions;
}

// A file name: no separators, no leading dot (hides Kubernetes' ..data and ..2024_… entries, and rules out "..").
const FILE_NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/**
 * Secrets from files, one secret per file: a directory such as Docker's `/run/secrets` or a Kubernetes secret
 * volume (`get('app_secret')` reads `/run/secrets/app_secret`), or a single file. A `#field` suffix picks a field of
 * a JSON file. `watch` follows changes, including Kubernetes' atomic symlink swaps; `put` writes atomically with mode
 * 0600 (it fails on read-only mounts, as it should).
 *
 * @example
 * const files = createFileSource('/run/secrets');
 * const key = await files.get('wacloud_master_key');
 */
export function createFileSource(path: string, options: FileSourceOptions = {}): SecretSource {
  const root = resolve(path);
  const name = `file(${path})`;
  const trim = options.trimTrailingNewline ?? true;
  const maxBytes = options.maxBytes ?? 1024 * 1024;

  async function kindOf(): Promise<'dir' | 'file' | 'missing'> {
    if (options.kind === 'dir' || options.kind === 'file') return options.kind;
    try {
      return (await stat(root)).isDirectory() ? 'dir' : 'file';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw ioError('cannot look at the path', err);
    }
  }

  function ioError(what: string, err: unknown, key?: string): SecretSourceError {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return new SecretSourceError('io', name, `${what} (${code})`, { key, cause: err });
  }

  /** Resolves a key to a file path, or throws invalid-key. */
  async function fileFor(
    key: string,
    forWrite: boolean,
  ): Promise<{ file: string; field: string | undefined }> {
    const parsed = parseSecretKey(name, key);
    let kind = await kindOf();
    if (kind === 'missing') kind = forWrite && parsed.name === basename(root) ? 'file' : 'dir';
    if (kind === 'file') {
      if (parsed.name !== basename(root)) {
        throw new SecretSourceError(
          'invalid-key',
          name,
          `this source is the single file ${basename(root)}; "${parsed.name}" is not it`,
          { key },
        );
      }
      return { file: root, field: parsed.field };
    }
    if (!FILE_NAME_RE.test(parsed.name)) {
      throw new SecretSourceError(
        'invalid-key',
        name,
        `"${parsed.name}" is not a plain file name (letters, digits, . _ -, no leading dot, no slash)`,
        { key },
      );
    }
    return { file: join(root, parsed.name), field: parsed.field };
  }

  async function readValue(file: string, key: string): Promise<string | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ioError('cannot open the secret file', err, key);
    }
    try {
      const info = await handle.stat();
      if (info.isDirectory()) {
        throw new SecretSourceError('bad-value', name, `"${key}" is a directory, not a secret file`, { key });
      }
      if (info.size > maxBytes) {
        throw new SecretSourceError(
          'bad-value',
          name,
          `"${key}" is ${info.size} bytes, over the ${maxBytes}-byte limit for a secret file`,
          { key },
        );
      }
      let text = await handle.readFile('utf8');
      if (trim) text = text.replace(/\r?\n$/, '');
      return text;
    } catch (err) {
      if (err instanceof SecretSourceError) throw err;
      throw ioError('cannot read the secret file', err, key);
    } finally {
      await handle.close();
    }
  }

  async function get(key: string): Promise<Secret | undefined> {
    const { file, field } = await fileFor(key, false);
    const raw = await readValue(file, key);
    if (raw === undefined) return undefined;
    const value = field === undefined ? raw : selectField(name, key, raw, field);
    return value === undefined ? undefined : new Secret(value, parseSecretKey(name, key).name);
  }

  return {
    name,
    get,
    async put(key: string, value: Secret | string, putOptions?: PutSecretOptions): Promise<PutSecretResult> {
      if (putOptions?.cas !== undefined) {
        throw new SecretSourceError(
          'not-supported',
          name,
          'files have no versions; check-and-set is not supported',
          {
            key,
          },
        );
      }
      const { file, field } = await fileFor(key, true);
      const text =
        field === undefined
          ? reveal(value)
          : mergeField(name, key, await readValue(file, key), field, reveal(value));
      try {
        await writeFileAtomic(file, text, 0o600);
      } catch (err) {
        throw ioError('cannot write the secret file', err, key);
      }
      return {};
    },
    watch(key: string, onChange: SecretChangeListener): () => void {
      parseSecretKey(name, key);
      // The directory to watch: the source's directory, or the single file's parent.
      let stop: (() => void) | undefined;
      let cancelled = false;
      void kindOf()
        .catch(() => 'dir' as const)
        .then((kind) => {
          if (cancelled) return;
          const dir =
            kind === 'file' || (kind === 'missing' && parseSecretKey(name, key).name === basename(root))
              ? dirname(root)
              : root;
          stop = watchFileValue(dir, () => get(key), onChange, {
            ...options.watch,
            label: { source: name, key },
          });
        });
      return () => {
        cancelled = true;
        stop?.();
      };
    },
  };
}
