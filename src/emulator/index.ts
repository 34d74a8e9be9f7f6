/**
 * wacloud/emulator: a faithful local Graph API / WhatsApp Cloud API for offline development, CI and benchmarks.
 * See docs/emulator.md.
 */
export type { DialogRequest } from './context.js';
export {
  createEmulator,
  type Emulator,
  type EmulatorOptions,
  type ListenOptions,
  type StartedEmulator,
  startEmulator,
} from './emulator.js';
export { INBOUND_TYPES, type InboundMessageInput } from './events.js';
export {
  exampleTemplates,
  type MessageExample,
  messageExamples,
  specProvenance,
  type WebhookExample,
  webhookExamples,
} from './examples.js';
export type { FaultKind, FaultRule, FaultRuleInput } from './faults.js';
export type { ErrorStatusMapping, ErrorSurface } from './graph-errors.js';
export { computeAppSecretProof } from './graph-routes.js';
export type { ThroughputOptions } from './limits.js';
export { formatSeed, type SeedOptions, seedCurl } from './seed.js';
export type {
  AppRecord,
  EmulatorSeed,
  EmulatorState,
  PhoneNumberRecord,
  SentMessageRecord,
  TemplateRecord,
  TokenKind,
  TokenRecord,
} from './state.js';
export type { TokenTtlOptions } from './tokens.js';
export { validateSendBody } from './validate.js';
export { VirtualClock, type VirtualClockOptions } from './virtual-clock.js';
export {
  type DeliveryRecord,
  serializeLikeMeta,
  signatureFor,
  type WebhookEvent,
  type WebhookOptions,
} from './webhooks.js';
export { ControlError, type MintTokenInput, World } from './world.js';
