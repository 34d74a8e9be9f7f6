import { sql } from 'kysely';
import type { Db } from './engine.js';

export interface PurgeResult {
  webhooks: number;
  deliveries: number;
}

/**
 * Customer content is kept for a while (replay, debugging), not forever: webhook bodies and delivery payloads older
 * than the retention are deleted, row and all. Routing metadata lives elsewhere (phone numbers, tenant objects, the
 * audit log) and stays. Rows a worker holds right now (leased) are left for the next sweep.
 */
export interface Retention {
  /** Deletes up to `limit` inbox rows and `limit` deliveries received/created before `cutoffMs`; how many went. */
  purge(cutoffMs: number, limit: number): Promise<PurgeResult>;
}

export function createRetention(db: Db): Retention {
  const k = db.kysely;
  return {
    async purge(cutoffMs, limit) {
      // A bounded batch per statement (id IN (… LIMIT n)): a long sweep never holds a big lock on a busy table.
      const webhooks = await db.run('deleting old webhook bodies', () =>
        sql`DELETE FROM webhook_inbox WHERE id IN (
              SELECT id FROM webhook_inbox
              WHERE received_at_ms < ${cutoffMs} AND status <> 'processing'
              ORDER BY received_at_ms LIMIT ${limit})`.execute(k),
      );
      const deliveries = await db.run('deleting old delivery payloads', () =>
        sql`DELETE FROM deliveries WHERE id IN (
              SELECT id FROM deliveries
              WHERE created_at_ms < ${cutoffMs} AND lease_owner IS NULL
              ORDER BY created_at_ms LIMIT ${limit})`.execute(k),
      );
      return {
        webhooks: Number(webhooks.numAffectedRows ?? 0n),
        deliveries: Number(deliveries.numAffectedRows ?? 0n),
      };
    },
  };
}
