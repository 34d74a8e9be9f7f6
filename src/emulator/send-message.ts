import { requireAccess, unknownObject } from './access.js';
import { authenticateToken, type EmulatorCore, parseJson } from './context.js';
import { scheduleStatuses } from './events.js';
import { graphError } from './graph-errors.js';
import { wamid } from './ids.js';
import type { PhoneNumberRecord, SentMessageRecord, TemplateRecord } from './state.js';
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
  const to = String(body.to);
  const waId = digitsOf(to);
  if (body.recipient_type !== 'group' && (waId.length < 5 || waId.length > 15)) {
    throw graphError(100, '(#100) Invalid parameter', {
      details: `Param to must be the recipient's phone number in international format - got "${to}".`,
    });
  }
  if (phone.isTestNumber && !phone.allowedRecipients.includes(waId)) {
    throw graphError(131030, '(#131030) Recipient phone number not in allowed list', {
      details:
        'Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again.',
    });
  }
  if (!core.limits.takePair(phone.id, waId, now)) {
    throw graphError(131056, '(#131056) (Business Account, Consumer Account) pair rate limit hit', {
      details:
        'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
    });
  }
  if (kind.type === 'template') checkTemplate(core, phone, body.template as TemplateSend);
  const record: SentMessageRecord = {
    id: wamid(waId),
    phoneNumberId: phone.id,
    to,
    waId,
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
  return { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: waId }], messages: [message] };
}

/** The answer to a send (Meta's shape). */
export interface SendAnswer {
  messaging_product: 'whatsapp';
  contacts: [{ input: string; wa_id: string }];
  messages: [{ id: string; message_status?: 'accepted' }];
}

/**
 * The JSON text of a send's answer, written by hand with the same bytes as JSON.stringify (the fast path's
 * serialisation, once per send). wa_id is digits and the wamid base64: only the recipient as typed needs escaping.
 */
export function sendResponseJson(result: SendAnswer | { success: true }): string {
  if (!('contacts' in result)) return JSON.stringify(result);
  const m = result.messages[0];
  return `{"messaging_product":"whatsapp","contacts":[{"input":${JSON.stringify(result.contacts[0].input)},"wa_id":"${result.contacts[0].wa_id}"}],"messages":[{"id":"${m.id}"${m.message_status ? `,"message_status":"${m.message_status}"` : ''}}]}`;
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
function checkTemplate(core: EmulatorCore, phone: PhoneNumberRecord, t: TemplateSend): void {
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
}
