import type { EmuContext } from './context.js';
import { graphError } from './graph-errors.js';

/** Graph's default page size for the WhatsApp edges, and the largest `limit` the emulator accepts. */
const DEFAULT_LIMIT = 25;
const MAX_LIMIT = 1000;

const cursorOf = (id: string): string => Buffer.from(id).toString('base64url');

/** `limit` as Graph reads it: absent → default; not a positive integer → #100. */
function limitOf(params: Record<string, string> | undefined): number {
  const raw = params?.limit;
  if (raw === undefined || raw === '') return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw graphError(100, `(#100) Param limit must be a positive integer - got "${raw.slice(0, 40)}".`);
  }
  return Math.min(n, MAX_LIMIT);
}

/** The request's URL with `after`/`before` swapped; the token never goes in (Meta puts it there; we keep secrets out). */
function pageUrl(c: EmuContext | undefined, key: 'after' | 'before', cursor: string): string | undefined {
  if (!c) return undefined;
  const url = new URL(c.req.url);
  for (const k of ['after', 'before', 'access_token', 'appsecret_proof', 'appsecret_time'])
    url.searchParams.delete(k);
  url.searchParams.set(key, cursor);
  return url.toString();
}

/**
 * Cursor paging over a list, shaped like Graph's (https://developers.facebook.com/docs/graph-api/results):
 * `paging.cursors.{before,after}` on every non-empty page, `paging.next` only when more items follow and
 * `paging.previous` only when items precede, so a client that stops on a missing `next` sees every item once.
 * An unknown cursor gives an empty page, as a cursor to a deleted item does on Graph.
 */
export function page<T extends { id: string }>(
  items: T[],
  params: Record<string, string> | undefined,
  render: (t: T) => Record<string, unknown>,
  c?: EmuContext,
): Record<string, unknown> {
  const limit = limitOf(params);
  let start = 0;
  let end: number | undefined;
  const decode = (v: string) => Buffer.from(v, 'base64url').toString('utf8');
  if (params?.after) {
    const i = items.findIndex((x) => x.id === decode(params.after as string));
    start = i >= 0 ? i + 1 : items.length;
  } else if (params?.before) {
    const i = items.findIndex((x) => x.id === decode(params.before as string));
    end = Math.max(i, 0);
    start = Math.max(0, end - limit);
  }
  const slice = items.slice(start, end ?? start + limit);
  const paging: Record<string, unknown> = {};
  const first = slice[0];
  const last = slice.at(-1);
  if (first && last) {
    paging.cursors = { before: cursorOf(first.id), after: cursorOf(last.id) };
    const stop = start + slice.length;
    if (start > 0) paging.previous = pageUrl(c, 'before', cursorOf(first.id));
    if (stop < items.length) paging.next = pageUrl(c, 'after', cursorOf(last.id)) ?? cursorOf(last.id);
  }
  return { data: slice.map(render), paging };
}
