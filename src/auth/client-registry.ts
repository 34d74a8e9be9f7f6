import type { Clock } from '../core/clock.js';
import { ValidationError, WacloudError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';
import type { AppSecretProofMode } from '../graph/appsecret-proof.js';
import type { RetryOptions } from '../graph/graph-client.js';
import type { Transport } from '../transport/types.js';
import { createUndiciTransport } from '../transport/undici-transport.js';
import { WhatsApp } from '../whatsapp/whatsapp.js';
import type { TokenManager } from './token-manager.js';

export interface ClientRegistryOptions {
  manager: TokenManager;
  /** One HTTP pool for every client. Default: one undici pool created (and closed) by the registry. */
  transport?: Transport | undefined;
  graphUrl?: string | undefined;
  apiVersion?: string | undefined;
  /** Adds `appsecret_proof` to every call. */
  appSecret?: string | Secret | undefined;
  appSecretProof?: AppSecretProofMode | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  retry?: RetryOptions | undefined;
  requestTimeoutMs?: number | undefined;
}

export interface TenantRegistration {
  tenantId: string;
  /** The credential in the token manager whose token this tenant's clients use. */
  credentialId: string;
  /** The tenant's sender numbers; the first is the tenant client's default sender. */
  phoneNumberIds?: readonly string[] | undefined;
  businessAccountId?: string | undefined;
}

interface Tenant {
  reg: TenantRegistration;
  client: WhatsApp | undefined;
}

const ID = /^\d{1,32}$/;

/**
 * WhatsApp clients for many tenants, keyed by tenant and by phone number id, all sharing one HTTP pool and pulling
 * their tokens from the lifecycle manager (so a rotation reaches every client on its next request).
 *
 * @example
 * const registry = createClientRegistry({ manager });
 * registry.register({ tenantId: 'acme', credentialId: cred.id, phoneNumberIds: ['1234567890'] });
 * await registry.forPhoneNumber('1234567890').messages.text({ to, body: 'hi' });
 */
export class ClientRegistry {
  readonly transport: Transport;
  readonly #o: ClientRegistryOptions;
  readonly #ownsTransport: boolean;
  readonly #tenants = new Map<string, Tenant>();
  readonly #byPhone = new Map<string, { tenantId: string; client: WhatsApp | undefined }>();
  #closed = false;

  constructor(options: ClientRegistryOptions) {
    this.#o = options;
    this.#ownsTransport = !options.transport;
    this.transport = options.transport ?? createUndiciTransport();
  }

  /** Adds or replaces a tenant. Its phone numbers must not belong to another tenant. */
  register(reg: TenantRegistration): void {
    if (this.#closed) throw new WacloudError('CONFLICT', 'the client registry is closed');
    if (!reg.tenantId) throw new ValidationError('is required', 'tenantId');
    if (!reg.credentialId) throw new ValidationError('is required', 'credentialId');
    const phones = [...(reg.phoneNumberIds ?? [])];
    for (const p of phones) {
      if (!ID.test(p)) throw new ValidationError(`"${p}" is not a numeric id`, 'phoneNumberIds');
      const owner = this.#byPhone.get(p);
      if (owner && owner.tenantId !== reg.tenantId) {
        throw new WacloudError('CONFLICT', `phone number ${p} already belongs to tenant ${owner.tenantId}`);
      }
    }
    if (reg.businessAccountId !== undefined && !ID.test(reg.businessAccountId)) {
      throw new ValidationError('is not a numeric id', 'businessAccountId');
    }
    this.unregister(reg.tenantId);
    this.#tenants.set(reg.tenantId, { reg: { ...reg, phoneNumberIds: phones }, client: undefined });
    for (const p of phones) this.#byPhone.set(p, { tenantId: reg.tenantId, client: undefined });
  }

  unregister(tenantId: string): boolean {
    const t = this.#tenants.get(tenantId);
    if (!t) return false;
    for (const p of t.reg.phoneNumberIds ?? []) this.#byPhone.delete(p);
    this.#tenants.delete(tenantId);
    return true;
  }

  has(tenantId: string): boolean {
    return this.#tenants.has(tenantId);
  }

  /** The tenant of a phone number id (webhook routing), if registered. */
  tenantOf(phoneNumberId: string): string | undefined {
    return this.#byPhone.get(phoneNumberId)?.tenantId;
  }

  tenants(): string[] {
    return [...this.#tenants.keys()];
  }

  /** The tenant's client (sending from its first number). Created on first use, then reused. */
  forTenant(tenantId: string): WhatsApp {
    const t = this.#tenants.get(tenantId);
    if (!t) throw new WacloudError('VALIDATION', `no tenant "${tenantId}" is registered`);
    t.client ??= this.#create(t.reg, t.reg.phoneNumberIds?.[0]);
    return t.client;
  }

  /** The client that sends from `phoneNumberId`, with its tenant's token. */
  forPhoneNumber(phoneNumberId: string): WhatsApp {
    const entry = this.#byPhone.get(phoneNumberId);
    if (!entry)
      throw new WacloudError('VALIDATION', `phone number ${phoneNumberId} is not registered to any tenant`);
    const t = this.#tenants.get(entry.tenantId) as Tenant;
    entry.client ??= this.#create(t.reg, phoneNumberId);
    return entry.client;
  }

  #create(reg: TenantRegistration, phoneNumberId: string | undefined): WhatsApp {
    if (this.#closed) throw new WacloudError('CONFLICT', 'the client registry is closed');
    return new WhatsApp({
      tokenProvider: this.#o.manager.tokenProvider(reg.credentialId),
      phoneNumberId,
      businessAcctId: reg.businessAccountId,
      graphUrl: this.#o.graphUrl,
      apiVersion: this.#o.apiVersion,
      appSecret: this.#o.appSecret,
      appSecretProof: this.#o.appSecretProof,
      transport: this.transport,
      clock: this.#o.clock,
      logger: this.#o.logger,
      retry: this.#o.retry,
      requestTimeout: this.#o.requestTimeoutMs,
      // Everything comes from the registration: never pick up CLOUD_API_ACCESS_TOKEN or a sender from the environment.
      configSource: { env: {}, envFile: false },
    });
  }

  /** Closes the shared pool if the registry created it. Clients stop working after this. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#tenants.clear();
    this.#byPhone.clear();
    if (this.#ownsTransport) await this.transport.close();
  }
}

export function createClientRegistry(options: ClientRegistryOptions): ClientRegistry {
  return new ClientRegistry(options);
}
