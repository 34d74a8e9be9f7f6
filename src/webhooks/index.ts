/**
 * `wacloud/webhooks`: Meta's webhook handshake, `X-Hub-Signature-256` verification over the raw bytes, typed events
 * for every field, routing by event type and phone number, de-duplication, and adapters for node:http, fetch-style
 * runtimes, Express and Fastify.
 *
 * @see ../../docs/webhooks.md
 */
export { createExpressWebhookMiddleware } from './adapters/express.js';
export {
  type FastifyInstanceLike,
  type FastifyReplyLike,
  type FastifyRequestLike,
  type FastifyWebhookOptions,
  fastifyWebhook,
} from './adapters/fastify.js';
export {
  createFetchWebhookHandler,
  type FetchWebhookHandler,
  type WaitUntilContext,
} from './adapters/fetch.js';
export {
  createNodeWebhookHandler,
  type NodeWebhookListener,
  RAW_BODY_UNAVAILABLE_MESSAGE,
} from './adapters/node.js';
export {
  createDeduplicator,
  createMemoryDedupeStore,
  DEFAULT_DEDUPE_TTL_MS,
  type DedupeStore,
  type Deduplicator,
  type DeduplicatorOptions,
  dedupeKey,
  type MemoryDedupeStoreOptions,
} from './dedupe.js';
export { describeEvent, type EventSummary, formatEventLine } from './describe-event.js';
export { WEBHOOK_REJECTION_STATUS, WebhookError, type WebhookRejection } from './errors.js';
export * from './events.js';
export {
  constantTimeEqual,
  type HandshakeQuery,
  type HandshakeResult,
  verifyHandshake,
} from './handshake.js';
export { parseJsonBody } from './parse-json-body.js';
export { parseMessage, parseWebhook } from './parse-webhook.js';
export {
  createWebhookRouter,
  type DispatchReport,
  type EventHandler,
  type EventSelector,
  type HandlerContext,
  type HandlerFailure,
  type MessageEventOf,
  type TenantResolver,
  type WebhookRouter,
  type WebhookRouterOptions,
} from './router.js';
export {
  escapeUnicode,
  type RawBody,
  type SecretInput,
  SIGNATURE_HEADER,
  type SignatureFailure,
  type SignatureVerification,
  signPayload,
  type VerifySignatureOptions,
  verifySignature,
} from './verify-signature.js';
export {
  createWebhookHandler,
  DEFAULT_MAX_BODY_BYTES,
  type DeliveryReport,
  type HeaderBag,
  header,
  type VerifiedDelivery,
  type WebhookHandler,
  type WebhookHandlerOptions,
  type WebhookRequest,
  type WebhookResponse,
} from './webhook-handler.js';
