export type { ApiKeyRecord, ApiKeyRepository, NewApiKeyRecord } from './api-keys.js';
export type { AuditEntry, AuditLog, AuditQuery, NewAuditEntry } from './audit.js';
export { auditDetailJson } from './audit.js';
export { credentialContext, SqlCredentialStore } from './credentials.js';
export { type Db, NEVER_MS, SQLITE_FILE, type StoreEngine, toStoreError } from './engine.js';
export {
  createFlowKeyRepository,
  type FlowKeyRecord,
  type FlowKeyRepository,
  type FlowKeyState,
  flowKeyFingerprint,
} from './flow-keys.js';
export type { InboxItem, InboxRepository, InboxStatus, NewInboxItem } from './inbox.js';
export {
  ENCRYPTED_COLUMNS,
  type KeyOps,
  type KeyringStatus,
  type KeyStatus,
  type RotateOptions,
  type RotationProgress,
  type RotationReport,
} from './key-ops.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export type {
  ConsumeStoredStateResult,
  OAuthFlowKind,
  OAuthStateRepository,
  StoredOAuthState,
} from './oauth-states.js';
export { type OpenStoreOptions, openStore, type Store, type StoreConfig } from './open-store.js';
export type { PhoneNumberInput, PhoneNumberRecord, PhoneNumberRepository } from './phone-numbers.js';
export type { RevokedSessionRepository } from './revoked-sessions.js';
export { StoreError } from './store-error.js';
export type {
  DeliveryRecord,
  DeliveryRepository,
  DeliveryStatus,
  NewDelivery,
  NewSubscription,
  SubscriptionPatch,
  SubscriptionRecord,
  SubscriptionRepository,
} from './subscriptions.js';
export type { NewTenant, Tenant, TenantPatch, TenantRepository, TenantStatus } from './tenants.js';
