import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ConfigError } from '../core/errors.js';

/**
 * Where the broker may send outbound webhooks. Subscription URLs come from tenants, so without a policy a tenant key
 * could make the broker POST to its own network (loopback, the cloud metadata address 169.254.169.254, private
 * ranges, the sandbox emulator's control API). Refused by default: every address class below, for IPv4 and IPv6,
 * IPv4 embedded in IPv6 included. Checked when a subscription is created (the URL's host, resolved) and again when
 * each delivery connects (the address actually dialled: a DNS answer that changed since, DNS rebinding, is caught).
 */
export type RefusedClass =
  | 'loopback'
  | 'link-local'
  | 'private'
  | 'unique-local'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

/** One address family's ranges per class (RFC 6890 special-purpose registries, the subset that is never a receiver). */
const RANGES: Array<[RefusedClass, 'ipv4' | 'ipv6', string, number]> = [
  ['unspecified', 'ipv4', '0.0.0.0', 8],
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['private', 'ipv4', '192.168.0.0', 16],
  // Carrier-grade NAT, IETF protocol assignments, benchmarking: private networks in practice.
  ['private', 'ipv4', '100.64.0.0', 10],
  ['private', 'ipv4', '192.0.0.0', 24],
  ['private', 'ipv4', '198.18.0.0', 15],
  ['link-local', 'ipv4', '169.254.0.0', 16],
  ['multicast', 'ipv4', '224.0.0.0', 4],
  ['reserved', 'ipv4', '240.0.0.0', 4],
  ['reserved', 'ipv4', '192.0.2.0', 24],
  ['reserved', 'ipv4', '198.51.100.0', 24],
  ['reserved', 'ipv4', '203.0.113.0', 24],
  ['unspecified', 'ipv6', '::', 128],
  ['loopback', 'ipv6', '::1', 128],
  ['link-local', 'ipv6', 'fe80::', 10],
  ['unique-local', 'ipv6', 'fc00::', 7],
  // Deprecated site-local: private by intent.
  ['private', 'ipv6', 'fec0::', 10],
  ['multicast', 'ipv6', 'ff00::', 8],
  ['reserved', 'ipv6', '100::', 64],
  ['reserved', 'ipv6', '2001:db8::', 32],
];

const BLOCKS = new Map<RefusedClass, BlockList>();
for (const [cls, family, net, prefix] of RANGES) {
  let list = BLOCKS.get(cls);
  if (!list) {
    list = new BlockList();
    BLOCKS.set(cls, list);
  }
  list.addSubnet(net, prefix, family);
}

