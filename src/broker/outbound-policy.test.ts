import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import {
  createOutboundPolicy,
  OutboundRefusedError,
  type Resolver,
  refusedClassOf,
} from './outbound-policy.js';

/** Every refused class, with IPv4 and IPv6 (and IPv6-embedded IPv4) examples. */
const REFUSED: Array<[string, string]> = [
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['::1', 'loopback'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['169.254.169.254', 'link-local'],
  ['fe80::1', 'link-local'],
  ['::ffff:169.254.169.254', 'link-local'],
  ['10.1.2.3', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'private'],
  ['64:ff9b::10.0.0.1', 'private'],
  ['2002:c0a8:0101::1', 'private'],
  ['fc00::1', 'unique-local'],
  ['fd12:3456::1', 'unique-local'],
  ['0.0.0.0', 'unspecified'],
  ['::', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['ff02::1', 'multicast'],
  ['255.255.255.255', 'reserved'],
];
const PUBLIC = ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'];

/** A resolver answering from a table (no DNS). */
function table(entries: Record<string, string[]>): Resolver {
  return async (host) => {
    const addresses = entries[host];
    if (!addresses) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

async function refusal(
  p: ReturnType<typeof createOutboundPolicy>,
  url: string,
): Promise<OutboundRefusedError> {
  const err = await p.checkUrl(url).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, url).toBeInstanceOf(OutboundRefusedError);
  return err as OutboundRefusedError;
}

describe('outbound policy', () => {
  it.each(REFUSED)('classifies %s as %s', (address, cls) => {
    expect(refusedClassOf(address)).toBe(cls);
  });
  it.each(PUBLIC)('lets the public address %s through', (address) => {
    expect(refusedClassOf(address)).toBeUndefined();
  });

  it('refuses every class as a literal URL host, IPv4 and IPv6', async () => {
    const p = createOutboundPolicy({ resolve: table({}) });
    for (const [address, cls] of REFUSED) {
      const host = address.includes(':') ? `[${address}]` : address;
      const err = await refusal(p, `https://${host}/hook`);
      expect(err.refusedClass, address).toBe(cls);
      expect(err.message).toContain('WACLOUD_OUTBOUND_ALLOW');
    }
    // Other spellings of loopback the URL parser normalises (hex, a single decimal).
    for (const url of [
      'https://0x7f.1/h',
      'https://2130706433/h',
      'https://localhost/h',
      'https://a.localhost/h',
    ])
      expect((await refusal(p, url)).refusedClass, url).toBe('loopback');
  });

  it('refuses every class by DNS name (any one refused address refuses the name)', async () => {
    const names: Record<string, string[]> = {};
    REFUSED.forEach(([address], i) => {
      names[`h${i}.example.com`] = [address];
    });
    names['mixed.example.com'] = ['93.184.216.34', '10.0.0.5'];
    names['public.example.com'] = ['93.184.216.34', '2606:4700:4700::1111'];
    const p = createOutboundPolicy({ resolve: table(names) });
    for (const [i, [address, cls]] of REFUSED.entries()) {
      const err = await refusal(p, `https://h${i}.example.com/hook`);
      expect(err.refusedClass, address).toBe(cls);
      // The tenant learns the class, never the address the name resolved to.
      expect(err.message).not.toContain(address);
    }
    expect((await refusal(p, 'https://mixed.example.com/')).refusedClass).toBe('private');
    expect(await p.checkUrl('https://public.example.com/hook')).toBe('https://public.example.com/hook');
    expect((await refusal(p, 'https://nowhere.example.com/')).message).toContain('does not resolve');
  });

  it('requires https outside the sandbox, refuses other schemes and credentials in the URL', async () => {
    const resolve = table({ 'public.example.com': ['93.184.216.34'] });
    const p = createOutboundPolicy({ resolve });
    expect((await refusal(p, 'http://public.example.com/')).message).toContain('https');
    await refusal(p, 'ftp://public.example.com/');
    await refusal(p, 'not a url');
    await refusal(p, 'https://user:pw@public.example.com/');
    const sandbox = createOutboundPolicy({ resolve, sandbox: true });
    expect(await sandbox.checkUrl('http://public.example.com/x')).toBe('http://public.example.com/x');
    // The sandbox relaxes the scheme only: local addresses stay refused.
    await refusal(sandbox, 'http://127.0.0.1:9/');
  });

  it('the allow-list re-enables hosts, addresses and CIDRs (and plain http for them), nothing else', async () => {
    const resolve = table({ 'hooks.internal': ['10.9.9.9'], 'other.internal': ['10.9.9.10'] });
    const p = createOutboundPolicy({
      allow: '127.0.0.1, hooks.internal,192.168.0.0/16,[::1],fd00::/8',
      resolve,
    });
    expect(await p.checkUrl('http://127.0.0.1:8080/h')).toBe('http://127.0.0.1:8080/h');
    expect(await p.checkUrl('http://hooks.internal/h')).toBe('http://hooks.internal/h');
    expect(await p.checkUrl('https://192.168.4.5/h')).toBe('https://192.168.4.5/h');
    expect(await p.checkUrl('http://[::1]:9/h')).toBe('http://[::1]:9/h');
    expect(await p.checkUrl('https://[fd00::7]/h')).toBe('https://[fd00::7]/h');
    await refusal(p, 'https://127.0.0.2/h');
    await refusal(p, 'https://other.internal/h');
    await refusal(p, 'https://169.254.169.254/latest/meta-data');
    await refusal(p, 'https://[fc00::1]/h');
  });

  it('a malformed allow-list is a ConfigError naming the variable', () => {
    for (const bad of ['10.0.0.0/33', '::1/129', 'http://x', 'a b', '*.example.com']) {
      expect(() => createOutboundPolicy({ allow: bad }), bad).toThrow(ConfigError);
      expect(() => createOutboundPolicy({ allow: bad }), bad).toThrow(/WACLOUD_OUTBOUND_ALLOW/);
    }
  });

  it('the connect-time lookup dials a checked address and refuses a name that now resolves locally', async () => {
    let answer = ['93.184.216.34'];
    const p = createOutboundPolicy({
      resolve: async () => answer.map((address) => ({ address, family: 4 })),
    });
    const look = (options: { all?: boolean; family?: number }) =>
      new Promise<{ err: NodeJS.ErrnoException | null; result: unknown }>((done) =>
        p.lookup(
          'rebind.example.com',
          options as never,
          ((err: NodeJS.ErrnoException | null, a: unknown) => done({ err, result: a })) as never,
        ),
      );
    expect((await look({})).result).toBe('93.184.216.34');
    expect((await look({ all: true })).result).toEqual([{ address: '93.184.216.34', family: 4 }]);
    answer = ['127.0.0.1'];
    const refused = await look({ all: true });
    expect(refused.err?.code).toBe('EOUTBOUNDREFUSED');
    expect(refused.result).not.toEqual(
      expect.arrayContaining([expect.objectContaining({ address: '127.0.0.1' })]),
    );
  });
});
