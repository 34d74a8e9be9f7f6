import { MockAgent } from 'undici';
import { afterEach } from 'vitest';
import { createUndiciTransport } from '../../src/transport/undici-transport.js';

/** One request as the mock saw it. */
export interface Seen {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
}

/** A scripted answer; an Error is thrown from the dispatcher, which is how undici surfaces socket failures. */
export type Reply =
  | { status?: number; body?: string | Uint8Array | object; headers?: Record<string, string> }
  | Error;

/** An Error shaped like a Node socket error (`code` set). */
export function netError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * A Graph API stand-in on undici's MockAgent for unit tests: records every request and answers from `script`
 * (in order), then from `fallback`. Network access is disabled, so a request to an unexpected origin fails loudly.
 */
export class MockGraph {
  readonly agent = new MockAgent();
  readonly seen: Seen[] = [];
  readonly script: Array<Reply | ((seen: Seen) => Reply)> = [];
  readonly transport = createUndiciTransport({ dispatcher: this.agent });

  constructor(
    origins: string[],
    public fallback: Reply = { status: 200, body: { success: true } },
  ) {
    this.agent.disableNetConnect();
    for (const origin of origins) {
      this.agent
        .get(origin)
        .intercept({ path: () => true, method: () => true })
        .reply((opts) => {
          const seen: Seen = {
            method: opts.method,
            url: new URL(`${origin}${opts.path}`),
            headers: { ...(opts.headers as Record<string, string>) },
            body: opts.body as string | Uint8Array | undefined,
          };
          this.seen.push(seen);
          const next = this.script.shift() ?? this.fallback;
          const reply = typeof next === 'function' ? next(seen) : next;
          if (reply instanceof Error) throw reply;
          const body = reply.body ?? '';
          return {
            statusCode: reply.status ?? 200,
            data: body instanceof Uint8Array ? Buffer.from(body) : body,
            responseOptions: { headers: { 'content-type': 'application/json', ...reply.headers } },
          };
        })
        .persist();
    }
  }
}

const open: MockAgent[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

/** A MockGraph closed after the current test. */
export function mockGraph(origins: string[], fallback?: Reply): MockGraph {
  const m = new MockGraph(origins, fallback);
  open.push(m.agent);
  return m;
}
