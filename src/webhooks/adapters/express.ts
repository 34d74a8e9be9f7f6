import type { WebhookHandler, WebhookHandlerOptions } from '../webhook-handler.js';
import { createNodeWebhookHandler, type NodeWebhookListener } from './node.js';

/**
 * Express (or Connect) middleware for the webhook. Mount it before `express.json()`, or anywhere if the raw bytes
 * are kept: with `express.json({ verify: (req, _res, buf) => { req.rawBody = buf } })` or `express.raw()` it
 * verifies `req.rawBody` / the `Buffer` body. If a parser consumed the body and kept nothing it answers 500 with a
 * message that says so. It never re-serialises `req.body` to verify: Meta's bytes (key order, `\/` escapes,
 * `\uXXXX` escapes) cannot be reproduced from the parsed object.
 *
 * @example
 * app.post('/webhook', createExpressWebhookMiddleware({ appSecret, verifyToken, router }));
 * app.get('/webhook', createExpressWebhookMiddleware({ appSecret, verifyToken, router }));
 */
export function createExpressWebhookMiddleware(
  options: WebhookHandlerOptions | WebhookHandler,
): NodeWebhookListener {
  return createNodeWebhookHandler(options);
}
