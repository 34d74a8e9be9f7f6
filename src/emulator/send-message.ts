import { requireAccess, unknownObject } from './access.js';
import { authenticateToken, type EmulatorCore, parseJson } from './context.js';
import { scheduleStatuses } from './events.js';
import { graphError } from './graph-errors.js';
import { wamid } from './ids.js';
import type { PhoneNumberRecord, SentMessageRecord, TemplateRecord } from './state.js';
import { businessOf, isBsuid, type ResolvedUser, userByBsuid, userByPhone } from './user-ids.js';
import { validateSendBody } from './validate.js';
import { digitsOf } from './world.js';

const MESSAGING_ONLY = ['whatsapp_business_messaging'];
/** Credentials Graph also reads from the body; they are removed before validation. */
const BODY_CREDENTIALS = ['access_token', 'appsecret_proof', 'appsecret_time'] as const;

/** One send request, independent of the HTTP layer that carried it. */
export interface SendInput {
  phoneNumberId: string;
  query: Record<string, string> | undefined;
  contentType: string;
  authorization: string | undefined;
  text: string;
}

/** Told which app and WABA the call concerns, as soon as known (usage headers, also on errors). */
export interface CallSink {
  app(appId: string): void;
  waba(wabaId: string): void;
}

/**
 * `POST /{phone-number-id}/messages`: auth, access, schema validation, registration, throughput, recipient
 * allow-list, pair rate, template checks, then the message is stored and its statuses scheduled. Returns the
 * response body; throws the Graph error otherwise. Used by the Hono route and by the Node fast path, so both
 * answer byte for byte alike.
 */
export function sendMessage(
  core: EmulatorCore,
  input: SendInput,
  sink: CallSink,
): SendAnswer | { success: true } {
  const body = bodyFromText(input.text, input.contentType) as Record<string, unknown>;
  // A token and proof may also travel in the body (form or JSON), as Graph allows.
  let params = input.query;
  let bodyCredentials = false;
  if (body && typeof body === 'object') {
    for (const k of BODY_CREDENTIALS) {
      const v = body[k];
      if (v === undefined) continue;
      bodyCredentials = true;
      if (typeof v === 'string' || typeof v === 'number') params = { ...params, [k]: String(v) };
    }
  }
  const p = authenticateToken(core, input.authorization, params);
  sink.app(p.app.id);
  const phone = core.state.phoneNumbers.get(input.phoneNumberId);
  if (!phone) throw unknownObject('POST', input.phoneNumberId);
  sink.waba(phone.wabaId);
  requireAccess(core, p, MESSAGING_ONLY, phone.wabaId);
  if (bodyCredentials) {
    delete body.access_token;
    delete body.appsecret_proof;
    delete body.appsecret_time;
  }
  const kind = validateSendBody(body);
  if (!phone.registered) {
    throw graphError(133010, '(#133010) Account not registered', {
      details:
        'The phone number is not registered on the Cloud API: call POST /{phone-number-id}/register first.',
    });
  }
  if (kind.kind === 'read') return { success: true };
  const now = core.clock.now();
  if (!core.limits.takeNumber(phone.id, phone.mps, now)) {
    throw graphError(130429, '(#130429) Rate limit hit', {
      subcode: 2494055,
      details:
        'Message failed to send because there were too many messages sent from this phone number in a short period of time',
    });
  }
  const target = recipientOf(core, phone, body);
  const { to, waId } = target;
  if (phone.isTestNumber && !phone.allowedRecipients.includes(waId)) {
    throw graphError(131030, '(#131030) Recipient phone number not in allowed list', {
      details:
        'Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again.',
    });
  }
  if (!core.limits.takePair(phone.id, waId || target.user.bsuid, now)) {
    throw graphError(131056, '(#131056) (Business Account, Consumer Account) pair rate limit hit', {
      details:
        'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
    });
  }
  if (kind.type === 'template') {
    const template = checkTemplate(core, phone, body.template as TemplateSend);
    if (target.sentTo === 'bsuid' && needsPhoneNumber(template)) {
      // One-tap, zero-tap and copy-code authentication templates still need a phone number (Meta's BSUID guide).
      throw graphError(
        131062,
        '(#131062) Business-scoped User ID recipients are not supported for this message.',
        {
          details:
            'One-tap, zero-tap and copy-code authentication templates must be sent to a phone number (to).',
        },
      );
    }
  }
  const record: SentMessageRecord = {
    id: wamid(waId || target.user.bsuid),
    phoneNumberId: phone.id,
    to,
    waId,
    userId: target.user.bsuid,
    sentTo: target.sentTo,
    type: kind.type,
    body,
    sentAtMs: now,
    status: 'accepted',
    appId: p.app.id,
  };
  core.state.addMessage(record);
  if (core.webhooks.targets(phone.wabaId, 'messages', phone.id).length) scheduleStatuses(core, record);
  const message: SendAnswer['messages'][0] =
    kind.type === 'template' ? { id: record.id, message_status: 'accepted' } : { id: record.id };
  // A send to a phone number answers wa_id, a send to a BSUID user_id (Meta's business-scoped user ids guide).
  const contact: SendAnswer['contacts'][0] =
    target.sentTo === 'phone' ? { input: to, wa_id: waId } : { input: to, user_id: target.user.bsuid };
  return { messaging_product: 'whatsapp', contacts: [contact], messages: [message] };
}

