/**
 * Cloud API message request bodies (wire shape: Graph's snake_case), after Meta's OpenAPI spec
 * (`#/components/schemas/Message`, business-messaging-api v23.0) and the Cloud API reference, which the spec trails
 * (cta_url, location_request_message and voice/typing fields are in the reference, not the spec).
 */

export interface MessageContext {
  /** The wamid being replied to. */
  message_id: string;
}

interface BaseMessage {
  messaging_product?: 'whatsapp';
  recipient_type?: 'individual' | 'group';
  /**
   * E.164 phone number (with or without +), a WhatsApp id, or a group id when recipient_type is group. Either `to`
   * or `recipient` is required; when both are given Meta uses `to`.
   */
  to?: string;
  /** A business-scoped user id or parent BSUID (`US.13491208655302741918`): the address of a username user. */
  recipient?: string;
  context?: MessageContext;
  biz_opaque_callback_data?: string;
}

export type MediaRef = ({ id: string; link?: never } | { link: string; id?: never }) & {
  caption?: string;
  filename?: string;
};

export interface TextMessage extends BaseMessage {
  type?: 'text';
  text: { body: string; preview_url?: boolean };
}
export interface ImageMessage extends BaseMessage {
  type: 'image';
  image: MediaRef;
}
export interface AudioMessage extends BaseMessage {
  type: 'audio';
  audio: MediaRef & { voice?: boolean };
}
export interface VideoMessage extends BaseMessage {
  type: 'video';
  video: MediaRef;
}
export interface DocumentMessage extends BaseMessage {
  type: 'document';
  document: MediaRef;
}
export interface StickerMessage extends BaseMessage {
  type: 'sticker';
  sticker: MediaRef;
}
export interface LocationMessage extends BaseMessage {
  type: 'location';
  location: { latitude: number | string; longitude: number | string; name?: string; address?: string };
}
export interface ReactionMessage extends BaseMessage {
  type: 'reaction';
  /** An empty emoji removes the reaction. */
  reaction: { message_id: string; emoji: string };
}

export interface ContactCard {
  name: {
    formatted_name: string;
    first_name?: string;
    last_name?: string;
    middle_name?: string;
    suffix?: string;
    prefix?: string;
  };
  addresses?: Array<{
    street?: string;
    city?: string;
    state?: string;
    zip?: string;
    country?: string;
    country_code?: string;
    type?: string;
  }>;
  birthday?: string;
  emails?: Array<{ email?: string; type?: string }>;
  org?: { company?: string; department?: string; title?: string };
  phones?: Array<{ phone?: string; type?: string; wa_id?: string }>;
  urls?: Array<{ url?: string; type?: string }>;
}
export interface ContactsMessage extends BaseMessage {
  type: 'contacts';
  contacts: ContactCard[];
}

export type TemplateParameter =
  | { type: 'text'; text: string; parameter_name?: string }
  | { type: 'currency'; currency: { fallback_value: string; code: string; amount_1000: number } }
  | { type: 'date_time'; date_time: { fallback_value: string; [key: string]: unknown } }
  | { type: 'image'; image: MediaRef }
  | { type: 'video'; video: MediaRef }
  | { type: 'document'; document: MediaRef }
  | { type: 'location'; location: LocationMessage['location'] }
  | { type: 'payload'; payload: string }
  | { type: 'action'; action: Record<string, unknown> }
  | { type: string; [key: string]: unknown };

export interface TemplateComponent {
  type: 'header' | 'body' | 'footer' | 'button' | 'carousel' | 'limited_time_offer' | string;
  sub_type?: string;
  index?: number | string;
  parameters?: TemplateParameter[];
  cards?: unknown[];
}

export interface TemplateMessage extends BaseMessage {
  type: 'template';
  template: {
    name: string;
    language: { code: string; policy?: 'deterministic' };
    components?: TemplateComponent[];
  };
}

export interface InteractiveHeader {
  type: 'text' | 'image' | 'video' | 'document';
  text?: string;
  sub_text?: string;
  image?: MediaRef;
  video?: MediaRef;
  document?: MediaRef;
}

export interface ListSection {
  title?: string;
  rows?: Array<{ id: string; title: string; description?: string }>;
  product_items?: Array<{ product_retailer_id: string }>;
}

export interface InteractiveObject {
  type:
    | 'button'
    | 'list'
    | 'cta_url'
    | 'flow'
    | 'location_request_message'
    | 'product'
    | 'product_list'
    | 'catalog_message'
    | 'call_permission_request'
    | 'order_details'
    | 'order_status'
    | string;
  header?: InteractiveHeader;
  body?: { text: string };
  footer?: { text: string };
  action: Record<string, unknown>;
}
export interface InteractiveMessage extends BaseMessage {
  type: 'interactive';
  interactive: InteractiveObject;
}

export type OutgoingMessage =
  | TextMessage
  | ImageMessage
  | AudioMessage
  | VideoMessage
  | DocumentMessage
  | StickerMessage
  | LocationMessage
  | ReactionMessage
  | ContactsMessage
  | TemplateMessage
  | InteractiveMessage;

/** Mark an incoming message as read, optionally showing a typing indicator. */
export interface MarkReadRequest {
  messaging_product?: 'whatsapp';
  status: 'read';
  message_id: string;
  typing_indicator?: { type: 'text' };
}

/** Anything `/messages` accepts. */
export type MessagesRequest = OutgoingMessage | MarkReadRequest;

/**
 * One `contacts[]` entry of a send's response: `input` is the `to` or `recipient` as sent; `wa_id` comes back only
 * for a send to a phone number, `user_id` for a send to a BSUID (Meta's business-scoped user ids guide).
 */
export interface SendContact {
  input: string;
  wa_id?: string;
  user_id?: string;
}

/** `POST /{phone-number-id}/messages` response. */
export interface SendMessageResponse {
  messaging_product: 'whatsapp';
  contacts?: SendContact[];
  messages?: Array<{
    id: string;
    message_status?: 'accepted' | 'held_for_quality_assessment' | 'paused' | string;
  }>;
  success?: boolean;
}
