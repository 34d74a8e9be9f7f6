import type { KeyObject } from 'node:crypto';
import { type Clock, systemClock } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import { generateFlowKeyPair, loadFlowPrivateKey } from './crypto.js';
import type { FlowsApi } from './management-api.js';

/**
 * Flow key custody: key pairs per phone number kept in the vault, uploaded to Meta and checked, rotated with a grace
 * period in which both keys decrypt. The private key never leaves the process that holds the store.
 */

/** What custody needs from the store (the vault's flow key repository implements it). */
export interface FlowKeyStorePort {
  create(
    input: { tenantId: string; phoneNumberId: string; publicKeyPem: string; privateKeyPem: Secret },
    nowMs: number,
  ): Promise<FlowKeyView>;
  listByPhone(phoneNumberId: string): Promise<FlowKeyView[]>;
  activate(id: string, nowMs: number, graceMs: number, metaStatus: string): Promise<FlowKeyView>;
  recordCheck(id: string, metaStatus: string, nowMs: number): Promise<void>;
  privateKeys(
    phoneNumberId: string,
    nowMs: number,
  ): Promise<Array<{ record: FlowKeyView; privateKeyPem: Secret }>>;
  retireDue(nowMs: number): Promise<number>;
}

export interface FlowKeyView {
  id: string;
  tenantId: string;
  phoneNumberId: string;
  publicKeyPem: string;
  fingerprint: string;
  state: 'pending' | 'active' | 'retiring' | 'retired';
  retireAfterMs: number | null;
  metaStatus: string | null;
}

/**
 * How long a replaced key still decrypts. WhatsApp clients cache the business public key and re-fetch it after a 421,
 * so requests encrypted for the old key arrive for a while; Meta publishes no cache lifetime, so the default (24 h)
 * is ours and configurable.
 */
export const DEFAULT_FLOW_KEY_GRACE_MS = 24 * 3600_000;
/** Decrypted keys are kept in memory this long so a burst of requests costs one vault read. */
const CACHE_MS = 5_000;

export class FlowKeyCustody {
  readonly #store: FlowKeyStorePort;
  readonly #clock: Clock;
  readonly #graceMs: number;
  readonly #cache = new Map<string, { atMs: number; keys: KeyObject[] }>();

  constructor(options: { store: FlowKeyStorePort; clock?: Clock; graceMs?: number }) {
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#graceMs = options.graceMs ?? DEFAULT_FLOW_KEY_GRACE_MS;
  }

  /** A new 2048-bit pair for a number, stored `pending` (the private key encrypted). */
  async generate(tenantId: string, phoneNumberId: string): Promise<FlowKeyView> {
    if (!/^\d{1,32}$/.test(phoneNumberId)) throw new ValidationError('is not a numeric id', 'phoneNumberId');
    const pair = generateFlowKeyPair();
    return this.#store.create(
      { tenantId, phoneNumberId, publicKeyPem: pair.publicKeyPem, privateKeyPem: pair.privateKeyPem },
      this.#clock.now(),
    );
  }

  /**
   * Uploads a number's newest pending key (`POST whatsapp_business_encryption`), reads it back (`GET`) and activates
   * it only when Meta holds exactly that key; the previous key then retires after the grace period.
   */
  async upload(phoneNumberId: string, flows: FlowsApi, keyId?: string): Promise<FlowKeyView> {
    const all = await this.#store.listByPhone(phoneNumberId);
    const key = keyId ? all.find((k) => k.id === keyId) : all.find((k) => k.state === 'pending');
    if (!key)
      throw new ValidationError(
        `no pending flow key for ${phoneNumberId}: run keygen first`,
        'phoneNumberId',
      );
    await flows.setBusinessPublicKey(key.publicKeyPem, phoneNumberId);
    const held = await flows.getBusinessPublicKey(phoneNumberId);
    const matches = held !== undefined && held.business_public_key.trim() === key.publicKeyPem.trim();
    const status = matches ? held.business_public_key_signature_status : 'MISMATCH';
    if (!matches || status !== 'VALID') {
      await this.#store.recordCheck(key.id, status, this.#clock.now());
      throw new ValidationError(
        `Meta does not hold the uploaded key (status ${status})`,
        'business_public_key',
      );
    }
    const active = await this.#store.activate(key.id, this.#clock.now(), this.#graceMs, status);
    this.#cache.delete(phoneNumberId);
    return active;
  }

  /** Generates and uploads a new key; the old one keeps decrypting for the grace period. */
  async rotate(tenantId: string, phoneNumberId: string, flows: FlowsApi): Promise<FlowKeyView> {
    const fresh = await this.generate(tenantId, phoneNumberId);
    return this.upload(phoneNumberId, flows, fresh.id);
  }

  /** Compares what Meta holds with the active key and records the answer. */
  async check(
    phoneNumberId: string,
    flows: FlowsApi,
  ): Promise<{ key: FlowKeyView | undefined; metaStatus: string }> {
    const key = (await this.#store.listByPhone(phoneNumberId)).find((k) => k.state === 'active');
    const held = await flows.getBusinessPublicKey(phoneNumberId);
    let metaStatus = held ? held.business_public_key_signature_status : 'NOT_SET';
    if (key && held && held.business_public_key.trim() !== key.publicKeyPem.trim()) metaStatus = 'MISMATCH';
    if (key) await this.#store.recordCheck(key.id, metaStatus, this.#clock.now());
    return { key, metaStatus };
  }

  /** The keys requests for a number may use: active first, then retiring ones in their grace period. */
  async privateKeys(phoneNumberId: string): Promise<KeyObject[]> {
    const now = this.#clock.now();
    const hit = this.#cache.get(phoneNumberId);
    if (hit && now - hit.atMs < CACHE_MS) return hit.keys;
    const rows = await this.#store.privateKeys(phoneNumberId, now);
    const keys = rows.map((r) => loadFlowPrivateKey(r.privateKeyPem));
    this.#cache.set(phoneNumberId, { atMs: now, keys });
    return keys;
  }

  /** Retires keys past their grace period (erasing their private half). */
  async retireDue(): Promise<number> {
    const n = await this.#store.retireDue(this.#clock.now());
    if (n > 0) this.#cache.clear();
    return n;
  }
}
