import {
  DEFAULT_MAX_BODY_BYTES,
  type WebhookHandler,
  type WebhookHandlerOptions,
} from '../webhook-handler.js';
import { toHandler } from './node.js';

/** The parts of a Fastify request we use (structural, so Fastify stays an optional peer). */
export interface FastifyRequestLike {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
}

export interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload?: unknown): unknown;
}

/** The parts of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  removeAllContentTypeParsers(): void;
  addContentTypeParser(
    contentType: string,
    options: { parseAs: 'buffer'; bodyLimit: number },
    parser: (request: never, body: Buffer, done: (error: Error | null, body?: unknown) => void) => void,
  ): void;
  setErrorHandler(
    handler: (
      error: { statusCode?: number; code?: string },
      request: FastifyRequestLike,
      reply: FastifyReplyLike,
    ) => unknown,
  ): void;
  route(options: {
    method: string[];
    url: string;
    handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>;
  }): void;
}

export interface FastifyWebhookOptions extends WebhookHandlerOptions {
  /** Route path; default `/webhook`. */
  path?: string;
  /** An existing core handler to serve instead of building one from the options. */
  handler?: WebhookHandler;
}

/**
 * A Fastify plugin serving the webhook at `path`. Inside its own encapsulated context it replaces Fastify's JSON
 * parser with one that keeps the raw `Buffer` (capped by `bodyLimit`, so an oversize body is a 413), so the
 * signature is checked on the exact bytes; the rest of the app keeps its parsers.
 *
 * @example
 * await app.register(fastifyWebhook, { path: '/webhook', appSecret, verifyToken, router });
 */
export function fastifyWebhook(
  instance: FastifyInstanceLike,
  options: FastifyWebhookOptions,
  done: (error?: Error) => void,
): void {
  try {
    const { handler: given, path = '/webhook', ...rest } = options;
    const handler = given ?? toHandler({ ...rest, path: undefined });
    const limit = handler.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limit }, (_req, body, parsed) =>
      parsed(null, body),
    );
    instance.setErrorHandler((error, request, reply) => {
      const where = { method: request.method, path: request.url.split('?')[0] ?? '' };
      const result =
        error.statusCode === 413
          ? handler.reject('payload_too_large', `the body is larger than ${limit} bytes`, where)
          : error.statusCode === 415
            ? handler.reject('unsupported_media_type', 'deliveries must be sent as application/json', where)
            : handler.reject('bad_json', 'the request body could not be read', where);
      return reply.code(result.status).headers(result.headers).send(result.body);
    });
    instance.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      url: path,
      async handler(request, reply) {
        const body = request.body instanceof Uint8Array ? request.body : undefined;
        const result = await handler.handle({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body,
        });
        return reply.code(result.status).headers(result.headers).send(result.body);
      },
    });
    done();
  } catch (error) {
    done(error instanceof Error ? error : new Error(String(error)));
  }
}
