import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Secret } from '../../src/core/secret.js';
import {
  createDotenvSource,
  createEnvSource,
  createFileSource,
  SecretSourceError,
} from '../../src/vault/secret-sources/index.js';
import { waitFor } from '../support/poll.js';

const VALUE = 'local-secret-value-a1b2c3d4e5f60718293a4b5c';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wacloud-secret-sources-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function caught(p: Promise<unknown>): Promise<SecretSourceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SecretSourceError);
    return err as SecretSourceError;
  }
  throw new Error('expected a rejection');
}

const tick = () => new Promise((r) => setTimeout(r, 50));

describe('env source', () => {
  it('reads variables and JSON fields; blank and missing are undefined; it cannot be written', async () => {
    const env = createEnvSource({ A: VALUE, BLANK: '  ', JSON_DOC: '{"k":"v","n":1}', TEXT: 'plain' });
    expect((await env.get('A'))?.reveal()).toBe(VALUE);
    expect(String(await env.get('A'))).toMatch(/^\[A sha256:[0-9a-f]{8}\]$/);
    expect(await env.get('BLANK')).toBeUndefined();
    expect(await env.get('MISSING')).toBeUndefined();
    expect((await env.get('JSON_DOC#k'))?.reveal()).toBe('v');
    expect((await env.get('JSON_DOC#n'))?.reveal()).toBe('1');
    expect(await env.get('JSON_DOC#zz')).toBeUndefined();
    const err = await caught(env.get('TEXT#k'));
    expect(err.failure).toBe('bad-value');
    expect(err.message).not.toContain('plain');
    expect(env.put).toBeUndefined();
    expect((await caught(env.get('#x'))).failure).toBe('invalid-key');
    expect(await createEnvSource({ B: ' ' }, { blankIsMissing: false }).get('B')).toBeDefined();
  });
});

describe('.env source', () => {
  it('reads with Node parseEnv semantics; a missing file holds nothing', async () => {
    const file = join(dir, '.env');
    const s = createDotenvSource(file);
    expect(await s.get('A')).toBeUndefined();
    writeFileSync(file, `# comment\nexport A="${VALUE}"\nB='x\\ny'\nC=1 # trailing\nJ={"f":"g"}\n`);
    expect((await s.get('A'))?.reveal()).toBe(VALUE);
    expect((await s.get('B'))?.reveal()).toBe('x\\ny');
    expect((await s.get('C'))?.reveal()).toBe('1');
    expect((await s.get('J#f'))?.reveal()).toBe('g');
  });

  it('put replaces in place, keeps every other line, writes mode 0600 atomically', async () => {
    const file = join(dir, '.env');
    const original = [
      '# keep me',
      'FIRST=1',
      'MULTI="line one',
      'KEY=not-a-real-assignment',
      'line three"',
      'KEY=old',
      "export OTHER='o'",
      'KEY=older-duplicate',
      '',
    ].join('\n');
    writeFileSync(file, original, { mode: 0o644 });
    const before = parseEnv(original);
    const s = createDotenvSource(file);
    expect(await s.put!('KEY', new Secret(VALUE))).toEqual({});
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(
      [
        '# keep me',
        'FIRST=1',
        'MULTI="line one',
        'KEY=not-a-real-assignment',
        'line three"',
        `KEY='${VALUE}'`,
        "export OTHER='o'",
        '',
      ].join('\n'),
    );
    expect(parseEnv(text)).toEqual({ ...before, KEY: VALUE });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['.env']); // no temporary file left behind
  });

  it('appends new variables, quotes awkward values so they read back exactly, merges JSON fields', async () => {
    const file = join(dir, 'app.env');
    writeFileSync(file, 'A=1');
    const s = createDotenvSource(file);
    const awkward = [
      "it's",
      'two\nlines',
      'has "double" and \'single\'',
      ' spaced ',
      'hash # inside',
      'back\\slash\\n',
    ];
    for (const [i, v] of awkward.entries()) {
      await s.put!(`V${i}`, v);
      expect((await s.get(`V${i}`))?.reveal()).toBe(v);
    }
    await s.put!('DOC#field', VALUE);
    await s.put!('DOC#other', 'x');
    expect(JSON.parse((await s.get('DOC'))!.reveal())).toEqual({ field: VALUE, other: 'x' });
    expect(parseEnv(readFileSync(file, 'utf8')).A).toBe('1');
  });

  it('refuses what it cannot write faithfully, without touching the file or quoting the value', async () => {
    const file = join(dir, '.env');
    writeFileSync(file, 'A=1\n');
    const s = createDotenvSource(file);
    const impossible = `'"\`${VALUE}`;
    const err = await caught(s.put!('B', impossible));
    expect(err.failure).toBe('bad-value');
    expect(err.message).not.toContain(VALUE);
    expect((await caught(s.put!('BAD NAME', 'x'))).failure).toBe('invalid-key');
    expect((await caught(s.put!('A', 'x', { cas: 1 }))).failure).toBe('not-supported');
    expect(readFileSync(file, 'utf8')).toBe('A=1\n');
  });

  it('serialises concurrent puts so none is lost', async () => {
    const file = join(dir, '.env');
    const a = createDotenvSource(file);
    const b = createDotenvSource(file);
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).put!(`K${i}`, `v${i}`)));
    const parsed = parseEnv(readFileSync(file, 'utf8'));
    for (let i = 0; i < 20; i++) expect(parsed[`K${i}`]).toBe(`v${i}`);
  });

  it('watch reports a changed value once, not untouched rewrites', async () => {
    const file = join(dir, '.env');
    writeFileSync(file, 'A=1\nB=1\n');
    const s = createDotenvSource(file);
    const seen: Array<string | undefined> = [];
    const stop = s.watch!('A', (v) => seen.push(v?.reveal()));
    try {
      await tick();
      await s.put!('B', '2');
      await tick();
      await s.put!('A', '2');
      await waitFor('seen.length === 1', () => seen.length === 1, 3_000, 10);
      expect(seen).toEqual(['2']);
    } finally {
      stop();
    }
  });
});

