import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstanceLike } from '../webhooks/adapters/fastify.js';
import { readStream } from '../webhooks/adapters/fetch.js';
import { readBody } from '../webhooks/adapters/node.js';
import {
  createFlowEndpoint,
  type FlowEndpoint,
  type FlowEndpointOptions,
  type FlowEndpointResponse,
} from './endpoint.js';

/**
 * Framework adapters for the Flow endpoint, in the style of the webhook adapters: each reads the raw body (the
 * signature is over the exact bytes), calls the core, and writes its answer.
 */

function toEndpoint(options: FlowEndpointOptions | FlowEndpoint): FlowEndpoint {
  return typeof (options as FlowEndpoint).handle === 'function'
    ? (options as FlowEndpoint)
    : createFlowEndpoint(options as FlowEndpointOptions);
}

export type NodeFlowListener = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

function write(res: ServerResponse, result: FlowEndpointResponse): void {
  if (res.headersSent || res.writableEnded) return;
  const body = Buffer.from(result.body, 'utf8');
  res.writeHead(result.status, { ...result.headers, 'content-length': String(body.length) });
  res.end(body);
}

/**
 * `node:http` listener, also Express/Connect middleware (mount it before `express.json()`, or keep the raw bytes in
 * `req.rawBody`).
 *
 * @example
 * createServer(createNodeFlowHandler({ privateKey, appSecret, handler })).listen(3000);
 * app.post('/flow', createExpressFlowMiddleware({ privateKey, appSecret, handler }));
 */
export function createNodeFlowHandler(options: FlowEndpointOptions | FlowEndpoint): NodeFlowListener {
  const endpoint = toEndpoint(options);
  return (req, res, next) => {
    const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    if (
      next &&
      endpoint.path !== undefined &&
      path.replace(/\/+$/, '') !== endpoint.path.replace(/\/+$/, '')
    ) {
      next();
      return;
    }
    void (async () => {
      const kept = (req as { rawBody?: unknown }).rawBody;
      let body: Uint8Array | string | undefined;
      if (kept instanceof Uint8Array || typeof kept === 'string') body = kept;
      else if ((req as { body?: unknown }).body instanceof Uint8Array)
        body = (req as unknown as { body: Uint8Array }).body;
      else if (req.method === 'POST') {
        const got = await readBody(req, endpoint.maxBodyBytes);
        if (got.kind === 'too_large') {
          write(res, endpoint.reject('payload_too_large', 'body over the cap'));
          res.once('finish', () => req.destroy());
          return;
        }
        if (got.kind !== 'ok') {
          res.destroy();
          return;
        }
        body = got.body;
      } else req.resume();
      write(res, await endpoint.handle({ method: req.method ?? 'GET', url, headers: req.headers, body }));
    })().catch(() => {
      if (!res.headersSent) write(res, endpoint.reject('handler_failed', 'internal error'));
    });
  };
}

export const createExpressFlowMiddleware = createNodeFlowHandler;

/** `Request → Response` for Hono, Next.js route handlers, Bun, Deno and Workers. */
export function createFetchFlowHandler(
  options: FlowEndpointOptions | FlowEndpoint,
): (request: Request) => Promise<Response> {
  const endpoint = toEndpoint(options);
  return async (request) => {
    let body: Uint8Array | undefined;
    if (request.method.toUpperCase() === 'POST') {
      const got = await readStream(request, endpoint.maxBodyBytes);
      if (got === 'too_large') return toResponse(endpoint.reject('payload_too_large', 'body over the cap'));
      if (got === 'aborted')
        return toResponse(endpoint.reject('malformed_request', 'the body could not be read'));
      body = got;
    }
    return toResponse(
      await endpoint.handle({ method: request.method, url: request.url, headers: request.headers, body }),
    );
  };
}

function toResponse(result: FlowEndpointResponse): Response {
  return new Response(result.body, { status: result.status, headers: result.headers });
}

export interface FastifyFlowOptions extends FlowEndpointOptions {
  /** Route path; default `/flow`. */
  path?: string;
}

/**
 * A Fastify plugin serving the Flow endpoint at `path`, keeping the raw body inside its own encapsulated context.
 *
 * @example
 * await app.register(fastifyFlowEndpoint, { path: '/flow', privateKey, appSecret, handler });
 */
export function fastifyFlowEndpoint(
  instance: FastifyInstanceLike,
  options: FastifyFlowOptions,
  done: (error?: Error) => void,
): void {
  try {
    const { path = '/flow', ...rest } = options;
    const endpoint = createFlowEndpoint({ ...rest, path: undefined });
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: endpoint.maxBodyBytes },
      (_req, body, parsed) => parsed(null, body),
    );
    instance.setErrorHandler((error, _request, reply) => {
      const r =
        error.statusCode === 413
          ? endpoint.reject('payload_too_large', 'body over the cap')
          : endpoint.reject('malformed_request', 'the body could not be read');
      return reply.code(r.status).headers(r.headers).send(r.body);
    });
    instance.route({
      method: ['POST'],
      url: path,
      async handler(request, reply) {
        const body = request.body instanceof Uint8Array ? request.body : undefined;
        const r = await endpoint.handle({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body,
        });
        return reply.code(r.status).headers(r.headers).send(r.body);
      },
    });
    done();
  } catch (error) {
    done(error instanceof Error ? error : new Error(String(error)));
  }
}
