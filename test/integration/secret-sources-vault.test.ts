import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { createUndiciTransport } from '../../src/transport/undici-transport.js';
import {
  createVaultKvSource,
  SecretConflictError,
  SecretSourceError,
} from '../../src/vault/secret-sources/index.js';
import { type FakeVault, startFakeVault } from '../support/fake-vault-kv.js';
import { waitFor } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';

// Neither Debian nor npm ships a Vault/OpenBao server: these run against test/support/fake-vault-kv.ts, which speaks
// the documented KV v2 HTTP API over a real loopback socket.
const TOKEN = 'hvs.CAESIJlWh0V2cRkVcaRkDxNt8KFUvYt4g0X8xZj2p3uNQ9mfGh4KHGh2cy5rT3E5d1p6';
const READ_ONLY = 'hvs.readonlyTOKENreadonlyTOKENreadonly0001';
const VALUE = 'app-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0';

let vault: FakeVault;

beforeAll(async () => {
  vault = await startFakeVault({
    tokens: { [TOKEN]: { read: true, write: true }, [READ_ONLY]: { read: true } },
  });
});
afterAll(async () => {
  await vault.close();
});
beforeEach(() => {
  vault.store.get('secret')!.clear();
  vault.sealed = false;
  vault.requests.length = 0;
});

function source(token: string | Secret = new Secret(TOKEN, 'vault token'), extra = {}) {
  return createVaultKvSource({ address: vault.url, token, mount: 'secret', timeoutMs: 2_000, ...extra });
}

async function caught(p: Promise<unknown>): Promise<SecretSourceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SecretSourceError);
    return err as SecretSourceError;
  }
  throw new Error('expected a rejection');
}

