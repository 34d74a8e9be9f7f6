import type { WebhookHandler, WebhookHandlerOptions } from '../webhook-handler.js';
import { toHandler } from './node.js';

/** What serverless runtimes pass to keep work alive after the response (Workers' `ctx`, Vercel, Netlify). */
export interface WaitUntilContext {
  waitUntil?(promise: Promise<unknown>): void;
}

export type FetchWebhookHandler = (request: Request, context?: WaitUntilContext) => Promise<Response>;

/**
 * A fetch-style endpoint, `Request → Response`, for Hono, Next.js route handlers, Bun, Deno and Workers. Reads the
 * body stream itself up to the cap (413 past it). Pass the platform context so handlers that run after the
 * answer are kept alive (`waitUntil`).
 *
 * @example
 * const webhook = createFetchWebhookHandler({ appSecret, verifyToken, router });
 * export const GET = webhook, POST = webhook;            // Next.js app/webhook/route.ts
 * app.all('/webhook', (c) => webhook(c.req.raw));         // Hono
 * export default { fetch: (req, env, ctx) => webhook(req, ctx) }; // Workers
 */
export function createFetchWebhookHandler(
  options: WebhookHandlerOptions | WebhookHandler,
): FetchWebhookHandler {
  const handler = toHandler(options);
  return async (request, context) => {
    const method = request.method.toUpperCase();
    const where = { method, path: safePath(request.url) };
    let body: Uint8Array | undefined;
    if (method === 'POST') {
      if (request.bodyUsed) {
        return toResponse(
          handler.reject(
            'raw_body_unavailable',
            'the request body was already read before verification (e.g. await c.req.json()); pass the untouched Request',
            where,
          ),
        );
      }
      const got = await readStream(request, handler.maxBodyBytes);
      if (got === 'too_large') {
        return toResponse(
          handler.reject('payload_too_large', `the body is larger than ${handler.maxBodyBytes} bytes`, where),
        );
      }
      if (got === 'aborted') {
        return toResponse(handler.reject('bad_json', 'the request body could not be read', where));
      }
      body = got;
    }
    const result = await handler.handle({ method, url: request.url, headers: request.headers, body });
    context?.waitUntil?.(result.done);
    return toResponse(result);
  };
}

function toResponse(result: { status: number; headers: Record<string, string>; body: string }): Response {
  return new Response(result.body, { status: result.status, headers: result.headers });
}

/** Reads a fetch `Request` body up to `cap` bytes (shared with the Flow endpoint adapters). */
export async function readStream(
  request: Request,
  cap: number,
): Promise<Uint8Array | 'too_large' | 'aborted'> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > cap) {
    await request.body?.cancel().catch(() => undefined);
    return 'too_large';
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > cap) {
        await reader.cancel().catch(() => undefined);
        return 'too_large';
      }
      chunks.push(value);
    }
  } catch {
    return 'aborted';
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

function safePath(url: string): string {
  try {
    return new URL(url, 'http://localhost').pathname;
  } catch {
    return '';
  }
}