/** The 16 bytes of an IPv6 address (already validated by `isIP`), or undefined. */
function ipv6Bytes(address: string): number[] | undefined {
  let text = address.replace(/%.*$/, '');
  const out: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (dotted) {
    tail = (dotted[1] as string).split('.').map(Number);
    text = `${text.slice(0, -(dotted[1] as string).length)}0:0`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? h : [...h, ...new Array(8 - h.length - r.length).fill(0), ...r];
  if (all.length !== 8 || all.some((g) => Number.isNaN(g))) return undefined;
  for (const g of all) out.push(g >> 8, g & 0xff);
  if (dotted) out.splice(12, 4, ...tail);
  return out;
}

/**
 * An IPv4 address carried inside an IPv6 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
 * `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`): the socket would reach that IPv4 host, so it is judged as IPv4.
 */
function embeddedIpv4(bytes: number[]): string | undefined {
  const zero = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const v4 = (at: number) => bytes.slice(at, at + 4).join('.');
  if (zero(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return v4(12);
  if (zero(0, 12) && !zero(12, 16) && !(zero(12, 15) && bytes[15] === 1)) return v4(12);
  if (bytes[0] === 0 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zero(4, 12))
    return v4(12);
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return v4(2);
  return undefined;
}

/** The refused class of an IP address, or undefined when it is a public address. Non-addresses are 'reserved'. */
export function refusedClassOf(address: string): RefusedClass | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 0) return 'reserved';
  if (family === 6) {
    const bytes = ipv6Bytes(bare);
    if (!bytes) return 'reserved';
    const v4 = embeddedIpv4(bytes);
    if (v4) return refusedClassOf(v4);
  }
  for (const [cls, list] of BLOCKS) if (list.check(bare, family === 4 ? 'ipv4' : 'ipv6')) return cls;
  return undefined;
}

/** Why a destination was refused; the message is safe to show the tenant (it names the host, never an address). */
export class OutboundRefusedError extends Error {
  readonly code = 'EOUTBOUNDREFUSED';
  constructor(
    message: string,
    readonly refusedClass?: RefusedClass,
  ) {
    super(message);
    this.name = 'OutboundRefusedError';
  }
}

/** Resolves a host name to all its addresses (injectable: tests answer names without DNS). */
export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface OutboundPolicyOptions {
  /**
   * `WACLOUD_OUTBOUND_ALLOW`: comma-separated host names, IP addresses or CIDRs that may be reached although they
   * are local (development receivers). An allowed destination may also use plain http.
   */
  allow?: string | undefined;
  /** The sandbox: plain http is accepted for any allowed destination (https is required otherwise). */
  sandbox?: boolean;
  resolve?: Resolver;
  /**
   * Origins refused even when allow-listed: the sandbox emulator's (its control API resets state and issues tokens),
   * which listens on loopback beside local development receivers.
   */
  denyOrigins?: string[];
}

export interface OutboundPolicy {
  /**
   * Checks a subscription URL: http(s), https outside the sandbox (unless allow-listed), no credentials in it, and
   * its host (resolved) reaches no refused address. Resolves with the normalised URL; throws OutboundRefusedError.
   */
  checkUrl(url: string): Promise<string>;
  /**
   * The delivery-time check before connecting: scheme and literal address (a literal is dialled without a lookup).
   * Host names are checked by `lookup` when the socket connects.
   */
  checkBeforeConnect(url: URL): void;
  /** A `net.connect` lookup that resolves, refuses a name with any refused address, and dials a checked address. */
  lookup: LookupFunction;
}

/** Parses `WACLOUD_OUTBOUND_ALLOW`; a malformed entry is a ConfigError naming the variable. */
function parseAllow(spec: string | undefined): { hosts: Set<string>; nets: BlockList } {
  const hosts = new Set<string>();
  const nets = new BlockList();
  for (const raw of (spec ?? '').split(',')) {
    const item = raw.trim().toLowerCase();
    if (item === '') continue;
    const cidr = /^\[?([0-9a-f:.]+)\]?(?:\/(\d{1,3}))?$/.exec(item);
    const family = cidr ? isIP(cidr[1] as string) : 0;
    if (cidr && family !== 0) {
      const max = family === 4 ? 32 : 128;
      const prefix = cidr[2] === undefined ? max : Number(cidr[2]);
      if (prefix > max) throw new ConfigError('WACLOUD_OUTBOUND_ALLOW', `${item}: prefix over /${max}`);
      nets.addSubnet(cidr[1] as string, prefix, family === 4 ? 'ipv4' : 'ipv6');
    } else if (/^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(item)) {
      hosts.add(item);
    } else {
      throw new ConfigError(
        'WACLOUD_OUTBOUND_ALLOW',
        `${JSON.stringify(item.slice(0, 80))} is not a host name, an IP address or a CIDR (comma-separated)`,
      );
    }
  }
  return { hosts, nets };
}

export function createOutboundPolicy(options: OutboundPolicyOptions = {}): OutboundPolicy {
  const { hosts, nets } = parseAllow(options.allow);
  const resolve = options.resolve ?? systemResolver;
  const denied = new Set((options.denyOrigins ?? []).map((o) => new URL(o).origin));

  const addressAllowed = (address: string): boolean => {
    const family = isIP(address);
    return family !== 0 && nets.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
  /** The reason an address is refused, or undefined. */
  const refuse = (address: string): RefusedClass | undefined =>
    addressAllowed(address) ? undefined : refusedClassOf(address);

  /** Resolves `host` and checks every address; the checked list (empty when the host is allow-listed by name). */
  async function resolveChecked(host: string): Promise<Array<{ address: string; family: number }>> {
    let answers: Array<{ address: string; family: number }>;
    try {
      answers = await resolve(host);
    } catch {
      throw new OutboundRefusedError(`the host ${host} does not resolve`);
    }
    if (answers.length === 0) throw new OutboundRefusedError(`the host ${host} does not resolve`);
    if (hosts.has(host)) return answers;
    for (const a of answers) {
      const cls = refuse(a.address);
      if (cls) {
        throw new OutboundRefusedError(
          `the host ${host} resolves to a ${cls} address; outbound webhooks go to public addresses only (an operator can allow local receivers with WACLOUD_OUTBOUND_ALLOW)`,
          cls,
        );
      }
    }
    return answers;
  }

  /** Scheme, credentials and literal-address checks shared by creation and delivery; the bare host, lower case. */
  function checkParsed(u: URL): { host: string; literal: boolean } {
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      throw new OutboundRefusedError('the URL must be an https URL');
    }
    if (u.username || u.password) throw new OutboundRefusedError('the URL must not carry credentials');
    if (denied.has(u.origin)) {
      throw new OutboundRefusedError(
        'the sandbox emulator is not a webhook receiver; outbound webhooks go to public addresses only',
      );
    }
    const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const literal = isIP(host) !== 0;
    const allowed = hosts.has(host) || (literal && addressAllowed(host));
    if (u.protocol === 'http:' && !options.sandbox && !allowed) {
      throw new OutboundRefusedError(
        'the URL must use https (plain http only in the sandbox or for hosts in WACLOUD_OUTBOUND_ALLOW)',
      );
    }
    if (literal && !allowed) {
      const cls = refusedClassOf(host);
      if (cls) {
        throw new OutboundRefusedError(
          `${host} is a ${cls} address; outbound webhooks go to public addresses only (an operator can allow local receivers with WACLOUD_OUTBOUND_ALLOW)`,
          cls,
        );
      }
    }
    // RFC 6761: `localhost` and its subdomains are loopback whatever DNS says.
    if (!literal && !allowed && (host === 'localhost' || host.endsWith('.localhost'))) {
      throw new OutboundRefusedError(
        `${host} is a loopback name; outbound webhooks go to public addresses only (an operator can allow local receivers with WACLOUD_OUTBOUND_ALLOW)`,
        'loopback',
      );
    }
    return { host, literal };
  }

  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
    resolveChecked(host).then(
      (answers) => {
        const wanted = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : 0;
        const usable = wanted ? answers.filter((a) => a.family === wanted) : answers;
        if (usable.length === 0) {
          callback(Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' }), '', 0);
        } else if (lookupOptions.all) {
          (callback as unknown as (e: null, a: typeof usable) => void)(null, usable);
        } else {
          const first = usable[0] as { address: string; family: number };
          callback(null, first.address, first.family);
        }
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };

  return {
    async checkUrl(url) {
      let u: URL;
      try {
        u = new URL(url.trim());
      } catch {
        throw new OutboundRefusedError('the URL must be an absolute https URL');
      }
      const { host, literal } = checkParsed(u);
      if (!literal) await resolveChecked(host);
      return u.toString();
    },
    checkBeforeConnect(u) {
      checkParsed(u);
    },
    lookup,
  };
}
