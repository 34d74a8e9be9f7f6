import type { Generated } from 'kysely';
import type { FlowKeysTable } from './flow-keys.js';
/** Times are integers in ms since the epoch (BIGINT on PostgreSQL). JSON is stored as text on both engines. */
export interface DataKeysTable {
  key_id: string;
  wrapped_key: Buffer;
  master_key_id: string;
  state: string;
  created_at_ms: number;
  retired_at_ms: number | null;
}
export interface TenantsTable {
  id: string;
  name: string;
  status: string;
  metadata: string;
  created_at_ms: number;
  updated_at_ms: number;
}
export interface CredentialsTable {
  id: string;
  tenant_id: string;
  kind: string;
  app_id: string;
  subject_id: string | null;
  scopes: string;
  target_ids: string;
  token_ct: Buffer;
  key_id: string;
  version: number;
  issued_at_ms: number | null;
  expires_at_ms: number | null;
  data_access_expires_at_ms: number | null;
  status: string;
  next_check_at_ms: number;
  lease_owner: string | null;
  lease_expires_at_ms: number | null;
  failures: number;
  last_error: string | null;
  created_at_ms: number;
  updated_at_ms: number;
}
export interface PhoneNumbersTable {
  id: string;
  tenant_id: string;
  waba_id: string;
  display_phone_number: string;
  verified_name: string | null;
  credential_id: string | null;
  created_at_ms: number;
  updated_at_ms: number;
}
export interface OAuthStatesTable {
  state_hash: string;
  flow: string;
  tenant_id: string | null;
  redirect_uri: string;
  scopes: string;
  config_id: string | null;
  verifier_ct: Buffer | null;
  key_id: string | null;
  created_at_ms: number;
  expires_at_ms: number;
  used_at_ms: number | null;
}
export interface ApiKeysTable {
  key_id: string;
  key_hash: string;
  tenant_id: string | null;
  label: string;
  created_at_ms: number;
  last_used_at_ms: number | null;
  revoked_at_ms: number | null;
}
export interface WebhookInboxTable {
  id: Generated<number>;
  body: Buffer;
  signature_valid: number;
  dedupe_key: string;
  status: string;
  attempts: number;
  received_at_ms: number;
  available_at_ms: number;
  tenant_id: string | null;
  lease_owner: string | null;
  lease_expires_at_ms: number | null;
  last_error: string | null;
  processed_at_ms: number | null;
  /** The data key sealing `body`; null: a plaintext row from before migration 3. */
  key_id: string | null;
}
export interface SubscriptionsTable {
  id: string;
  tenant_id: string;
  url: string;
  secret_ct: Buffer;
  key_id: string;
  events: string;
  active: number;
  created_at_ms: number;
  updated_at_ms: number;
}
export interface DeliveriesTable {
  id: Generated<number>;
  subscription_id: string;
  tenant_id: string;
  inbox_id: number | null;
  event_id: string;
  event_type: string;
  payload: string;
  status: string;
  attempts: number;
  next_attempt_at_ms: number;
  lease_owner: string | null;
  lease_expires_at_ms: number | null;
  last_error: string | null;
  created_at_ms: number;
  delivered_at_ms: number | null;
  /** The sealed payload (then `payload` is ''); null on rows from before migration 3. */
  payload_ct: Buffer | null;
  key_id: string | null;
}
export interface TenantObjectsTable {
  object_id: string;
  tenant_id: string;
  kind: string;
  origin: string;
  created_at_ms: number;
}
export interface AuditLogTable {
  id: Generated<number>;
  tenant_id: string | null;
  credential_id: string | null;
  event: string;
  detail: string;
  at_ms: number;
}
export interface RevokedSessionsTable {
  session_id_hash: string;
  expires_at_ms: number;
  revoked_at_ms: number;
}
/** The other tenants of a webhook carrying several tenants' events (the first is `webhook_inbox.tenant_id`). */
export interface WebhookInboxTenantsTable {
  inbox_id: number;
  tenant_id: string;
}
export interface MigrationsTable {
  version: number;
  name: string;
  applied_at_ms: number;
}
/** The whole schema, as Kysely sees it. */
export interface Database {
  wacloud_migrations: MigrationsTable;
  data_keys: DataKeysTable;
  tenants: TenantsTable;
  credentials: CredentialsTable;
  phone_numbers: PhoneNumbersTable;
  oauth_states: OAuthStatesTable;
  api_keys: ApiKeysTable;
  webhook_inbox: WebhookInboxTable;
  subscriptions: SubscriptionsTable;
  deliveries: DeliveriesTable;
  audit_log: AuditLogTable;
  flow_keys: FlowKeysTable;
  tenant_objects: TenantObjectsTable;
  revoked_sessions: RevokedSessionsTable;
  webhook_inbox_tenants: WebhookInboxTenantsTable;
}
