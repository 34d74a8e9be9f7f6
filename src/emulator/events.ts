import { createHash, randomBytes } from 'node:crypto';
import type { EmulatorCore } from './context.js';
import { base62, numericId, wamid } from './ids.js';
import type { MediaRecord, PhoneNumberRecord, SentMessageRecord, TemplateRecord } from './state.js';
import {
  businessOf,
  contactEntry,
  type ResolvedUser,
  sharesPhone,
  userByBsuid,
  userByPhone,
} from './user-ids.js';
import type { WebhookEvent } from './webhooks.js';
import { ControlError, digitsOf } from './world.js';

/** Webhook payload builders, shaped like the examples in Meta's OpenAPI spec (`/whatsapp/webhooks`). */

function metadata(phone: PhoneNumberRecord): Record<string, string> {
  return { display_phone_number: digitsOf(phone.displayPhoneNumber), phone_number_id: phone.id };
}

const sec = (ms: number): string => String(Math.floor(ms / 1000));

/** Pricing category of an outbound message, for `statuses[].pricing`. */
function categoryOf(core: EmulatorCore, m: SentMessageRecord, phone: PhoneNumberRecord): string {
  if (m.type !== 'template') return 'service';
  const body = m.body as { template?: { name?: string; language?: { code?: string } } };
  for (const t of core.state.templates.values()) {
    if (
      t.wabaId === phone.wabaId &&
      t.name === body.template?.name &&
      t.language === body.template?.language?.code
    ) {
      return t.category.toLowerCase();
    }
  }
  return 'utility';
}

export interface StatusErrorInput {
  code: number;
  title?: string;
  message?: string;
  details?: string;
}

/** A `statuses[]` event for an outbound message (sent, delivered, read, failed). */
export function statusEvent(
  core: EmulatorCore,
  m: SentMessageRecord,
  status: 'sent' | 'delivered' | 'read' | 'failed',
  errors?: StatusErrorInput[],
): WebhookEvent | undefined {
  const phone = core.state.phoneNumbers.get(m.phoneNumberId);
  if (!phone) return undefined;
  const now = core.clock.now();
  const user = recipientUser(core, m, phone);
  // 2026 shapes (Meta's BSUID guide): recipient_id is the phone number when it may be shared, recipient_user_id the
  // BSUID (left out of a `failed` status of a send to a phone number), and contacts[] names the recipient except on
  // `failed`; the username appears on delivered and read.
  const entry: Record<string, unknown> = { id: m.id, status, timestamp: sec(now) };
  if (sharesPhone(user) || (m.sentTo !== 'bsuid' && m.waId)) entry.recipient_id = m.waId;
  if (!(status === 'failed' && m.sentTo !== 'bsuid')) {
    entry.recipient_user_id = user.bsuid;
    if (user.parentBsuid) entry.recipient_parent_user_id = user.parentBsuid;
  }
  if (status === 'failed') {
    entry.errors = (errors?.length ? errors : [{ code: 131000 }]).map((e) => {
      const title = e.title ?? e.message ?? 'Something went wrong';
      return {
        code: e.code,
        title,
        message: e.message ?? title,
        error_data: { details: e.details ?? title },
        href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
      };
    });
  } else if (status !== 'read') {
    const category = categoryOf(core, m, phone);
    const conversation: Record<string, unknown> = { id: conversationId(m), origin: { type: category } };
    if (status === 'sent') conversation.expiration_timestamp = sec(m.sentAtMs + 24 * 3_600_000);
    entry.conversation = conversation;
    entry.pricing = { billable: true, pricing_model: 'PMP', category, type: 'regular' };
  }
  const value: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    metadata: metadata(phone),
  };
  if (status !== 'failed') {
    value.contacts = [contactEntry(user, { username: status === 'delivered' || status === 'read' })];
  }
  value.statuses = [entry];
  return { wabaId: phone.wabaId, field: 'messages', value, phoneNumberId: phone.id };
}

/** The recipient of a sent message as its business sees them now (a username set since the send shows). */
function recipientUser(core: EmulatorCore, m: SentMessageRecord, phone: PhoneNumberRecord): ResolvedUser {
  const business = businessOf(core, phone);
  if (m.waId) return userByPhone(core, business, m.waId);
  return userByBsuid(core, business, m.userId ?? m.to);
}

