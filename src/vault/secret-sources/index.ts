export {
  type AwsSecretsManagerClientLike,
  type AwsSecretsManagerSourceOptions,
  createAwsSecretsManagerSource,
  loadAwsSecretsManagerSdk,
} from './aws-secrets-manager-source.js';
export { type CachedSecretSource, type CachedSourceOptions, createCachedSource } from './cached-source.js';
export {
  loadResolvedConfig,
  type ResolveConfigEnvOptions,
  type ResolvedConfigEnv,
  resolveConfigEnv,
  SECRET_SETTINGS,
  type SecretSetting,
} from './config-references.js';
export { createDotenvSource, type DotenvSourceOptions } from './dotenv-source.js';
export { createEnvSource, type EnvSourceOptions } from './env-source.js';
export { createFileSource, type FileSourceOptions } from './file-source.js';
export { createPollingWatch, type PollingWatchOptions, type WatchOptions } from './file-watch.js';
export {
  createGcpMetadataTokenProvider,
  createGcpSecretManagerSource,
  type GcpMetadataTokenProviderOptions,
  type GcpSecretManagerSourceOptions,
} from './gcp-secret-manager-source.js';
export {
  isSecretReference,
  parseSecretReference,
  type ResolvedSetting,
  resolveSecretReference,
  resolveSecretSetting,
  type SecretReference,
  type SecretSourceFromUrlOptions,
  secretSourceFromUrl,
} from './secret-reference.js';
export {
  redactText,
  SecretConflictError,
  SecretSourceError,
  type SecretSourceFailure,
} from './secret-source-error.js';
export type { PutSecretOptions, PutSecretResult, SecretChangeListener, SecretSource } from './types.js';
export { createVaultKvSource, type VaultKvSourceOptions } from './vault-kv-source.js';
export { type WithPollingWatchOptions, withPollingWatch } from './with-polling-watch.js';
