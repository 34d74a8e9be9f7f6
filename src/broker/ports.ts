import type { Store } from '../store/open-store.js';

/**
 * The broker's store is the store (src/store: SQLite or PostgreSQL), used directly with its own records and status
 * names (`InboxItem` with `pending | processing | done | dead | rejected`, `DeliveryRecord` with
 * `pending | delivered | dead`, ...): one vocabulary from the database to the broker. Only the HTTP faces translate,
 * where a contract says so (string ids in URLs and JSON; the admin API's documented shapes).
 */
export type BrokerStore = Store;

/** Inbox and delivery ids are integers in the store and strings in URLs: anything else is simply not found. */
export function parseRowId(id: string | undefined): number | undefined {
  return id !== undefined && /^\d{1,15}$/.test(id) ? Number(id) : undefined;
}
