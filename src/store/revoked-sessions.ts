import type { Db } from './engine.js';

/**
 * Dashboard sessions ended before their time (logout). Sessions are signed cookies any instance can check; this list,
 * shared through the store, is what makes a logged-out cookie worthless on every instance, even if it was copied.
 * Rows are keyed by the SHA-256 of the session id and kept only until the session would have expired anyway.
 */
export interface RevokedSessionRepository {
  /** Records a revocation (idempotent). */
  revoke(sessionIdHash: string, expiresAtMs: number, nowMs: number): Promise<void>;
  isRevoked(sessionIdHash: string): Promise<boolean>;
  /** Deletes rows of sessions that have expired anyway; returns how many. */
  purgeExpired(nowMs: number): Promise<number>;
}

export function createRevokedSessionRepository(db: Db): RevokedSessionRepository {
  const k = db.kysely;
  return {
    async revoke(sessionIdHash, expiresAtMs, nowMs) {
      await db.run('revoking a dashboard session', () =>
        k
          .insertInto('revoked_sessions')
          .values({ session_id_hash: sessionIdHash, expires_at_ms: expiresAtMs, revoked_at_ms: nowMs })
          .onConflict((oc) => oc.column('session_id_hash').doNothing())
          .execute(),
      );
    },
    async isRevoked(sessionIdHash) {
      const row = await db.run('reading a session revocation', () =>
        k
          .selectFrom('revoked_sessions')
          .select('session_id_hash')
          .where('session_id_hash', '=', sessionIdHash)
          .executeTakeFirst(),
      );
      return row !== undefined;
    },
    async purgeExpired(nowMs) {
      const r = await db.run('purging session revocations', () =>
        k.deleteFrom('revoked_sessions').where('expires_at_ms', '<=', nowMs).executeTakeFirst(),
      );
      return Number(r.numDeletedRows);
    },
  };
}
