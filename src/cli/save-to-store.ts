import type { CredentialKind } from '../auth/credential-store.js';
import type { TokenInspection } from '../auth/token-inspection.js';
import type { WacloudConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';

export interface SavedToStore {
  engine: 'sqlite' | 'postgres';
  tenantId: string;
  tenantName: string;
  credentialId: string;
  version: number;
  /** True when an existing credential of the same subject got the new token (a new version), not a new row. */
  replaced: boolean;
}

/**
 * Saves a freshly obtained, already inspected token into the credential store (encrypted; SQLite in the data dir or
 * PostgreSQL with DATABASE_URL), under a tenant found by id or name, or created with that name. A token for a subject
 * the tenant already has replaces that credential's token, so running `wacloud login` again renews in place.
 */
export async function saveToStore(
  config: WacloudConfig & { appId: string; appSecret: Secret },
  tenant: string,
  token: Secret,
  kind: CredentialKind,
  inspection: TokenInspection,
  logger: Logger,
): Promise<SavedToStore> {
  const { openStore } = await import('../store/open-store.js');
  const { TokenManager } = await import('../auth/token-manager.js');
  const store = await openStore(config, { logger });
  try {
    const all = await store.tenants.list();
    const found = all.find((t) => t.id === tenant) ?? all.find((t) => t.name === tenant);
    const row = found ?? (await store.tenants.create({ name: tenant }, Date.now()));
    // The command loaded the config (environment, .env, secret references) already: pass it on explicitly.
    const manager = new TokenManager({
      store: store.credentials,
      appId: config.appId,
      appSecret: config.appSecret,
      graphUrl: config.graphUrl,
      apiVersion: config.apiVersion,
      timeoutMs: config.requestTimeoutMs,
      logger,
    });
    try {
      const existing = (await manager.listCredentials(row.id)).find(
        (c) => c.subjectId !== null && c.subjectId === (inspection.userId ?? null) && c.kind === kind,
      );
      const cred = existing
        ? await manager.replaceToken(existing.id, token)
        : await manager.addCredential({
            tenantId: row.id,
            token,
            kind,
            inspect: false,
            expiresAtMs: inspection.expiresAtMs,
            dataAccessExpiresAtMs: inspection.dataAccessExpiresAtMs,
            issuedAtMs: inspection.issuedAtMs,
            scopes: inspection.scopes,
            targetIds: inspection.granularScopes.flatMap((g) => g.targetIds ?? []),
            subjectId: inspection.userId ?? null,
          });
      await store.audit.append(
        {
          tenantId: row.id,
          credentialId: cred.id,
          event: existing ? 'credential.reconnected' : 'credential.connected',
          detail: { kind, via: 'cli' },
        },
        Date.now(),
      );
      return {
        engine: store.engine,
        tenantId: row.id,
        tenantName: row.name,
        credentialId: cred.id,
        version: cred.version,
        replaced: existing !== undefined,
      };
    } finally {
      await manager.close();
    }
  } finally {
    await store.close();
  }
}
