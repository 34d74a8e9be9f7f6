import type {
  AdReferral,
  ContactProfile,
  EventBase,
  EventPosition,
  GroupParticipant,
  InboundMessage,
  InteractiveReply,
  MediaPayload,
  MessageBase,
  MessageContext,
  SharedContact,
  UnknownEvent,
  WebhookErrorDetail,
  WebhookEvent,
  WireObject,
} from './events.js';

/**
 * Turns a webhook payload (already JSON-parsed) into typed events: every entry, every change, every message, status,
 * call, preference, … in order. Never throws: anything it does not recognise, including a payload that is not a
 * webhook at all, becomes an `unknown` event holding what arrived.
 *
 * @example
 * for (const event of parseWebhook(JSON.parse(rawBody))) {
 *   if (event.type === 'message' && event.message.type === 'text') console.log(event.message.text.body);
 * }
 * @see https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/overview
 */
export function parseWebhook(payload: unknown): WebhookEvent[] {
  const events: WebhookEvent[] = [];
  if (!isObject(payload)) {
    events.push(unknown(topBase(), 'the payload is not a JSON object', payload));
    return events;
  }
  const entries = payload.entry;
  if (!Array.isArray(entries)) {
    events.push(unknown(topBase(), 'the payload has no entry array', payload));
    return events;
  }
  for (let e = 0; e < entries.length; e++) {
    const entry: unknown = entries[e];
    if (!isObject(entry)) {
      events.push(unknown(topBase(e), 'an entry is not an object', entry));
      continue;
    }
    const wabaId = str(entry.id) ?? '';
    const entryTimeSec = num(entry.time);
    const changes = entry.changes;
    if (!Array.isArray(changes)) {
      events.push(unknown({ ...topBase(e), wabaId, entryTimeSec }, 'the entry has no changes array', entry));
      continue;
    }
    for (let c = 0; c < changes.length; c++) {
      const change: unknown = changes[c];
      const base: Base = {
        field: '',
        wabaId,
        phoneNumberId: undefined,
        displayPhoneNumber: undefined,
        entryTimeSec,
        position: { entry: e, change: c, item: 0 },
      };
      if (!isObject(change)) {
        events.push(unknown(base, 'a change is not an object', change));
        continue;
      }
      base.field = str(change.field) ?? '';
      const before = events.length;
      const value = change.value;
      if (isObject(value)) {
        const metadata = value.metadata;
        if (isObject(metadata)) {
          base.phoneNumberId = str(metadata.phone_number_id);
          base.displayPhoneNumber = str(metadata.display_phone_number);
        }
        // A Map, not an object lookup: a field named "valueOf" or "__proto__" must not find a prototype member.
        const parser = PARSERS.get(base.field);
        if (parser) parser(value, base, events);
        else events.push(unknown(base, `unknown webhook field "${base.field}"`, change));
      } else {
        events.push(unknown(base, 'the change has no value object', change));
      }
      if (events.length === before) {
        events.push(unknown(base, `a "${base.field}" change with nothing recognisable in it`, change));
      }
    }
  }
  return events;
}

type Base = Omit<EventBase<string>, 'type'>;
type FieldParser = (value: WireObject, base: Base, out: WebhookEvent[]) => void;

const at = (base: Base, item: number): Base => ({ ...base, position: { ...base.position, item } });

