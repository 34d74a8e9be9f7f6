import { isBsuid } from '../core/bsuid.js';
import { ValidationError } from '../core/errors.js';
import type { MessagesRequest } from './message-types.js';

/** Meta's limits (Cloud API reference, "Messages"). */
export const LIMITS = {
  textBody: 4096,
  caption: 1024,
  interactiveBody: 1024,
  headerText: 60,
  footerText: 60,
  replyButtons: 3,
  buttonTitle: 20,
  listButton: 20,
  listSections: 10,
  listRows: 10,
  rowTitle: 24,
  rowDescription: 72,
} as const;

const MEDIA_TYPES = new Set(['image', 'audio', 'video', 'document', 'sticker']);
const KNOWN_TYPES = new Set([
  'text',
  'image',
  'audio',
  'video',
  'document',
  'sticker',
  'location',
  'contacts',
  'reaction',
  'template',
  'interactive',
]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function requireString(v: unknown, field: string, max?: number): string {
  if (typeof v !== 'string' || v.trim() === '')
    throw new ValidationError('is required and must be a non-empty string', field);
  // UTF-16 length bounds the code-point count from above: count code points only when it might matter.
  if (max !== undefined && v.length > max) {
    const chars = [...v].length;
    if (chars > max) throw new ValidationError(`is ${chars} characters; Meta's limit is ${max}`, field);
  }
  return v;
}

/**
 * The message type of a body that has no `type`: the one payload object it carries (`interactive`, `image`, ...),
 * else text, Graph's default. Some of Meta's own examples leave `type` out this way.
 */
export function impliedMessageType(message: object): string {
  let found: string | undefined;
  for (const t of KNOWN_TYPES) {
    if (!(t in message)) continue;
    if (found) return 'text';
    found = t;
  }
  return found ?? 'text';
}

function optionalString(v: unknown, field: string, max: number): void {
  if (v === undefined) return;
  requireString(v, field, max);
}

/**
 * A phone number as Meta takes it: digits with an optional leading +, formatting characters allowed
 * ("+1 (650) 555-1234"), 7 to 15 digits (E.164 caps at 15).
 */
export function isPhoneNumber(value: string): boolean {
  if (!/^\+?[\d\s().-]+$/.test(value)) return false;
  const digits = value.replace(/\D/g, '').length;
  return digits >= 7 && digits <= 15;
}

function validateMedia(v: unknown, field: string): void {
  if (!isObj(v)) throw new ValidationError('must be an object with an id or a link', field);
  const hasId = typeof v.id === 'string' && v.id !== '';
  const hasLink = typeof v.link === 'string' && v.link !== '';
  if (hasId === hasLink) throw new ValidationError('needs exactly one of id or link', field);
  if (hasLink) {
    let url: URL;
    try {
      url = new URL(v.link as string);
    } catch {
      throw new ValidationError('link is not a URL', field);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ValidationError('link must be an http(s) URL', field);
    }
  }
  optionalString(v.caption, `${field}.caption`, LIMITS.caption);
}

function validateCoordinate(v: unknown, field: string, limit: number): void {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || Math.abs(n) > limit) {
    throw new ValidationError(`must be a number between -${limit} and ${limit}`, field);
  }
}

function validateInteractive(v: unknown): void {
  if (!isObj(v)) throw new ValidationError('must be an object', 'interactive');
  const type = requireString(v.type, 'interactive.type');
  if (!isObj(v.action) && type !== 'order_status')
    throw new ValidationError('is required', 'interactive.action');
  if (v.body !== undefined) {
    if (!isObj(v.body)) throw new ValidationError('must be an object', 'interactive.body');
    requireString(v.body.text, 'interactive.body.text', LIMITS.interactiveBody);
  }
  if (v.footer !== undefined) {
    if (!isObj(v.footer)) throw new ValidationError('must be an object', 'interactive.footer');
    requireString(v.footer.text, 'interactive.footer.text', LIMITS.footerText);
  }
  if (isObj(v.header) && v.header.type === 'text')
    requireString(v.header.text, 'interactive.header.text', LIMITS.headerText);
  const action = (v.action ?? {}) as Obj;
  if (type === 'button') {
    const buttons = action.buttons;
    if (!Array.isArray(buttons) || buttons.length === 0 || buttons.length > LIMITS.replyButtons) {
      throw new ValidationError(`needs 1 to ${LIMITS.replyButtons} buttons`, 'interactive.action.buttons');
    }
    buttons.forEach((b, i) => {
      const reply = isObj(b) ? b.reply : undefined;
      if (!isObj(reply))
        throw new ValidationError('needs a reply object', `interactive.action.buttons[${i}]`);
      requireString(reply.id, `interactive.action.buttons[${i}].reply.id`, 256);
      requireString(reply.title, `interactive.action.buttons[${i}].reply.title`, LIMITS.buttonTitle);
    });
  } else if (type === 'list') {
    requireString(action.button, 'interactive.action.button', LIMITS.listButton);
    const sections = action.sections;
    if (!Array.isArray(sections) || sections.length === 0 || sections.length > LIMITS.listSections) {
      throw new ValidationError(`needs 1 to ${LIMITS.listSections} sections`, 'interactive.action.sections');
    }
    let rows = 0;
    sections.forEach((s, i) => {
      const sRows = isObj(s) && Array.isArray(s.rows) ? s.rows : [];
      rows += sRows.length;
      sRows.forEach((r, j) => {
        const f = `interactive.action.sections[${i}].rows[${j}]`;
        if (!isObj(r)) throw new ValidationError('must be an object', f);
        requireString(r.id, `${f}.id`, 200);
        requireString(r.title, `${f}.title`, LIMITS.rowTitle);
        optionalString(r.description, `${f}.description`, LIMITS.rowDescription);
      });
    });
    if (rows === 0 || rows > LIMITS.listRows) {
      throw new ValidationError(`needs 1 to ${LIMITS.listRows} rows in all`, 'interactive.action.sections');
    }
  } else if (type === 'cta_url') {
    const params = isObj(action.parameters) ? action.parameters : {};
    requireString(params.display_text, 'interactive.action.parameters.display_text', LIMITS.buttonTitle);
    requireString(params.url, 'interactive.action.parameters.url');
  }
}

