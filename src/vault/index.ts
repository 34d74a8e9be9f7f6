/**
 * wacloud/vault: encryption at rest (AES-256-GCM data keys wrapped by a master key, with rotation), the store
 * (SQLite by default, PostgreSQL with DATABASE_URL) holding credentials, tenants, webhooks and the audit log, and
 * secret sources (env, .env, files, HashiCorp Vault, AWS Secrets Manager, GCP Secret Manager). See docs/vault.md.
 */

export * from '../store/index.js';
export * from './crypto/index.js';
export * from './secret-sources/index.js';
