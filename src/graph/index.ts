export { type AppSecretProofMode, appSecretProof, appSecretProofParams } from './appsecret-proof.js';
export {
  createGraphClient,
  GraphClient,
  type GraphClientOptions,
  type GraphRequest,
  type GraphResponse,
  type RetryMode,
  type RetryOptions,
  type TokenProvider,
} from './graph-client.js';
export { encodeMultipart, type MultipartPart } from './multipart.js';
export {
  type AppUsage,
  type BusinessUseCaseUsage,
  type GraphUsage,
  parseUsageHeaders,
  retryAfterSeconds,
} from './usage.js';