/**
 * `to` (a phone number, or a group id for a group send) or `recipient` (a BSUID or parent BSUID); Meta uses `to`
 * when both are present, and each given one must be well-formed.
 */
function validateRecipient(m: Obj): void {
  if (m.recipient_type !== undefined && m.recipient_type !== 'individual' && m.recipient_type !== 'group') {
    throw new ValidationError('must be "individual" or "group"', 'recipient_type');
  }
  if (m.to === undefined && m.recipient === undefined) {
    throw new ValidationError('needs "to" (a phone number) or "recipient" (a business-scoped user id)', 'to');
  }
  if (m.recipient !== undefined) {
    const recipient = requireString(m.recipient, 'recipient');
    if (!isBsuid(recipient)) {
      throw new ValidationError(
        `"${recipient}" is not a business-scoped user id (e.g. US.13491208655302741918)`,
        'recipient',
      );
    }
    if (m.recipient_type === 'group' && m.to === undefined) {
      throw new ValidationError('a group send needs the group id in "to"', 'to');
    }
  }
  if (m.to === undefined) return;
  const to = requireString(m.to, 'to');
  if (m.recipient_type !== 'group' && !isPhoneNumber(to)) {
    throw new ValidationError(`"${to}" is not a phone number in E.164 form (e.g. +16505551234)`, 'to');
  }
}

/**
 * Checks a `/messages` body before any request is made: unknown type, missing recipient, Meta's length limits,
 * a recipient that is not a phone number. Throws a ValidationError naming the field; returns the body unchanged.
 */
export function validateMessage<T extends MessagesRequest>(message: T): T {
  if (!isObj(message)) throw new ValidationError('a message must be an object');
  const m = message as unknown as Obj;
  if (m.messaging_product !== undefined && m.messaging_product !== 'whatsapp') {
    throw new ValidationError('must be "whatsapp"', 'messaging_product');
  }
  if (m.status !== undefined) {
    if (m.status !== 'read') throw new ValidationError('only "read" can be sent as a status', 'status');
    requireString(m.message_id, 'message_id');
    return message;
  }
  const type = m.type === undefined ? impliedMessageType(m) : m.type;
  if (typeof type !== 'string' || !KNOWN_TYPES.has(type)) {
    throw new ValidationError(
      `unknown message type ${JSON.stringify(type)}; expected one of ${[...KNOWN_TYPES].join(', ')}`,
      'type',
    );
  }
  validateRecipient(m);
  if (m.context !== undefined && !(isObj(m.context) && typeof m.context.message_id === 'string')) {
    throw new ValidationError('must be { message_id }', 'context');
  }
  if (!(type in m)) throw new ValidationError(`a ${type} message needs a "${type}" object`, type);
  const payload = m[type];
  if (type === 'text') {
    if (!isObj(payload)) throw new ValidationError('must be an object', 'text');
    requireString(payload.body, 'text.body', LIMITS.textBody);
  } else if (MEDIA_TYPES.has(type)) {
    validateMedia(payload, type);
  } else if (type === 'location') {
    if (!isObj(payload)) throw new ValidationError('must be an object', 'location');
    validateCoordinate(payload.latitude, 'location.latitude', 90);
    validateCoordinate(payload.longitude, 'location.longitude', 180);
  } else if (type === 'reaction') {
    if (!isObj(payload)) throw new ValidationError('must be an object', 'reaction');
    requireString(payload.message_id, 'reaction.message_id');
    if (typeof payload.emoji !== 'string')
      throw new ValidationError('must be a string ("" removes)', 'reaction.emoji');
  } else if (type === 'contacts') {
    if (!Array.isArray(payload) || payload.length === 0 || !payload.every(isObj)) {
      throw new ValidationError('must be a non-empty array of contact cards', 'contacts');
    }
  } else if (type === 'template') {
    if (!isObj(payload)) throw new ValidationError('must be an object', 'template');
    requireString(payload.name, 'template.name', 512);
    if (!isObj(payload.language)) throw new ValidationError('is required ({ code })', 'template.language');
    requireString(payload.language.code, 'template.language.code');
    if (payload.components !== undefined && !Array.isArray(payload.components)) {
      throw new ValidationError('must be an array', 'template.components');
    }
  } else if (type === 'interactive') {
    validateInteractive(payload);
  }
  return message;
}