describe('file source', () => {
  it('reads one secret per file from a directory, trimming one trailing newline', async () => {
    writeFileSync(join(dir, 'app_secret'), `${VALUE}\n`);
    writeFileSync(join(dir, 'crlf'), 'v\r\n');
    writeFileSync(join(dir, 'json'), '{"user":"u","password":"p"}');
    const s = createFileSource(dir);
    expect((await s.get('app_secret'))?.reveal()).toBe(VALUE);
    expect((await s.get('crlf'))?.reveal()).toBe('v');
    expect((await s.get('json#password'))?.reveal()).toBe('p');
    expect(await s.get('missing')).toBeUndefined();
    const raw = createFileSource(dir, { trimTrailingNewline: false });
    expect((await raw.get('app_secret'))?.reveal()).toBe(`${VALUE}\n`);
  });

  it('refuses path traversal, hidden entries, directories and oversized files', async () => {
    writeFileSync(join(dir, 'big'), 'x'.repeat(100));
    mkdirSync(join(dir, 'sub'));
    const s = createFileSource(dir, { maxBytes: 10 });
    for (const key of ['../etc/passwd', '..data', '.hidden', 'a/b', '..']) {
      expect((await caught(s.get(key))).failure).toBe('invalid-key');
    }
    expect((await caught(s.get('big'))).failure).toBe('bad-value');
    expect((await caught(s.get('sub'))).failure).toBe('bad-value');
  });

  it('a single file is one secret named by its base name', async () => {
    const file = join(dir, 'master.key');
    writeFileSync(file, VALUE);
    const s = createFileSource(file);
    expect((await s.get('master.key'))?.reveal()).toBe(VALUE);
    expect((await caught(s.get('other'))).failure).toBe('invalid-key');
  });

  it('put writes atomically with mode 0600 and merges JSON fields; cas is not supported', async () => {
    const s = createFileSource(dir);
    await s.put!('new_secret', VALUE);
    expect(readFileSync(join(dir, 'new_secret'), 'utf8')).toBe(VALUE);
    expect(statSync(join(dir, 'new_secret')).mode & 0o777).toBe(0o600);
    await s.put!('doc#a', '1');
    await s.put!('doc#b', '2');
    expect(JSON.parse(readFileSync(join(dir, 'doc'), 'utf8'))).toEqual({ a: '1', b: '2' });
    expect((await caught(s.put!('x', 'y', { cas: 0 }))).failure).toBe('not-supported');
    const missingDir = createFileSource(join(dir, 'nope'));
    const err = await caught(missingDir.put!('x', VALUE));
    expect(err.failure).toBe('io');
    expect(err.message).toMatch(/ENOENT/);
    expect(err.message).not.toContain(VALUE);
  });

  it('watch sees a Kubernetes-style atomic symlink swap (fs.watch on the directory)', async () => {
    // The kubelet layout: a timestamped dir, ..data -> it, and each key -> ..data/key.
    const v1 = join(dir, '..2026_01_01_v1');
    mkdirSync(v1);
    writeFileSync(join(v1, 'token'), 'first');
    symlinkSync('..2026_01_01_v1', join(dir, '..data'));
    symlinkSync('..data/token', join(dir, 'token'));
    const s = createFileSource(dir);
    expect((await s.get('token'))?.reveal()).toBe('first');
    const seen: Array<string | undefined> = [];
    const stop = s.watch!('token', (v) => seen.push(v?.reveal()));
    try {
      await tick();
      const v2 = join(dir, '..2026_01_02_v2');
      mkdirSync(v2);
      writeFileSync(join(v2, 'token'), 'second');
      symlinkSync('..2026_01_02_v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      await waitFor('seen.length >= 1', () => seen.length >= 1, 3_000, 10);
      expect(seen).toEqual(['second']);
      rmSync(join(dir, 'token'));
      await waitFor('seen.length >= 2', () => seen.length >= 2, 3_000, 10);
      expect(seen).toEqual(['second', undefined]);
    } finally {
      stop();
    }
  });

  it('polling mode runs on the injected clock', async () => {
    writeFileSync(join(dir, 'k'), 'one');
    const clock = new ManualClock();
    const s = createFileSource(dir, { watch: { mode: 'poll', pollIntervalMs: 1_000, clock } });
    const seen: Array<string | undefined> = [];
    const stop = s.watch!('k', (v) => seen.push(v?.reveal()));
    try {
      await waitFor('clock.pendingSleepers === 1', () => clock.pendingSleepers === 1, 3_000, 10);
      writeFileSync(join(dir, 'k'), 'two');
      await clock.advance(999);
      await tick();
      expect(seen).toEqual([]);
      await clock.advance(1);
      await waitFor('seen.length === 1', () => seen.length === 1, 3_000, 10);
      expect(seen).toEqual(['two']);
      await clock.advance(1_000);
      await tick();
      expect(seen).toEqual(['two']); // unchanged value: no call
    } finally {
      stop();
    }
    expect(clock.pendingSleepers).toBe(0);
  });

  it('falls back to polling when the directory cannot be watched', async () => {
    const clock = new ManualClock();
    const target = join(dir, 'later');
    const s = createFileSource(target, { kind: 'dir', watch: { pollIntervalMs: 500, clock } });
    const seen: Array<string | undefined> = [];
    const stop = s.watch!('k', (v) => seen.push(v?.reveal()));
    try {
      await waitFor('clock.pendingSleepers === 1', () => clock.pendingSleepers === 1, 3_000, 10);
      mkdirSync(target);
      writeFileSync(join(target, 'k'), VALUE);
      await clock.advance(500);
      await waitFor('seen.length === 1', () => seen.length === 1, 3_000, 10);
      expect(seen).toEqual([VALUE]);
    } finally {
      stop();
    }
  });
});
