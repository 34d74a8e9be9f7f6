import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import type { GraphUsage } from '../graph/usage.js';

/** A Graph list response. */
export interface Paged<T> {
  data: T[];
  paging?: { cursors?: { before?: string; after?: string }; next?: string; previous?: string };
}

/** One page with the usage headers (`X-App-Usage`, `X-Business-Use-Case-Usage`) of its response. */
export interface Page<T> extends Paged<T> {
  usage: GraphUsage;
}

/** What every list call takes: Meta's page size and field selection, and a cursor to start after. */
export interface ListOptions {
  /** Page size (Graph's `limit`); the iterator keeps fetching pages until Meta stops sending `paging.next`. */
  limit?: number;
  /** Graph's `fields=` (comma-separated). */
  fields?: string;
  /** Start after this cursor (`paging.cursors.after` of an earlier page). */
  after?: string;
}

type Query = Record<string, string | number | boolean | undefined>;

/**
 * A list endpoint as an async iterator over Meta's cursors: `for await (const t of wa.templates.list())` walks every
 * page; `.page()` reads one page (with its usage headers), `.pages()` iterates pages, `.all(max)` collects.
 * Meta marks the last page by leaving out `paging.next` (https://developers.facebook.com/docs/graph-api/results).
 */
export class PageIterator<T> implements AsyncIterable<T> {
  constructor(
    private readonly graph: GraphClient,
    private readonly path: () => string,
    private readonly query: Query,
    private readonly items: (body: unknown) => T[] = (body) => {
      const data = (body as Paged<T> | undefined)?.data;
      return Array.isArray(data) ? data : [];
    },
  ) {}

  /** One page: the first, or the one after `after`. Bad options reject here, before any request. */
  async page(after?: string): Promise<Page<T>> {
    const limit = this.query.limit;
    if (limit !== undefined && (!Number.isInteger(limit) || (limit as number) < 1)) {
      throw new ValidationError('must be a positive integer', 'limit');
    }
    const query = after === undefined ? this.query : { ...this.query, after };
    const res = await this.graph.request<Paged<T>>({ method: 'GET', path: this.path(), query });
    return { data: this.items(res.data), paging: res.data?.paging, usage: res.usage };
  }

  /** Every page, following `paging.cursors.after` while Meta says there is a `next` one. */
  async *pages(): AsyncGenerator<Page<T>> {
    let after = this.query.after as string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const p = await this.page(after);
      yield p;
      const next = p.paging?.cursors?.after;
      // A repeated cursor would loop forever: stop rather than trust a misbehaving server.
      if (!p.paging?.next || !next || seen.has(next) || p.data.length === 0) return;
      seen.add(next);
      after = next;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for await (const p of this.pages()) yield* p.data;
  }

  /** Collects up to `max` items (default: all). */
  async all(max = Number.POSITIVE_INFINITY): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this) {
      if (out.length >= max) break;
      out.push(item);
    }
    return out;
  }
}

/**
 * A {@link PageIterator} over `path` with the list options and any endpoint filters. `path` may be a function so
 * that a missing id (no WABA configured) rejects when the list is read, like every other call. `items` reads the
 * page's items where an endpoint doesn't put them in `data` (groups: `data.groups`).
 */
export function paginate<T>(
  graph: GraphClient,
  path: string | (() => string),
  options: ListOptions & object = {},
  items?: (body: unknown) => T[],
): PageIterator<T> {
  return new PageIterator<T>(
    graph,
    typeof path === 'string' ? () => path : path,
    { ...(options as Query) },
    items,
  );
}