/** The answer to a send (Meta's shape). */
export interface SendAnswer {
  messaging_product: 'whatsapp';
  contacts: [{ input: string; wa_id?: string; user_id?: string }];
  messages: [{ id: string; message_status?: 'accepted' }];
}

/**
 * Who a send goes to: `to` (a phone number, or a group id) wins over `recipient` (a BSUID or parent BSUID), as
 * Meta documents; the user behind a BSUID is looked up in the number's business portfolio.
 */
function recipientOf(
  core: EmulatorCore,
  phone: PhoneNumberRecord,
  body: Record<string, unknown>,
): { to: string; waId: string; sentTo: 'phone' | 'bsuid'; user: ResolvedUser } {
  const business = businessOf(core, phone);
  if (body.to !== undefined) {
    const to = String(body.to);
    const waId = digitsOf(to);
    if (body.recipient_type !== 'group' && (waId.length < 5 || waId.length > 15)) {
      throw graphError(100, '(#100) Invalid parameter', {
        details: `Param to must be the recipient's phone number in international format - got "${to}".`,
      });
    }
    return { to, waId, sentTo: 'phone', user: userByPhone(core, business, waId) };
  }
  const recipient = String(body.recipient);
  if (!isBsuid(recipient)) {
    throw graphError(100, '(#100) Invalid parameter', {
      details: `Param recipient must be a business-scoped user id (like US.13491208655302741918) - got "${recipient}".`,
    });
  }
  const user = userByBsuid(core, business, recipient);
  return { to: recipient, waId: user.phone ?? '', sentTo: 'bsuid', user };
}

/** An AUTHENTICATION template with a one-tap, zero-tap or copy-code OTP button. */
function needsPhoneNumber(t: TemplateRecord): boolean {
  if (t.category.toUpperCase() !== 'AUTHENTICATION') return false;
  for (const c of t.components as Array<{
    type?: string;
    buttons?: Array<{ type?: string; otp_type?: string }>;
  }>) {
    if (String(c.type).toUpperCase() !== 'BUTTONS') continue;
    for (const b of c.buttons ?? []) {
      const otp = String(b.otp_type ?? '').toUpperCase();
      if (String(b.type).toUpperCase() === 'OTP' && ['ONE_TAP', 'ZERO_TAP', 'COPY_CODE'].includes(otp))
        return true;
    }
  }
  return false;
}

/**
 * The JSON text of a send's answer, written by hand with the same bytes as JSON.stringify (the fast path's
 * serialisation, once per send). wa_id is digits and the wamid base64: only the recipient as typed needs escaping.
 */
export function sendResponseJson(result: SendAnswer | { success: true }): string {
  if (!('contacts' in result)) return JSON.stringify(result);
  const m = result.messages[0];
  const c = result.contacts[0];
  // wa_id is digits and user_id a BSUID (letters, digits, dots): only the input as typed needs escaping.
  const id = c.wa_id !== undefined ? `"wa_id":"${c.wa_id}"` : `"user_id":"${c.user_id}"`;
  return `{"messaging_product":"whatsapp","contacts":[{"input":${JSON.stringify(c.input)},${id}}],"messages":[{"id":"${m.id}"${m.message_status ? `,"message_status":"${m.message_status}"` : ''}}]}`;
}

/** Graph accepts form-encoded bodies with JSON-encoded nested values; JSON bodies pass through. */
function bodyFromText(text: string, contentType: string): unknown {
  if (text.trim() === '') return {};
  if (contentType.includes('json') || /^\s*[{[]/.test(text)) return parseJson(text);
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    out[k] = /^\s*[{[]/.test(v) ? parseJson(v) : v;
  }
  return out;
}

/** Placeholders `{{1}}` / `{{name}}` in a template's BODY. */
function bodyParamCount(t: TemplateRecord): number {
  const body = (t.components as Array<{ type?: string; text?: string }>).find(
    (c) => String(c.type).toUpperCase() === 'BODY',
  );
  const matches = body?.text?.match(/\{\{\s*[\w]+\s*\}\}/g) ?? [];
  return new Set(matches.map((m) => m.replace(/\s/g, ''))).size;
}

interface TemplateSend {
  name?: string;
  language?: { code?: string };
  components?: Array<{ type?: string; parameters?: unknown[] }>;
}

/** 132001 when the template (in that language) does not exist or is not approved; 132000 on a parameter count mismatch. */
function checkTemplate(core: EmulatorCore, phone: PhoneNumberRecord, t: TemplateSend): TemplateRecord {
  const name = String(t.name);
  const lang = String(t.language?.code);
  let found: TemplateRecord | undefined;
  for (const x of core.state.templates.values()) {
    if (x.wabaId === phone.wabaId && x.name === name && x.language === lang) {
      found = x;
      break;
    }
  }
  if (found?.status !== 'APPROVED') {
    throw graphError(132001, '(#132001) Template name does not exist in the translation', {
      details: found
        ? `template name (${name}) is ${found.status}, not APPROVED, in ${lang}`
        : `template name (${name}) does not exist in ${lang}`,
    });
  }
  const expected = bodyParamCount(found);
  const body = t.components?.find((c) => String(c.type).toLowerCase() === 'body');
  const given = Array.isArray(body?.parameters) ? body.parameters.length : 0;
  if (given !== expected) {
    throw graphError(132000, '(#132000) Number of parameters does not match the expected number of params', {
      details: `body: number of localizable_params (${given}) does not match the expected number of params (${expected})`,
    });
  }
  return found;
}