/** One parser per webhook field; fields that carry arrays emit one event per item. */
const FIELD_PARSERS: Record<string, FieldParser> = {
  messages(value, base, out) {
    const contacts = contactList(value.contacts);
    // The hot path (most deliveries are messages and statuses): literals with every field, no spreads.
    eachObject(value.messages, (m, i) => {
      const message = parseMessage(m);
      out.push({
        type: 'message',
        field: base.field,
        wabaId: base.wabaId,
        phoneNumberId: base.phoneNumberId,
        displayPhoneNumber: base.displayPhoneNumber,
        entryTimeSec: base.entryTimeSec,
        position: { entry: base.position.entry, change: base.position.change, item: i },
        message,
        contact: contactFor(contacts, message.from),
      });
    });
    eachObject(value.statuses, (s, i) => out.push(parseStatus(s, base, i)));
    pushChangeErrors(value, base, out);
  },
  smb_message_echoes: echoes,
  message_echoes: echoes,
  message_template_status_update(value, base, out) {
    const other = obj(value.other_info);
    out.push({
      type: 'template_status',
      ...base,
      ...templateRef(value),
      event: str(value.event),
      reason: str(value.reason),
      category: str(value.message_template_category),
      otherInfo: other ? { title: str(other.title), description: str(other.description) } : undefined,
      raw: value,
    });
  },
  message_template_quality_update(value, base, out) {
    out.push({
      type: 'template_quality',
      ...base,
      ...templateRef(value),
      previousQualityScore: str(value.previous_quality_score),
      newQualityScore: str(value.new_quality_score),
      raw: value,
    });
  },
  template_category_update(value, base, out) {
    out.push({
      type: 'template_category',
      ...base,
      ...templateRef(value),
      previousCategory: str(value.previous_category),
      newCategory: str(value.new_category),
      correctCategory: str(value.correct_category),
      raw: value,
    });
  },
  message_template_components_update(value, base, out) {
    out.push({
      type: 'template_components',
      ...base,
      ...templateRef(value),
      element: str(value.message_template_element),
      title: str(value.message_template_title),
      footer: str(value.message_template_footer),
      raw: value,
    });
  },
  phone_number_name_update(value, base, out) {
    out.push({
      type: 'phone_number_name',
      ...withDisplay(base, value),
      decision: str(value.decision),
      requestedVerifiedName: str(value.requested_verified_name),
      rejectionReason: str(value.rejection_reason),
      raw: value,
    });
  },
  phone_number_quality_update(value, base, out) {
    out.push({
      type: 'phone_number_quality',
      ...withDisplay(base, value),
      event: str(value.event),
      currentLimit: str(value.current_limit),
      oldLimit: str(value.old_limit),
      raw: value,
    });
  },
  account_update(value, base, out) {
    out.push({
      type: 'account_update',
      ...base,
      event: str(value.event),
      phoneNumber: str(value.phone_number),
      raw: value,
    });
  },
  account_review_update(value, base, out) {
    out.push({ type: 'account_review', ...base, decision: str(value.decision), raw: value });
  },
  account_alerts(value, base, out) {
    out.push({
      type: 'account_alert',
      ...base,
      entityType: str(value.entity_type),
      entityId: str(value.entity_id),
      severity: str(value.alert_severity),
      status: str(value.alert_status),
      alertType: str(value.alert_type),
      description: str(value.alert_description),
      raw: value,
    });
  },
  business_capability_update(value, base, out) {
    out.push({
      type: 'business_capability',
      ...base,
      maxDailyConversationPerPhone: num(value.max_daily_conversation_per_phone),
      maxPhoneNumbersPerBusiness: num(value.max_phone_numbers_per_business),
      maxPhoneNumbersPerWaba: num(value.max_phone_numbers_per_waba),
      raw: value,
    });
  },
  security(value, base, out) {
    out.push({
      type: 'security',
      ...withDisplay(base, value),
      event: str(value.event),
      requester: str(value.requester),
      raw: value,
    });
  },
  user_preferences(value, base, out) {
    const contacts = contactList(value.contacts);
    eachObject(value.user_preferences, (p, i) => {
      const waId = str(p.wa_id);
      out.push({
        type: 'user_preference',
        ...at(base, i),
        waId,
        category: str(p.category),
        value: str(p.value),
        detail: str(p.detail),
        timestampSec: num(p.timestamp),
        contact: contactFor(contacts, waId),
        raw: p,
      });
    });
  },
  calls(value, base, out) {
    const contacts = contactList(value.contacts);
    eachObject(value.calls, (call, i) => {
      const session = obj(call.session);
      const from = str(call.from);
      out.push({
        type: 'call',
        ...at(base, i),
        id: str(call.id) ?? '',
        event: str(call.event),
        from,
        to: str(call.to),
        direction: str(call.direction),
        timestampSec: num(call.timestamp),
        session: session ? { sdpType: str(session.sdp_type), sdp: str(session.sdp) } : undefined,
        status: str(call.status),
        startTimeSec: num(call.start_time),
        endTimeSec: num(call.end_time),
        durationSec: num(call.duration),
        bizOpaqueCallbackData: str(call.biz_opaque_callback_data),
        errors: errorList(call.errors),
        contact: contactFor(contacts, from),
        raw: call,
      });
    });
    eachObject(value.statuses, (s, i) => {
      out.push({
        type: 'call_status',
        ...at(base, i),
        id: str(s.id) ?? '',
        status: str(s.status),
        recipientId: str(s.recipient_id),
        timestampSec: num(s.timestamp),
        errors: errorList(s.errors),
        raw: s,
      });
    });
    pushChangeErrors(value, base, out);
  },
  flows(value, base, out) {
    out.push({
      type: 'flow',
      ...base,
      event: str(value.event),
      flowId: str(value.flow_id),
      message: str(value.message),
      oldStatus: str(value.old_status),
      newStatus: str(value.new_status),
      raw: value,
    });
  },
  group_lifecycle_update: groups,
  group_settings_update: groups,
  group_participants_update: groups,
  group_participant_update: groups,
  group_status_update: groups,
  history(value, base, out) {
    eachObject(value.history, (h, i) => {
      const meta = obj(h.metadata);
      out.push({
        type: 'history',
        ...at(base, i),
        phase: num(meta?.phase),
        chunkOrder: num(meta?.chunk_order),
        progress: num(meta?.progress),
        threads: Array.isArray(h.threads) ? h.threads.filter(isObject) : [],
        raw: h,
      });
    });
    pushChangeErrors(value, base, out);
  },
  smb_app_state_sync(value, base, out) {
    eachObject(value.state_sync, (s, i) => {
      out.push({
        type: 'app_state_sync',
        ...at(base, i),
        syncType: str(s.type),
        action: str(s.action),
        raw: s,
      });
    });
  },
};

