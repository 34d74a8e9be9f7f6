export { MEDIA_MAX_BYTES, MediaApi, type MediaUrlResponse } from './media-api.js';
export type * from './message-types.js';
export { MessagesApi, type SendOptions } from './messages-api.js';
export * from './paginate.js';
export * from './template-components.js';
export * from './templates.js';
export { isPhoneNumber, LIMITS, validateMessage } from './validate-message.js';
export * from './waba-apis.js';
export { WhatsApp, type WhatsAppOptions } from './whatsapp.js';
