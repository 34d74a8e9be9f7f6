export type { FetchLike } from './fetch-transport.js';
export { createFetchTransport } from './fetch-transport.js';
export { TransportError, toTransportError } from './transport-error.js';
export type { Transport, TransportFailure, TransportRequest, TransportResponse } from './types.js';
export { createUndiciTransport, type UndiciTransportOptions } from './undici-transport.js';