const PARSERS: ReadonlyMap<string, FieldParser> = new Map(Object.entries(FIELD_PARSERS));

function echoes(value: WireObject, base: Base, out: WebhookEvent[]): void {
  eachObject(value.message_echoes, (m, i) => {
    out.push({ type: 'message_echo', ...at(base, i), message: parseMessage(m), to: str(m.to) });
  });
  pushChangeErrors(value, base, out);
}

function groups(value: WireObject, base: Base, out: WebhookEvent[]): void {
  eachObject(value.groups, (g, i) => {
    out.push({
      type: 'group',
      ...at(base, i),
      groupId: str(g.group_id),
      groupEventType: str(g.type),
      requestId: str(g.request_id),
      timestampSec: num(g.timestamp),
      subject: str(g.subject),
      addedParticipants: participants(g.added_participants),
      removedParticipants: participants(g.removed_participants),
      raw: g,
    });
  });
  pushChangeErrors(value, base, out);
}

function participants(v: unknown): GroupParticipant[] {
  return objects(v).map((p) => ({ input: str(p.input), waId: str(p.wa_id) }));
}

function pushChangeErrors(value: WireObject, base: Base, out: WebhookEvent[]): void {
  eachObject(value.errors, (err, i) => {
    out.push({ type: 'error', ...at(base, i), error: errorDetail(err), raw: err });
  });
}

