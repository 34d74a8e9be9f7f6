import { toTransportError } from './transport-error.js';
import type { Transport, TransportRequest, TransportResponse } from './types.js';

/** A fetch-compatible function: the global `fetch`, or an in-process app such as the emulator's `fetch`. */
export type FetchLike = (input: Request | string | URL, init?: RequestInit) => Promise<Response>;

/**
 * A transport over any `fetch`: for runtimes without undici (Bun, Deno, Workers) and for running the SDK against
 * the emulator in-process, with no socket at all.
 */
export function createFetchTransport(fetchImpl: FetchLike = globalThis.fetch): Transport {
  return {
    async request(req: TransportRequest): Promise<TransportResponse> {
      const timeoutSignal = req.timeoutMs ? AbortSignal.timeout(req.timeoutMs) : undefined;
      const signal =
        timeoutSignal && req.signal
          ? AbortSignal.any([timeoutSignal, req.signal])
          : (timeoutSignal ?? req.signal);
      let res: Response;
      try {
        res = await fetchImpl(req.url, {
          method: req.method,
          headers: req.headers,
          body: req.body as BodyInit | undefined,
          signal,
        });
      } catch (err) {
        throw toTransportError(err, req.url, timeoutSignal?.aborted === true);
      }
      const headers: Record<string, string> = {};
      res.headers.forEach((value, key) => {
        headers[key] = value;
      });
      const read = async <T>(fn: () => Promise<T>): Promise<T> => {
        try {
          return await fn();
        } catch (err) {
          throw toTransportError(err, req.url, timeoutSignal?.aborted === true);
        }
      };
      return {
        status: res.status,
        headers,
        text: () => read(() => res.text()),
        bytes: () => read(async () => new Uint8Array(await res.arrayBuffer())),
        discard: () => read(async () => void (await res.body?.cancel())),
      };
    },
    async close() {},
  };
}