function conversationId(m: SentMessageRecord): string {
  return createHash('sha256')
    .update(`${m.phoneNumberId}:${m.waId || m.userId}`)
    .digest('hex')
    .slice(0, 32);
}

/** Schedules the `sent` → `delivered` → `read` statuses Meta sends after an accepted message. */
export function scheduleStatuses(core: EmulatorCore, m: SentMessageRecord): void {
  const opts = core.webhooks.options;
  for (const status of opts.autoStatuses) {
    core.clock.schedule(m.sentAtMs + opts.statusDelaysMs[status], () => {
      // A status already overtaken (e.g. a control-API failure) is not sent backwards.
      const order = { accepted: 0, sent: 1, delivered: 2, read: 3, failed: 4 } as const;
      if (order[m.status] >= order[status]) return;
      m.status = status;
      core.state.touch();
      const event = statusEvent(core, m, status);
      if (event) core.webhooks.emit([event]);
    });
  }
}

/** Input of the control API's inbound message: the content under its type key, as the user's phone would send. */
export interface InboundMessageInput {
  phoneNumberId: string;
  from: string;
  /** Sender's profile name. */
  name?: string;
  type: string;
  /** The content object (`text: {body}`, `image: {caption}`, ...): taken from `message[type]`. */
  message?: Record<string, unknown>;
  /** wamid of the message this one replies to (context). */
  contextMessageId?: string;
  /** Base64 bytes for media types (a small placeholder is generated otherwise). */
  mediaBase64?: string;
  mimeType?: string;
  /** Extra fields copied onto the message (e.g. `referral`). */
  extra?: Record<string, unknown>;
}

const MEDIA_TYPES: Record<string, string> = {
  image: 'image/jpeg',
  audio: 'audio/ogg',
  video: 'video/mp4',
  document: 'application/pdf',
  sticker: 'image/webp',
};

/** Every inbound type the spec's webhook examples show, plus media and unknown. */
export const INBOUND_TYPES = [
  'text',
  'image',
  'audio',
  'video',
  'document',
  'sticker',
  'location',
  'contacts',
  'interactive',
  'button',
  'reaction',
  'order',
  'system',
  'unsupported',
];

/**
 * Builds an inbound message webhook (a user writes to the business) and stores any media so the app can download
 * it with `GET /{media-id}` like a real one.
 */
export function inboundMessageEvent(
  core: EmulatorCore,
  input: InboundMessageInput,
): { event: WebhookEvent; messageId: string } {
  const phone = core.state.phoneNumbers.get(input.phoneNumberId);
  if (!phone) throw new ControlError(`no phone number ${input.phoneNumberId}`, 404);
  const from = digitsOf(input.from ?? '');
  if (from.length < 5) throw new ControlError('from must be the sender phone number (digits)');
  const user = userByPhone(core, businessOf(core, phone), from);
  if (typeof input.type !== 'string' || !/^[a-z_]{1,40}$/.test(input.type)) {
    throw new ControlError(
      `type must be one of ${INBOUND_TYPES.join(', ')} (or another lowercase type name)`,
    );
  }
  const now = core.clock.now();
  const id = wamid(sharesPhone(user) ? from : user.bsuid);
  // A username user whose number Meta withholds: no `from`, only `from_user_id` (Meta's BSUID guide).
  const message: Record<string, unknown> = sharesPhone(user) ? { from } : {};
  message.from_user_id = user.bsuid;
  if (user.parentBsuid) message.from_parent_user_id = user.parentBsuid;
  Object.assign(message, { id, timestamp: sec(now) });
  if (input.contextMessageId)
    message.context = { from: digitsOf(phone.displayPhoneNumber), id: input.contextMessageId };
  const content: Record<string, unknown> = { ...(input.message ?? {}) };
  const type = input.type;
  if (MEDIA_TYPES[type]) {
    const data = input.mediaBase64 ? Buffer.from(input.mediaBase64, 'base64') : randomBytes(64);
    const media: MediaRecord = {
      id: numericId(16),
      phoneNumberId: phone.id,
      mimeType: input.mimeType ?? (content.mime_type as string | undefined) ?? (MEDIA_TYPES[type] as string),
      sha256: createHash('sha256').update(data).digest('hex'),
      fileSize: data.length,
      data,
      createdAtMs: now,
      deleted: false,
    };
    core.state.media.set(media.id, media);
    core.state.touch();
    Object.assign(content, {
      mime_type: media.mimeType,
      sha256: Buffer.from(media.sha256, 'hex').toString('base64'),
      id: media.id,
    });
    if (type === 'document' && content.filename === undefined) content.filename = 'document.pdf';
  } else if (type === 'text' && typeof content.body !== 'string') {
    throw new ControlError('text messages need message: { body: "..." }');
  }
  if (type === 'unsupported') {
    message.errors = [
      {
        code: 131051,
        title: 'Message type unknown',
        message: 'Message type unknown',
        error_data: { details: 'Message type is currently not supported.' },
      },
    ];
    // What the user actually sent, when the control call says (`unsupported: {type: "edit"}` in Meta's payloads).
    if (typeof content.type === 'string') message.unsupported = { type: content.type };
  } else if (type === 'system') {
    Object.assign(message, { system: content });
  } else {
    message[type] = content;
  }
  message.type = type;
  if (input.extra) Object.assign(message, input.extra);
  const value: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    metadata: metadata(phone),
  };
  // System messages carry no contacts array (Meta's system messages reference).
  if (type !== 'system') {
    const name = input.name ?? user.record?.name ?? 'Emulated Customer';
    value.contacts = [contactEntry(user, { name, username: true })];
  }
  value.messages = [message];
  return {
    event: { wabaId: phone.wabaId, field: 'messages', value, phoneNumberId: phone.id },
    messageId: id,
  };
}