function parseStatus(s: WireObject, base: Base, item: number): WebhookEvent {
  const conversation = obj(s.conversation);
  const origin = obj(conversation?.origin);
  const pricing = obj(s.pricing);
  return {
    type: 'status',
    field: base.field,
    wabaId: base.wabaId,
    phoneNumberId: base.phoneNumberId,
    displayPhoneNumber: base.displayPhoneNumber,
    entryTimeSec: base.entryTimeSec,
    position: { entry: base.position.entry, change: base.position.change, item },
    id: str(s.id) ?? '',
    status: str(s.status) ?? '',
    recipientId: str(s.recipient_id),
    timestampSec: num(s.timestamp),
    groupId: str(s.group_id),
    conversation: conversation
      ? {
          id: str(conversation.id),
          expirationTimestampSec: num(conversation.expiration_timestamp),
          originType: str(origin?.type),
        }
      : undefined,
    pricing: pricing
      ? {
          billable: bool(pricing.billable),
          pricingModel: str(pricing.pricing_model),
          category: str(pricing.category),
          type: str(pricing.type),
        }
      : undefined,
    errors: errorList(s.errors),
    bizOpaqueCallbackData: str(s.biz_opaque_callback_data),
    raw: s,
  };
}

/** Parses one message object (also the nested new content of an `edit`, which has no id or sender of its own). */
export function parseMessage(m: WireObject, outer?: MessageBase): InboundMessage {
  const type = str(m.type) ?? '';
  // One object with a stable shape, completed per type below (cheaper than spreading a base into each variant).
  const message = {
    type,
    id: str(m.id) ?? outer?.id ?? '',
    from: str(m.from) ?? outer?.from ?? '',
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
    raw: c,
  };
}

function templateRef(value: WireObject): {
  templateId: string | undefined;
  templateName: string | undefined;
  language: string | undefined;
} {
  return {
    templateId: str(value.message_template_id),
    templateName: str(value.message_template_name),
    language: str(value.message_template_language),
  };
}

function withDisplay(base: Base, value: WireObject): Base {
  return { ...base, displayPhoneNumber: base.displayPhoneNumber ?? str(value.display_phone_number) };
}

function contactList(v: unknown): ContactProfile[] {
  return objects(v).map((c) => {
    const profile = obj(c.profile);
    return { waId: str(c.wa_id), name: str(profile?.name), userId: str(c.user_id) };
  });
}

function contactFor(contacts: ContactProfile[], waId: string | undefined): ContactProfile | undefined {
  if (contacts.length === 0) return undefined;
  const match = waId ? contacts.find((c) => c.waId === waId) : undefined;
  return match ?? (contacts.length === 1 ? contacts[0] : undefined);
}

function errorList(v: unknown): WebhookErrorDetail[] {
  return objects(v).map(errorDetail);
}

function errorDetail(e: WireObject): WebhookErrorDetail {
  const data = obj(e.error_data);
  return {
    code: num(e.code),
    title: str(e.title),
    message: str(e.message),
    details: str(data?.details),
    href: str(e.href),
  };
}

function topBase(entry = 0): Base {
  return {
    field: '',
    wabaId: '',
    phoneNumberId: undefined,
    displayPhoneNumber: undefined,
    entryTimeSec: undefined,
    position: { entry, change: 0, item: 0 } satisfies EventPosition,
  };
}

function unknown(base: Base, reason: string, raw: unknown): UnknownEvent {
  return { type: 'unknown', ...base, reason, raw };
}

function eachObject(v: unknown, fn: (item: WireObject, index: number) => void): void {
  if (!Array.isArray(v)) return;
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    if (isObject(item)) fn(item, i);
  }
}

function objects(v: unknown): WireObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

function isObject(v: unknown): v is WireObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown): WireObject | undefined {
  return isObject(v) ? v : undefined;
}

/** Ids arrive as strings or numbers; both become strings (integers without exponent notation). */
function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) {
    return Number.isInteger(v) && Math.abs(v) >= 1e21 ? BigInt(v).toString() : String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  return undefined;
}

const NUMERIC = /^\s*-?\d+(\.\d+)?\s*$/;

/** Timestamps and counts arrive as numbers or numeric strings. */
function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && NUMERIC.test(v)) return Number(v);
  return undefined;
}

function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

function tryJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
