import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RawBody } from '../verify-signature.js';
import {
  createWebhookHandler,
  type WebhookHandler,
  type WebhookHandlerOptions,
  type WebhookResponse,
} from '../webhook-handler.js';

/** A `node:http` request listener that is also Connect/Express middleware (it calls `next` for other paths). */
export type NodeWebhookListener = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

/** What body parsers may have left on the request. */
interface ParsedRequest extends IncomingMessage {
  originalUrl?: string;
  rawBody?: unknown;
  body?: unknown;
  /** body-parser (express.json, express.raw, …) sets this once it consumed the stream. */
  _body?: unknown;
}

/** Explains the one case we cannot handle: the raw bytes were consumed by a parser and not kept. */
export const RAW_BODY_UNAVAILABLE_MESSAGE =
  'the body was parsed before verification (e.g. express.json() ran first) and its raw bytes are gone, so the ' +
  'signature cannot be checked; mount the webhook before express.json(), or keep the bytes with ' +
  'express.json({ verify: (req, _res, buf) => { req.rawBody = buf } })';

export function toHandler(options: WebhookHandlerOptions | WebhookHandler): WebhookHandler {
  return typeof (options as WebhookHandler).handle === 'function'
    ? (options as WebhookHandler)
    : createWebhookHandler(options as WebhookHandlerOptions);
}

/**
 * Serves the webhook on `node:http` (or as Connect/Express middleware). Reads the raw body itself, counting bytes
 * as they stream in and answering 413 as soon as the cap is passed (a `Content-Length` over the cap is refused
 * before reading). Behind Express it also works when a body parser ran first, provided the raw bytes were kept
 * (`req.rawBody`, or `express.raw()`); otherwise it answers 500 saying exactly that.
 *
 * @example
 * createServer(createNodeWebhookHandler({ appSecret, verifyToken, router })).listen(3000);
 */
export function createNodeWebhookHandler(
  options: WebhookHandlerOptions | WebhookHandler,
): NodeWebhookListener {
  const handler = toHandler(options);
  return (req, res, next) => {
    serve(handler, req as ParsedRequest, res, next).catch((error: unknown) => {
      // serve() answers every case itself; this only guards against a broken socket mid-write.
      if (!res.headersSent) writeResponse(res, handler.reject('not_acknowledged', 'internal error'));
      else res.destroy(error instanceof Error ? error : undefined);
    });
  };
}

async function serve(
  handler: WebhookHandler,
  req: ParsedRequest,
  res: ServerResponse,
  next: ((error?: unknown) => void) | undefined,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const url = req.originalUrl ?? req.url ?? '/';
  const where = { method, path: pathOf(url) };
  if (next && handler.path !== undefined && trimSlash(where.path) !== handler.path) {
    next();
    return;
  }
  let body: RawBody | undefined;
  if (method === 'POST') {
    const got = await obtainBody(req, handler.maxBodyBytes);
    if (got.kind === 'aborted') {
      res.destroy();
      return;
    }
    if (got.kind === 'too_large') {
      writeResponse(
        res,
        handler.reject('payload_too_large', `the body is larger than ${handler.maxBodyBytes} bytes`, where),
      );
      // Stop reading: close the connection once the 413 is out rather than draining an unbounded body.
      res.once('finish', () => req.destroy());
      return;
    }
    if (got.kind === 'unavailable') {
      writeResponse(res, handler.reject('raw_body_unavailable', RAW_BODY_UNAVAILABLE_MESSAGE, where));
      return;
    }
    body = got.body;
  } else if (!req.readableEnded && req._body !== true) {
    // Nothing to read for GET and friends; discard whatever was sent so keep-alive stays usable.
    req.resume();
  }
  const result = await handler.handle({ method, url, headers: req.headers, body });
  writeResponse(res, result);
}

type BodyResult =
  | { kind: 'ok'; body: RawBody }
  | { kind: 'too_large' }
  | { kind: 'unavailable' }
  | { kind: 'aborted' };

function obtainBody(req: ParsedRequest, cap: number): Promise<BodyResult> | BodyResult {
  if (req.rawBody instanceof Uint8Array || typeof req.rawBody === 'string')
    return { kind: 'ok', body: req.rawBody };
  if (req.body instanceof Uint8Array) return { kind: 'ok', body: req.body };
  if (typeof req.body === 'string' && req._body === true) return { kind: 'ok', body: req.body };
  if (req._body === true || req.readableEnded || req.readableDidRead) return { kind: 'unavailable' };
  return readBody(req, cap);
}

/** Reads the request stream up to `cap` bytes. */
export function readBody(req: IncomingMessage, cap: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > cap) return Promise.resolve({ kind: 'too_large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > cap) {
        chunks.length = 0;
        req.pause();
        finish({ kind: 'too_large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish({ kind: 'ok', body: Buffer.concat(chunks, total) });
    const onAbort = (): void => finish({ kind: 'aborted' });
    const onClose = (): void => {
      if (!req.complete) finish({ kind: 'aborted' });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  });
}

export function writeResponse(res: ServerResponse, result: WebhookResponse): void {
  if (res.headersSent || res.writableEnded) return;
  const body = Buffer.from(result.body, 'utf8');
  res.writeHead(result.status, { ...result.headers, 'content-length': String(body.length) });
  res.end(body);
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  const p = q === -1 ? url : url.slice(0, q);
  return p.startsWith('/')
    ? p
    : (() => {
        try {
          return new URL(p).pathname;
        } catch {
          return p;
        }
      })();
}

function trimSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') : p;
}
