/**
 * `wacloud/flows`: WhatsApp Flows. Endpoint encryption exactly as Meta specifies it, a Flow endpoint with adapters
 * for node:http, fetch, Express and Fastify, the Flows management API (`wa.flows`), and offline Flow JSON checks.
 *
 * @see ../../docs/flows.md
 */
export {
  createExpressFlowMiddleware,
  createFetchFlowHandler,
  createNodeFlowHandler,
  type FastifyFlowOptions,
  fastifyFlowEndpoint,
  type NodeFlowListener,
} from './adapters.js';
export {
  type DecryptedFlowRequest,
  decryptFlowRequest,
  decryptFlowResponse,
  type EncryptedFlowRequest,
  encryptFlowRequest,
  encryptFlowResponse,
  FlowCryptoError,
  type FlowPrivateKeyInput,
  flipInitialVector,
  generateFlowKeyPair,
  loadFlowPrivateKey,
  publicKeyOf,
} from './crypto.js';
export {
  answerFlowRequest,
  createFlowEndpoint,
  DEFAULT_FLOW_TIMEOUT_MS,
  FLOW_REJECTION_STATUS,
  type FlowEndpoint,
  type FlowEndpointOptions,
  type FlowEndpointRequest,
  type FlowEndpointResponse,
  type FlowHandlerContext,
  type FlowHandlers,
  type FlowRejection,
} from './endpoint.js';
export {
  checkScreenData,
  DATA_API_VERSIONS,
  type DataDeclaration,
  DEFAULT_FLOW_JSON_VERSIONS,
  type FlowJson,
  type FlowJsonCheck,
  type FlowJsonScreen,
  matchesDeclaration,
  validateFlowJson,
} from './flow-json.js';
export {
  DEFAULT_FLOW_KEY_GRACE_MS,
  FlowKeyCustody,
  type FlowKeyStorePort,
  type FlowKeyView,
} from './key-custody.js';
export * from './management-api.js';
export * from './types.js';
