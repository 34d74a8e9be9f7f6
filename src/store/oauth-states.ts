import type { Selectable } from 'kysely';
import type { ConsumeStateResult, OAuthStateRecord, OAuthStateStore } from '../auth/oauth-state-store.js';
import { ValidationError } from '../core/errors.js';
import { Secret } from '../core/secret.js';
import type { Db } from './engine.js';
import type { KeyStore } from './key-store.js';
import type { OAuthStatesTable } from './schema.js';

/** Which login a state belongs to. */
export type OAuthFlowKind = 'login' | 'login-for-business' | 'embedded-signup' | (string & {});

/** {@link OAuthStateRecord} plus the flow kind the broker stores with it. */
export interface StoredOAuthState extends OAuthStateRecord {
  /** Default `login`. */
  flow?: OAuthFlowKind;
}

/** What {@link OAuthStateRepository.consume} found. */
export type ConsumeStoredStateResult =
  | { status: 'ok'; record: StoredOAuthState & { flow: OAuthFlowKind } }
  | { status: 'unknown' }
  | { status: 'used' }
  | { status: 'expired' };

/**
 * Pending logins, implementing the auth part's {@link OAuthStateStore}: keyed by the SHA-256 of the state (never
 * the state), PKCE verifier encrypted, single use through one atomic UPDATE.
 */
export interface OAuthStateRepository extends OAuthStateStore {
  save(record: StoredOAuthState): Promise<void>;
  /** Marks the state used and returns it; of two concurrent callers exactly one gets `ok`. */
  consume(stateHash: string, nowMs: number): Promise<ConsumeStoredStateResult & ConsumeStateResult>;
  /** Deletes states that expired more than `graceMs` (default one hour) ago. Returns how many. */
  purgeExpired(nowMs: number, graceMs?: number): Promise<number>;
}

export function oauthStateContext(stateHash: string): string {
  return `oauth_states/${stateHash}`;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function createOAuthStateRepository(db: Db, keys: KeyStore): OAuthStateRepository {
  const k = db.kysely;
  const decode = async (
    r: Selectable<OAuthStatesTable>,
  ): Promise<StoredOAuthState & { flow: OAuthFlowKind }> => {
    let codeVerifier: Secret | undefined;
    if (r.verifier_ct && r.key_id) {
      const bytes = await keys.decrypt(r.key_id, Buffer.from(r.verifier_ct), oauthStateContext(r.state_hash));
      codeVerifier = new Secret(bytes.toString('utf8'), 'code-verifier');
    }
    return {
      stateHash: r.state_hash,
      flow: r.flow,
      tenantId: r.tenant_id ?? undefined,
      redirectUri: r.redirect_uri,
      scopes: JSON.parse(r.scopes) as string[],
      configId: r.config_id ?? undefined,
      codeVerifier,
      createdAtMs: Number(r.created_at_ms),
      expiresAtMs: Number(r.expires_at_ms),
    };
  };
  return {
    async save(record) {
      if (!HEX64.test(record.stateHash)) {
        // Guards against storing the state itself by mistake.
        throw new ValidationError('must be the SHA-256 hex of the state, not the state', 'stateHash');
      }
      const sealed = record.codeVerifier
        ? await keys.encrypt(record.codeVerifier.reveal(), oauthStateContext(record.stateHash))
        : undefined;
      await db.run('saving an OAuth state', () =>
        k
          .insertInto('oauth_states')
          .values({
            state_hash: record.stateHash,
            flow: record.flow ?? 'login',
            tenant_id: record.tenantId ?? null,
            redirect_uri: record.redirectUri,
            scopes: JSON.stringify(record.scopes),
            config_id: record.configId ?? null,
            verifier_ct: sealed?.ciphertext ?? null,
            key_id: sealed?.keyId ?? null,
            created_at_ms: record.createdAtMs,
            expires_at_ms: record.expiresAtMs,
            used_at_ms: null,
          })
          .execute(),
      );
    },
    async consume(stateHash, nowMs) {
      const row = await db.run('consuming an OAuth state', () =>
        k
          .updateTable('oauth_states')
          .set({ used_at_ms: nowMs })
          .where('state_hash', '=', stateHash)
          .where('used_at_ms', 'is', null)
          .returningAll()
          .executeTakeFirst(),
      );
      if (!row) {
        const exists = await db.run('reading an OAuth state', () =>
          k
            .selectFrom('oauth_states')
            .select('state_hash')
            .where('state_hash', '=', stateHash)
            .executeTakeFirst(),
        );
        return { status: exists ? 'used' : 'unknown' };
      }
      // A used state needs no verifier any more: drop the ciphertext so only live logins hold one.
      await db.run('clearing a used OAuth state', () =>
        k
          .updateTable('oauth_states')
          .set({ verifier_ct: null, key_id: null })
          .where('state_hash', '=', stateHash)
          .execute(),
      );
      if (nowMs >= Number(row.expires_at_ms)) return { status: 'expired' };
      return { status: 'ok', record: await decode(row) };
    },
    async purgeExpired(nowMs, graceMs = 3_600_000) {
      const r = await db.run('purging OAuth states', () =>
        k
          .deleteFrom('oauth_states')
          .where('expires_at_ms', '<=', nowMs - graceMs)
          .executeTakeFirst(),
      );
      return Number(r.numDeletedRows);
    },
  };
}