describe('Vault KV v2 source', () => {
  it('reads a field of a KV map, and the default field "value"', async () => {
    vault.write('secret', 'wacloud/prod', { app_secret: VALUE, value: 'default-field-value', n: 42 });
    const s = source();
    expect((await s.get('wacloud/prod#app_secret'))?.reveal()).toBe(VALUE);
    expect((await s.get('wacloud/prod'))?.reveal()).toBe('default-field-value');
    expect((await s.get('wacloud/prod#n'))?.reveal()).toBe('42');
    expect(await s.get('wacloud/prod#absent')).toBeUndefined();
    const req = vault.requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.path).toBe('/v1/secret/data/wacloud/prod');
    expect(req.headers['x-vault-token']).toBe(TOKEN);
  });

  it('returns undefined for a missing secret and for one whose latest version is deleted', async () => {
    const s = source();
    expect(await s.get('nothing/here#x')).toBeUndefined();
    vault.write('secret', 'gone', { value: 'v1' });
    vault.store.get('secret')!.get('gone')![0]!.deleted = new Date().toISOString();
    expect(await s.get('gone')).toBeUndefined();
  });

  it('puts with check-and-set: creates at cas 0, merges fields, and returns the new version', async () => {
    const s = source();
    expect(await s.put!('wacloud/prod#app_secret', new Secret(VALUE), { cas: 0 })).toEqual({ version: 1 });
    expect(await s.put!('wacloud/prod#other', 'second', { cas: 1 })).toEqual({ version: 2 });
    const versions = vault.store.get('secret')!.get('wacloud/prod')!;
    expect(versions[1]!.data).toEqual({ app_secret: VALUE, other: 'second' });
    const post = vault.requests.filter((r) => r.method === 'POST').at(-1)!;
    expect(JSON.parse(post.body).options).toEqual({ cas: 1 });
    expect((await s.get('wacloud/prod#app_secret'))?.reveal()).toBe(VALUE);
  });

  it('a stale cas is a SecretConflictError and writes nothing', async () => {
    vault.write('secret', 'k', { value: 'a' });
    vault.write('secret', 'k', { value: 'b' });
    const err = await caught(source().put!('k', VALUE, { cas: 1 }));
    expect(err).toBeInstanceOf(SecretConflictError);
    expect(err.failure).toBe('conflict');
    expect(vault.store.get('secret')!.get('k')).toHaveLength(2);
    expectNoSecrets(`${err.message} ${err.stack}`, [VALUE, TOKEN]);
  });

  it("a writer that gets in between is caught by Vault's own cas check (HTTP 400)", async () => {
    vault.write('secret', 'race', { value: 'a' });
    vault.beforeNextWrite = () => vault.write('secret', 'race', { value: 'someone else' });
    const err = await caught(source().put!('race', VALUE, { cas: 1 }));
    expect(err).toBeInstanceOf(SecretConflictError);
    expect(err.httpStatus).toBe(400);
    expect(err.message).toContain('check-and-set parameter did not match the current version');
    expect(
      vault.store
        .get('secret')!
        .get('race')!
        .map((v) => v.data.value),
    ).toEqual(['a', 'someone else']);
  });

  it('without an explicit cas, put re-reads and retries when another writer wins, keeping their fields', async () => {
    vault.write('secret', 'merge', { value: 'a', keep: 'x' });
    vault.beforeNextWrite = () => vault.write('secret', 'merge', { value: 'a', keep: 'changed', added: 'y' });
    expect(await source().put!('merge#value', VALUE)).toEqual({ version: 3 });
    expect(vault.store.get('secret')!.get('merge')![2]!.data).toEqual({
      value: VALUE,
      keep: 'changed',
      added: 'y',
    });
  });

  it('writes on a cas_required mount', async () => {
    const strict = await startFakeVault({
      tokens: { [TOKEN]: { read: true, write: true } },
      casRequired: true,
    });
    try {
      const s = createVaultKvSource({ address: strict.url, token: TOKEN });
      expect(await s.put!('a', 'b')).toEqual({ version: 1 });
    } finally {
      await strict.close();
    }
  });

  it('a bad token is an unauthorized error that names neither the token nor the value', async () => {
    vault.write('secret', 'p', { value: VALUE });
    const bad = 'hvs.WRONGwrongWRONGwrongWRONGwrong000';
    const err = await caught(source(bad).get('p'));
    expect(err.failure).toBe('unauthorized');
    expect(err.httpStatus).toBe(403);
    expect(err.message).toMatch(/check the token/);
    expectNoSecrets(`${err.message} ${err.stack} ${JSON.stringify(err)}`, [bad, VALUE, TOKEN]);
  });

  it('a read-only token cannot write: unauthorized, nothing written', async () => {
    const err = await caught(source(READ_ONLY).put!('p', VALUE));
    expect(err.failure).toBe('unauthorized');
    expect(vault.store.get('secret')!.has('p')).toBe(false);
    expectNoSecrets(err.message, [READ_ONLY, VALUE]);
  });

  it('a sealed Vault is unavailable (503)', async () => {
    vault.sealed = true;
    const err = await caught(source().get('p'));
    expect(err.failure).toBe('unavailable');
    expect(err.message).toMatch(/sealed/);
  });

  it('a server that is down fails fast with a clear error', async () => {
    const closed = await startFakeVault({ tokens: {} });
    await closed.close();
    const s = createVaultKvSource({ address: closed.url, token: TOKEN, timeoutMs: 2_000 });
    const started = Date.now();
    const err = await caught(s.get('p'));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.failure).toBe('unavailable');
    expect(err.message).toMatch(/cannot reach 127\.0\.0\.1:\d+: connection refused/);
    expectNoSecrets(err.message, [TOKEN]);
  });

  it('a server that accepts but never answers times out within the budget (fetch and undici transports)', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const address = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const undici = createUndiciTransport();
    try {
      for (const transport of [undefined, undici]) {
        const s = createVaultKvSource({
          address,
          token: TOKEN,
          timeoutMs: 300,
          ...(transport ? { transport } : {}),
        });
        const started = Date.now();
        const err = await caught(s.get('p'));
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(err.failure).toBe('unavailable');
        expect(err.message).toMatch(/timed out/);
      }
    } finally {
      await undici.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('sends the namespace header and takes the token from a provider', async () => {
    const ns = await startFakeVault({
      tokens: { [TOKEN]: { read: true, write: true } },
      namespace: 'team-a',
    });
    try {
      let calls = 0;
      const s = createVaultKvSource({
        address: ns.url,
        namespace: 'team-a',
        token: async () => {
          calls++;
          return new Secret(TOKEN);
        },
      });
      await s.put!('x', 'y');
      expect((await s.get('x'))?.reveal()).toBe('y');
      expect(calls).toBeGreaterThanOrEqual(3);
      expect(ns.requests.every((r) => r.headers['x-vault-namespace'] === 'team-a')).toBe(true);
      const without = createVaultKvSource({ address: ns.url, token: TOKEN });
      expect((await caught(without.get('x'))).failure).toBe('unauthorized');
    } finally {
      await ns.close();
    }
  });

  it('an unknown mount and a KV v1-looking answer are clear errors', async () => {
    const s = source(TOKEN, { mount: 'nope' });
    const err = await caught(s.get('p'));
    expect(err.failure).toBe('bad-response');
    expect(err.httpStatus).toBe(404);
  });

  it('encodes path segments and refuses . and .. segments', async () => {
    const s = source();
    await s.put!('team a/key?x#field', 'v');
    expect(vault.store.get('secret')!.get('team a/key?x')!.at(-1)!.data).toEqual({ field: 'v' });
    expect(vault.requests.at(-1)!.path).toBe('/v1/secret/data/team%20a/key%3Fx');
    expect((await caught(s.get('../sys/seal'))).failure).toBe('invalid-key');
    expect((await caught(s.get('a//b'))).failure).toBe('invalid-key');
  });

  it('refuses plain http to a non-loopback address unless allowed, and a missing token', () => {
    expect(() => createVaultKvSource({ address: 'http://vault.example:8200', token: TOKEN })).toThrow(
      /https/,
    );
    expect(() =>
      createVaultKvSource({ address: 'http://vault.example:8200', token: TOKEN, allowHttp: true }),
    ).not.toThrow();
    expect(() => createVaultKvSource({ address: 'https://vault.example', token: '' })).toThrow(/token/);
  });
});

describe('withPollingWatch over Vault', () => {
  it('reports a rotation made by another writer, on the virtual clock, once', async () => {
    const { ManualClock } = await import('../../src/core/clock.js');
    const { withPollingWatch } = await import('../../src/vault/secret-sources/index.js');
    vault.write('secret', 'rot', { value: 'v1' });
    const clock = new ManualClock();
    const s = withPollingWatch(source(), { intervalMs: 30_000, clock });
    const seen: Array<string | undefined> = [];
    const stop = s.watch!('rot', (v) => seen.push(v?.reveal()));
    // The watcher is asleep on the clock again (its read finished).
    const settle = () =>
      waitFor('the watcher asleep on the clock', () => clock.pendingSleepers > 0, 2_000, 5);
    await settle();
    vault.write('secret', 'rot', { value: VALUE });
    await clock.advance(30_000);
    await settle();
    await clock.advance(30_000);
    await settle();
    expect(seen).toEqual([VALUE]);
    stop();
    expect(clock.pendingSleepers).toBe(0);
  });
});
