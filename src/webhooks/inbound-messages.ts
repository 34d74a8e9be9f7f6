import type { WebhookErrorDetail, WireObject } from './events.js';

/** The content of an inbound message (`value.messages[]`), one interface per type. */

export interface MessageContext {
  /** The business number the replied-to message came from. */
  from: string | undefined;
  /** The id of the message this one replies to (or of the message holding the tapped button). */
  id: string | undefined;
  forwarded: boolean;
  frequentlyForwarded: boolean;
  referredProduct: { catalogId: string | undefined; productRetailerId: string | undefined } | undefined;
}

/** Click-to-WhatsApp ad or post the user came from (`referral`). */
export interface AdReferral {
  sourceUrl: string | undefined;
  sourceId: string | undefined;
  sourceType: string | undefined;
  headline: string | undefined;
  body: string | undefined;
  mediaType: string | undefined;
  imageUrl: string | undefined;
  videoUrl: string | undefined;
  thumbnailUrl: string | undefined;
  ctwaClid: string | undefined;
  welcomeMessageText: string | undefined;
}

export interface MessageBase {
  /** The `wamid.…` id. Empty string only when Meta sent none. */
  id: string;
  /** The sender's phone number digits; undefined when Meta withholds it (a username user): see `fromUserId`. */
  from: string | undefined;
  /** The sender's business-scoped user id (`from_user_id`). */
  fromUserId: string | undefined;
  /** The sender's parent BSUID (`from_parent_user_id`). */
  fromParentUserId: string | undefined;
  timestampSec: number | undefined;
  context: MessageContext | undefined;
  referral: AdReferral | undefined;
  /** Message-level errors (set on `unsupported` messages and some others). */
  errors: WebhookErrorDetail[];
  /** Set when the message was sent in a group. */
  groupId: string | undefined;
  raw: WireObject;
}

export interface MediaPayload {
  id: string | undefined;
  mimeType: string | undefined;
  sha256: string | undefined;
  caption: string | undefined;
  /** Documents only. */
  filename: string | undefined;
  /** Audio only: a voice note. */
  voice: boolean | undefined;
  /** Stickers only. */
  animated: boolean | undefined;
  /** Some deliveries carry a download URL. */
  url: string | undefined;
}

export interface TextMessage extends MessageBase {
  type: 'text';
  text: { body: string };
}
export interface MediaMessage extends MessageBase {
  type: 'image' | 'video' | 'audio' | 'document' | 'sticker';
  media: MediaPayload;
}
export interface LocationMessage extends MessageBase {
  type: 'location';
  location: {
    latitude: number | undefined;
    longitude: number | undefined;
    name: string | undefined;
    address: string | undefined;
    url: string | undefined;
  };
}
export interface SharedContact {
  name: {
    formattedName: string | undefined;
    firstName: string | undefined;
    lastName: string | undefined;
    middleName: string | undefined;
    prefix: string | undefined;
    suffix: string | undefined;
  };
  phones: { phone: string | undefined; waId: string | undefined; type: string | undefined }[];
  emails: { email: string | undefined; type: string | undefined }[];
  urls: { url: string | undefined; type: string | undefined }[];
  addresses: WireObject[];
  org: { company: string | undefined; department: string | undefined; title: string | undefined } | undefined;
  birthday: string | undefined;
  /** The card as a vCard, when Meta includes one (a contact shared in answer to REQUEST_CONTACT_INFO). */
  vcard: string | undefined;
  raw: WireObject;
}
export interface ContactsMessage extends MessageBase {
  type: 'contacts';
  contacts: SharedContact[];
  /** `origin`: `contact_request` when the user shared their own number after a REQUEST_CONTACT_INFO button. */
  origin: string | undefined;
}
export type InteractiveReply =
  | { kind: 'button_reply'; id: string | undefined; title: string | undefined }
  | { kind: 'list_reply'; id: string | undefined; title: string | undefined; description: string | undefined }
  | {
      /** A Flow's completion (`nfm_reply`); `response` is `response_json` parsed, or undefined if it was not JSON. */
      kind: 'nfm_reply';
      name: string | undefined;
      body: string | undefined;
      responseJson: string | undefined;
      response: unknown;
    }
  | {
      kind: 'call_permission_reply';
      response: string | undefined;
      isPermanent: boolean | undefined;
      expirationTimestampSec: number | undefined;
      responseSource: string | undefined;
    }
  | { kind: 'other'; interactiveType: string; raw: WireObject };
export interface InteractiveMessage extends MessageBase {
  type: 'interactive';
  interactive: InteractiveReply;
}
/** A quick-reply button of a template. */
export interface ButtonMessage extends MessageBase {
  type: 'button';
  button: { text: string | undefined; payload: string | undefined };
}
export interface OrderMessage extends MessageBase {
  type: 'order';
  order: {
    catalogId: string | undefined;
    text: string | undefined;
    productItems: {
      productRetailerId: string | undefined;
      quantity: number | undefined;
      itemPrice: number | undefined;
      currency: string | undefined;
    }[];
  };
}
export interface ReactionMessage extends MessageBase {
  type: 'reaction';
  /** `emoji` is undefined when the user removed a reaction. */
  reaction: { messageId: string | undefined; emoji: string | undefined };
}
export interface SystemMessage extends MessageBase {
  type: 'system';
  system: {
    /** `user_changed_number`, `customer_identity_changed`, … */
    kind: string | undefined;
    body: string | undefined;
    /** The user's new WhatsApp id after a number change. */
    newWaId: string | undefined;
    customer: string | undefined;
  };
  /** `identity` block of a `customer_identity_changed` notice. */
  identity:
    | { acknowledged: boolean | undefined; createdTimestampSec: number | undefined; hash: string | undefined }
    | undefined;
}
/** The user opened a chat for the first time (`request_welcome`). */
export interface RequestWelcomeMessage extends MessageBase {
  type: 'request_welcome';
}
/** The user edited an earlier message (WhatsApp Business app users). `message` is the new content. */
export interface EditMessage extends MessageBase {
  type: 'edit';
  edit: { originalMessageId: string | undefined; message: InboundMessage | undefined };
}
/** The user deleted (revoked) an earlier message. */
export interface RevokeMessage extends MessageBase {
  type: 'revoke';
  revoke: { originalMessageId: string | undefined };
}
/**
 * A message type Meta could not deliver (`unsupported`, `unknown`) or one this version does not know yet;
 * `originalType` is the type as sent.
 */
export interface UnsupportedMessage extends MessageBase {
  type: 'unsupported';
  originalType: string;
  /** `unsupported.type`: what the user actually sent (`edit`, `poll`, …), when Meta says. */
  unsupportedType: string | undefined;
}

export type InboundMessage =
  | TextMessage
  | MediaMessage
  | LocationMessage
  | ContactsMessage
  | InteractiveMessage
  | ButtonMessage
  | OrderMessage
  | ReactionMessage
  | SystemMessage
  | RequestWelcomeMessage
  | EditMessage
  | RevokeMessage
  | UnsupportedMessage;

export type InboundMessageType = InboundMessage['type'];
