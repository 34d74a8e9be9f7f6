import type { Clock } from '../core/clock.js';
import type { PhoneNumberRecord } from '../store/phone-numbers.js';
import type { NewTenantObject } from '../store/tenant-objects.js';
import type { BrokerStore } from './ports.js';
import { apiKeyId, hashApiKey } from './security/api-key.js';

const TOUCH_EVERY_MS = 60_000;

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
export function createAccessCache(store: BrokerStore, clock: Clock, ttlMs = 30_000, maxKeys = 50_000) {
  // By the presented key string: a hit costs no SHA-256 (the proxy's hot path). Memory only, never logged; bounded,
  // the oldest entry goes first when full.
  const keys = new Map<string, { principal: Principal | undefined; atMs: number }>();
  type TenantObjects = { ids: Set<string>; numbers: Map<string, PhoneNumberRecord>; atMs: number };
  const objects = new Map<string, TenantObjects>();
  /**
   * Owners of objects tenants created or received (media, templates, flows), as read from or written to the store
   * (where every instance sees them). Ownership never moves, so an entry never goes stale; bounded, oldest first out.
   * Unknown ids are not remembered: an object created on another instance a moment ago is found on the next ask.
   */
  const owners = new Map<string, string>();
  const maxOwners = 100_000;
  const rememberOwner = (objectId: string, tenantId: string) => {
    if (owners.size >= maxOwners) owners.delete(owners.keys().next().value as string);
    owners.set(objectId, tenantId);
  };
  /** Ids of the admin keys not revoked (dashboard sessions name one): one store read per TTL, not per request. */
  let adminKeyIds: { ids: Set<string>; atMs: number } | undefined;
  let adminKeyIdsLoading: Promise<Set<string>> | undefined;
  /** Bumped by `invalidateKeys`: a list read before a revocation is not cached after it. */
  let keyGeneration = 0;

  async function lookUpKey(key: string): Promise<Principal | undefined> {
    const generation = keyGeneration;
    const row = await store.apiKeys.findByHash(hashApiKey(key));
    const principal =
      row && row.revokedAtMs === null
        ? { keyId: row.keyId, tenantId: row.tenantId, admin: row.tenantId === null }
        : undefined;
    keys.delete(key);
    if (keys.size >= maxKeys) keys.delete(keys.keys().next().value as string);
    keys.set(key, { principal, atMs: clock.now() });
    // A live admin key just read from the store: its sessions are valid without another read.
    if (principal?.admin && adminKeyIds && generation === keyGeneration) adminKeyIds.ids.add(principal.keyId);
    return principal;
  }

  /** When each key's last use was written: `apiKeys.touch` runs at most once a minute per key, off the hot path. */
  const touchedAtMs = new Map<string, number>();
  function touch(principal: Principal | undefined): void {
    if (!principal) return;
    const now = clock.now();
    if (now - (touchedAtMs.get(principal.keyId) ?? Number.NEGATIVE_INFINITY) < TOUCH_EVERY_MS) return;
    if (touchedAtMs.size >= maxKeys) touchedAtMs.clear();
    touchedAtMs.set(principal.keyId, now);
    void store.apiKeys.touch(principal.keyId, now).catch(() => touchedAtMs.delete(principal.keyId));
  }

  /** In memory (no promise) on a cache hit; a store read otherwise. */
  function authenticate(key: string): Principal | undefined | Promise<Principal | undefined> {
    const hit = keys.get(key);
    if (hit && clock.now() - hit.atMs < ttlMs) {
      touch(hit.principal);
      return hit.principal;
    }
    if (!apiKeyId(key)) return undefined;
    return lookUpKey(key).then((p) => {
      touch(p);
      return p;
    });
  }

  function loadAdminKeyIds(): Promise<Set<string>> {
    if (adminKeyIdsLoading) return adminKeyIdsLoading;
    const generation = keyGeneration;
    const loading: Promise<Set<string>> = store.apiKeys
      .listByTenant(null)
      .then((rows) => {
        const ids = new Set(rows.filter((r) => r.revokedAtMs === null).map((r) => r.keyId));
        if (generation === keyGeneration) adminKeyIds = { ids, atMs: clock.now() };
        return ids;
      })
      .finally(() => {
        if (adminKeyIdsLoading === loading) adminKeyIdsLoading = undefined;
      });
    adminKeyIdsLoading = loading;
    return loading;
  }

  async function loadTenant(tenantId: string): Promise<TenantObjects> {
    const ids = new Set<string>();
    const numbers = new Map<string, PhoneNumberRecord>();
    for (const n of await store.phoneNumbers.listByTenant(tenantId)) {
      ids.add(n.id);
      ids.add(n.wabaId);
      numbers.set(n.id, n);
    }
    const entry = { ids, numbers, atMs: clock.now() };
    objects.set(tenantId, entry);
    return entry;
  }

  function tenantObjects(tenantId: string): TenantObjects | Promise<TenantObjects> {
    const hit = objects.get(tenantId);
    if (hit && clock.now() - hit.atMs < ttlMs) return hit;
    return loadTenant(tenantId);
  }

  function allowed(entry: TenantObjects, tenantId: string, objectId: string): boolean | Promise<boolean> {
    if (entry.ids.has(objectId)) return true;
    const owner = owners.get(objectId);
    if (owner !== undefined) return owner === tenantId;
    return store.objects.ownerOf(objectId).then((found) => {
      if (found !== undefined) rememberOwner(objectId, found);
      return found === tenantId;
    });
  }

  return {
    authenticate,
    /** A key's principal when the cache knows it as valid right now; never a store read. */
    peek(key: string): Principal | undefined {
      const hit = keys.get(key);
      return hit && clock.now() - hit.atMs < ttlMs ? hit.principal : undefined;
    },
    /** In memory (no promise) on a cache hit. */
    isAllowedObject(tenantId: string, objectId: string): boolean | Promise<boolean> {
      const entry = tenantObjects(tenantId);
      return entry instanceof Promise
        ? entry.then((e) => allowed(e, tenantId, objectId))
        : allowed(entry, tenantId, objectId);
    },
    /** The tenant's phone number `id` (with its credential), from the same cache: the proxy's per-send lookup. */
    phoneNumber(
      tenantId: string,
      id: string,
    ): PhoneNumberRecord | undefined | Promise<PhoneNumberRecord | undefined> {
      const entry = tenantObjects(tenantId);
      return entry instanceof Promise ? entry.then((e) => e.numbers.get(id)) : entry.numbers.get(id);
    },
    /**
     * Records objects as their tenants' in the store (committed before this resolves, so another instance asked next
     * knows them). An object with an owner already keeps it.
     */
    async recordObjects(rows: NewTenantObject[], nowMs: number): Promise<void> {
      if (rows.length === 0) return;
      const recorded = new Set(await store.objects.record(rows, nowMs));
      for (const row of rows) if (recorded.has(row.objectId)) rememberOwner(row.objectId, row.tenantId);
    },
    /** The owner of an object, from memory or the store (media URLs are checked against it). */
    async ownerOf(objectId: string): Promise<string | undefined> {
      const hit = owners.get(objectId);
      if (hit !== undefined) return hit;
      const found = await store.objects.ownerOf(objectId);
      if (found !== undefined) rememberOwner(objectId, found);
      return found;
    },
    /**
     * The credential that covers `objectId` for the tenant: a phone number's own, or, for a WABA, the one its
     * numbers were recorded with (a tenant with tokens for two WABAs uses each WABA's own). From the same cache.
     */
    credentialFor(tenantId: string, objectId: string): string | undefined | Promise<string | undefined> {
      const pick = (e: TenantObjects): string | undefined => {
        const own = e.numbers.get(objectId)?.credentialId;
        if (own) return own;
        for (const n of e.numbers.values())
          if (n.wabaId === objectId && n.credentialId) return n.credentialId;
        return undefined;
      };
      const entry = tenantObjects(tenantId);
      return entry instanceof Promise ? entry.then(pick) : pick(entry);
    },
    /**
     * Whether admin key `keyId` still exists unrevoked (a dashboard session's key): in memory (no promise) while the
     * cached list is fresh, so a session costs no store round trip per request.
     */
    isAdminKeyLive(keyId: string): boolean | Promise<boolean> {
      const age = adminKeyIds ? clock.now() - adminKeyIds.atMs : Number.POSITIVE_INFINITY;
      if (age < ttlMs && adminKeyIds?.ids.has(keyId)) return true;
      // Not in a fresh list: revoked, or created since (here or on another instance): read again, at most once a
      // second (a revoked session's requests cannot turn into a store read each).
      if (age < 1000) return false;
      return loadAdminKeyIds().then((ids) => ids.has(keyId));
    },
    invalidateKeys(): void {
      keys.clear();
      adminKeyIds = undefined;
      adminKeyIdsLoading = undefined;
      keyGeneration++;
    },
    invalidateTenant(tenantId: string): void {
      objects.delete(tenantId);
    },
  };
}

export type AccessCache = ReturnType<typeof createAccessCache>;
