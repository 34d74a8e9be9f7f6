export { isBsuid, isParentBsuid } from './bsuid.js';
export { type Clock, ManualClock, systemClock } from './clock.js';
export {
  type ConfigOptions,
  DEFAULT_API_VERSION,
  DEFAULT_DIALOG_URL,
  DEFAULT_GRAPH_URL,
  type LoadConfigOptions,
  loadConfig,
  parseBaseUrl,
  readEnvFile,
  type WacloudConfig,
} from './config.js';
export { ConfigError, ValidationError, WacloudError, type WacloudErrorCode } from './errors.js';
export * from './graph-error.js';
export { createJsonLogger, type LogFields, type Logger, type LogLevel, silentLogger } from './logger.js';
export { reveal, Secret, scrubText } from './secret.js';
