import type {
  AdReferral,
  InboundMessage,
  InteractiveReply,
  MediaPayload,
  MessageBase,
  MessageContext,
  SharedContact,
  WireObject,
} from './events.js';
import { bool, errorList, num, obj, objects, str, tryJson } from './wire.js';

/** Parses one message object (also the nested new content of an `edit`, which has no id or sender of its own). */
export function parseMessage(m: WireObject, outer?: MessageBase): InboundMessage {
  const type = str(m.type) ?? '';
  // One object with a stable shape, completed per type below (cheaper than spreading a base into each variant).
  const message = {
    type,
    id: str(m.id) ?? outer?.id ?? '',
    from: str(m.from) ?? outer?.from,
    fromUserId: str(m.from_user_id) ?? outer?.fromUserId,
    fromParentUserId: str(m.from_parent_user_id) ?? outer?.fromParentUserId,
    timestampSec: num(m.timestamp) ?? outer?.timestampSec,
    context: m.context === undefined ? undefined : parseContext(m.context),
    referral: m.referral === undefined ? undefined : parseReferral(m.referral),
    errors: errorList(m.errors),
    groupId: str(m.group_id),
    raw: m,
  } as MessageBase & { type: string } & Record<string, unknown>;
  switch (type) {
    case 'text': {
      const text = obj(m.text);
      message.text = { body: str(text?.body) ?? '' };
      break;
    }
    case 'image':
    case 'video':
    case 'audio':
    case 'document':
    case 'sticker':
      message.media = parseMedia(obj(m[type]));
      break;
    case 'location': {
      const l = obj(m.location);
      message.location = {
        latitude: num(l?.latitude),
        longitude: num(l?.longitude),
        name: str(l?.name),
        address: str(l?.address),
        url: str(l?.url),
      };
      break;
    }
    case 'contacts':
      message.contacts = objects(m.contacts).map(parseSharedContact);
      message.origin = str(m.origin);
      break;
    case 'interactive':
      message.interactive = parseInteractive(obj(m.interactive));
      break;
    case 'button': {
      const b = obj(m.button);
      message.button = { text: str(b?.text), payload: str(b?.payload) };
      break;
    }
    case 'order': {
      const o = obj(m.order);
      message.order = {
        catalogId: str(o?.catalog_id),
        text: str(o?.text),
        productItems: objects(o?.product_items).map((p) => ({
          productRetailerId: str(p.product_retailer_id),
          quantity: num(p.quantity),
          itemPrice: num(p.item_price),
          currency: str(p.currency),
        })),
      };
      break;
    }
    case 'reaction': {
      const r = obj(m.reaction);
      const emoji = str(r?.emoji);
      message.reaction = { messageId: str(r?.message_id), emoji: emoji === '' ? undefined : emoji };
      break;
    }
    case 'system': {
      const sys = obj(m.system);
      const identity = obj(m.identity);
      message.system = {
        kind: str(sys?.type),
        body: str(sys?.body),
        newWaId: str(sys?.wa_id) ?? str(sys?.new_wa_id),
        customer: str(sys?.customer),
      };
      message.identity = identity
        ? {
            acknowledged: bool(identity.acknowledged),
            createdTimestampSec: num(identity.created_timestamp),
            hash: str(identity.hash),
          }
        : undefined;
      break;
    }
    case 'request_welcome':
      break;
    case 'edit': {
      const e = obj(m.edit);
      const inner = obj(e?.message);
      message.edit = {
        originalMessageId: str(e?.original_message_id),
        // The new content has no id of its own: it is reported under the edit's id.
        message: inner ? parseMessage(inner, message) : undefined,
      };
      break;
    }
    case 'revoke': {
      const r = obj(m.revoke);
      message.revoke = { originalMessageId: str(r?.original_message_id) };
      break;
    }
    default:
      message.type = 'unsupported';
      message.originalType = type;
      message.unsupportedType = str(obj(m.unsupported)?.type);
  }
  return message as unknown as InboundMessage;
}

function parseMedia(media: WireObject | undefined): MediaPayload {
  return {
    id: str(media?.id),
    mimeType: str(media?.mime_type),
    sha256: str(media?.sha256),
    caption: str(media?.caption),
    filename: str(media?.filename),
    voice: bool(media?.voice),
    animated: bool(media?.animated),
    url: str(media?.url),
  };
}

function parseInteractive(i: WireObject | undefined): InteractiveReply {
  const kind = str(i?.type) ?? '';
  if (kind === 'button_reply') {
    const b = obj(i?.button_reply);
    return { kind, id: str(b?.id), title: str(b?.title) };
  }
  if (kind === 'list_reply') {
    const l = obj(i?.list_reply);
    return { kind, id: str(l?.id), title: str(l?.title), description: str(l?.description) };
  }
  if (kind === 'nfm_reply') {
    const n = obj(i?.nfm_reply);
    const responseJson = str(n?.response_json);
    return { kind, name: str(n?.name), body: str(n?.body), responseJson, response: tryJson(responseJson) };
  }
  if (kind === 'call_permission_reply') {
    const c = obj(i?.call_permission_reply);
    return {
      kind,
      response: str(c?.response),
      isPermanent: bool(c?.is_permanent),
      expirationTimestampSec: num(c?.expiration_timestamp),
      responseSource: str(c?.response_source),
    };
  }
  return { kind: 'other', interactiveType: kind, raw: i ?? {} };
}

function parseContext(v: unknown): MessageContext | undefined {
  const c = obj(v);
  if (!c) return undefined;
  const product = obj(c.referred_product);
  return {
    from: str(c.from),
    id: str(c.id),
    forwarded: c.forwarded === true,
    frequentlyForwarded: c.frequently_forwarded === true,
    referredProduct: product
      ? { catalogId: str(product.catalog_id), productRetailerId: str(product.product_retailer_id) }
      : undefined,
  };
}

function parseReferral(v: unknown): AdReferral | undefined {
  const r = obj(v);
  if (!r) return undefined;
  const welcome = obj(r.welcome_message);
  return {
    sourceUrl: str(r.source_url),
    sourceId: str(r.source_id),
    sourceType: str(r.source_type),
    headline: str(r.headline),
    body: str(r.body),
    mediaType: str(r.media_type),
    imageUrl: str(r.image_url),
    videoUrl: str(r.video_url),
    thumbnailUrl: str(r.thumbnail_url),
    ctwaClid: str(r.ctwa_clid),
    welcomeMessageText: str(welcome?.text),
  };
}

function parseSharedContact(c: WireObject): SharedContact {
  const name = obj(c.name);
  const org = obj(c.org);
  return {
    name: {
      formattedName: str(name?.formatted_name),
      firstName: str(name?.first_name),
      lastName: str(name?.last_name),
      middleName: str(name?.middle_name),
      prefix: str(name?.prefix),
      suffix: str(name?.suffix),
    },
    phones: objects(c.phones).map((p) => ({ phone: str(p.phone), waId: str(p.wa_id), type: str(p.type) })),
    emails: objects(c.emails).map((e) => ({ email: str(e.email), type: str(e.type) })),
    urls: objects(c.urls).map((u) => ({ url: str(u.url), type: str(u.type) })),
    addresses: objects(c.addresses),
    org: org
      ? { company: str(org.company), department: str(org.department), title: str(org.title) }
      : undefined,
    birthday: str(c.birthday),
    vcard: str(c.vcard),
    raw: c,
  };
}