/** `message_template_status_update` (template review outcome). */
export function templateStatusEvent(t: TemplateRecord, event: string, reason = 'NONE'): WebhookEvent {
  return {
    wabaId: t.wabaId,
    field: 'message_template_status_update',
    value: {
      event,
      message_template_id: Number(t.id),
      message_template_name: t.name,
      message_template_language: t.language,
      reason,
    },
  };
}

/**
 * A user changed their phone number: Meta sends the `user_changed_number` system message (no contacts array) and,
 * since the BSUID follows the number, a `user_id_update` with the previous and current BSUID (shape UNVERIFIED:
 * `user_id: {previous, current}`, like the parser reads). Returns both events for `phone`'s business.
 */
export function numberChangeEvents(
  core: EmulatorCore,
  phone: PhoneNumberRecord,
  oldNumber: string,
  newNumber: string,
): WebhookEvent[] {
  const business = businessOf(core, phone);
  const before = userByPhone(core, business, oldNumber);
  const after = userByPhone(core, business, newNumber);
  const timestamp = sec(core.clock.now());
  const name = after.record?.name ?? before.record?.name ?? 'Emulated Customer';
  const system: Record<string, unknown> = {
    ...(sharesPhone(before) ? { from: oldNumber } : {}),
    from_user_id: before.bsuid,
    id: wamid(oldNumber),
    timestamp,
    type: 'system',
    system: {
      body: `User ${name} changed from ${oldNumber} to ${newNumber}`,
      ...(sharesPhone(after) ? { wa_id: newNumber } : {}),
      type: 'user_changed_number',
    },
  };
  const update: Record<string, unknown> = {
    ...(sharesPhone(after) ? { wa_id: newNumber } : {}),
    detail: 'User changed their phone number; their business-scoped user ID changed with it',
    user_id: { previous: before.bsuid, current: after.bsuid },
    ...(before.parentBsuid && after.parentBsuid
      ? { parent_user_id: { previous: before.parentBsuid, current: after.parentBsuid } }
      : {}),
    timestamp,
  };
  const base = { messaging_product: 'whatsapp', metadata: metadata(phone) };
  return [
    {
      wabaId: phone.wabaId,
      field: 'messages',
      value: { ...base, messages: [system] },
      phoneNumberId: phone.id,
    },
    {
      wabaId: phone.wabaId,
      field: 'user_id_update',
      value: { ...base, user_id_update: [update] },
      phoneNumberId: phone.id,
    },
  ];
}

/** A fresh id for events that need one (e.g. account updates). */
export function eventId(): string {
  return base62(12);
}
