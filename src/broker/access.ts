import type { Clock } from '../core/clock.js';
import type { BrokerStore, PhoneNumberRow } from './ports.js';
import { apiKeyId, hashApiKey } from './security/api-key.js';

export interface Principal {
  keyId: string;
  /** null for admin keys. */
  tenantId: string | null;
  admin: boolean;
}

/**
 * Key and object-access lookups for the hot paths (Graph proxy, API), cached in memory with a short TTL so a request
 * costs no database round trip; revocations and new phone numbers take effect within the TTL on other instances and
 * at once on this one (`invalidate*`).
 */
export function createAccessCache(store: BrokerStore, clock: Clock, ttlMs = 30_000) {
  const keys = new Map<string, { principal: Principal | undefined; atMs: number }>();
  const objects = new Map<string, { ids: Set<string>; numbers: Map<string, PhoneNumberRow>; atMs: number }>();
  /** Objects created through the proxy (media, templates): kept until restart, bounded. */
  const created = new Map<string, Set<string>>();

  async function authenticate(key: string): Promise<Principal | undefined> {
    if (!apiKeyId(key)) return undefined;
    const hash = hashApiKey(key);
    const hit = keys.get(hash);
    if (hit && clock.now() - hit.atMs < ttlMs) return hit.principal;
    const row = await store.apiKeys.findByHash(hash);
    const principal =
      row && row.revokedAtMs === null
        ? { keyId: row.keyId, tenantId: row.tenantId, admin: row.tenantId === null }
        : undefined;
    if (keys.size > 50_000) keys.clear();
    keys.set(hash, { principal, atMs: clock.now() });
    return principal;
  }

  async function tenantObjects(tenantId: string) {
    const hit = objects.get(tenantId);
    if (hit && clock.now() - hit.atMs < ttlMs) return hit;
    const ids = new Set<string>();
    const numbers = new Map<string, PhoneNumberRow>();
    for (const n of await store.phoneNumbers.listByTenant(tenantId)) {
      ids.add(n.id);
      ids.add(n.wabaId);
      numbers.set(n.id, n);
    }
    const entry = { ids, numbers, atMs: clock.now() };
    objects.set(tenantId, entry);
    return entry;
  }

  return {
    authenticate,
    async isAllowedObject(tenantId: string, objectId: string): Promise<boolean> {
      return (
        (await tenantObjects(tenantId)).ids.has(objectId) || created.get(tenantId)?.has(objectId) === true
      );
    },
    /** The tenant's phone number `id` (with its credential), from the same cache: the proxy's per-send lookup. */
    async phoneNumber(tenantId: string, id: string): Promise<PhoneNumberRow | undefined> {
      return (await tenantObjects(tenantId)).numbers.get(id);
    },
    rememberObject(tenantId: string, objectId: string): void {
      let set = created.get(tenantId);
      if (!set) {
        set = new Set();
        created.set(tenantId, set);
      }
      if (set.size > 100_000) set.clear();
      set.add(objectId);
    },
    invalidateKeys(): void {
      keys.clear();
    },
    invalidateTenant(tenantId: string): void {
      objects.delete(tenantId);
    },
  };
}

export type AccessCache = ReturnType<typeof createAccessCache>;
