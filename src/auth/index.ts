/**
 * wacloud/auth: Facebook Login / Login for Business / Embedded Signup, token exchange and inspection, system-user
 * tokens, and the token lifecycle manager. See docs/tokens.md.
 */
export {
  AuthClient,
  type AuthClientOptions,
  type CreateSystemUserTokenOptions,
  createAuthClient,
  type ExchangeCodeOptions,
  type TokenResponse,
} from './auth-client.js';
export {
  ClientRegistry,
  type ClientRegistryOptions,
  createClientRegistry,
  type TenantRegistration,
} from './client-registry.js';
export {
  type CredentialKind,
  CredentialNotFoundError,
  type CredentialPatch,
  type CredentialRecord,
  type CredentialStatus,
  type CredentialStore,
  type CredentialSummary,
  MemoryCredentialStore,
  type NewCredential,
} from './credential-store.js';
export {
  completeEmbeddedSignup,
  type EmbeddedSignupOptions,
  type EmbeddedSignupResult,
  type EmbeddedSignupStep,
  type EmbeddedSignupWaba,
  listWabaPhoneNumbers,
  registerPhoneNumber,
  sharedWabaIds,
  subscribeAppToWaba,
  type WabaPhoneNumber,
} from './embedded-signup.js';
export { setEnvFileVariable } from './env-file.js';
export {
  buildLoginDialogUrl,
  checkRedirectUri,
  type LoginCallbackParams,
  type LoginDialogOptions,
  parseLoginCallback,
} from './login-dialog.js';
export {
  assertUsable,
  type CompleteLoginOptions,
  createLoginFlow,
  LoginFlow,
  type LoginFlowOptions,
  type LoginResult,
  type StartedLogin,
  type StartLoginOptions,
} from './login-flow.js';
export {
  AppCredentialsError,
  AuthorizationCodeError,
  OAuthCallbackError,
  OAuthDeniedError,
  OAuthError,
  type OAuthErrorReason,
  type OAuthOperation,
  OAuthStateError,
  OAuthUnavailableError,
  TokenExchangeError,
  toOAuthError,
} from './oauth-errors.js';
export {
  type ConsumeStateResult,
  MemoryOAuthStateStore,
  type OAuthStateRecord,
  type OAuthStateStore,
} from './oauth-state-store.js';
export { createOAuthState, createPkcePair, hashOAuthState, type PkcePair, pkceChallenge } from './pkce.js';
export type {
  TokenEvent,
  TokenEventBase,
  TokenEventListener,
  TokenEventOf,
  TokenEventTrigger,
  TokenEventType,
} from './token-events.js';
export {
  allTargetIds,
  credentialKindOf,
  type DebugTokenData,
  describeTokenSubcode,
  type GranularScope,
  INVALIDATING_SUBCODES,
  type InspectedTokenKind,
  parseDebugToken,
  type TokenInspection,
  type TokenInspectionError,
  targetIdsFor,
} from './token-inspection.js';
export {
  type AddCredentialInput,
  CredentialUnavailableError,
  createTokenManager,
  DEFAULT_TOKEN_POLICIES,
  NEVER_MS,
  TokenManager,
  type TokenManagerOptions,
  type TokenPolicies,
  type VersionedToken,
} from './token-manager.js';
export { formatTokenSummary, maskToken, tokenSummaryJson } from './token-summary.js';
