import { requireAccess, unknownObject } from './access.js';
import { authenticateToken, type EmulatorCore, parseJson } from './context.js';
import { scheduleStatuses } from './events.js';
import { graphError } from './graph-errors.js';
import { wamid } from './ids.js';
import type { PhoneNumberRecord, SentMessageRecord, TemplateRecord } from './state.js';
import { validateSendBody } from './validate.js';
import { digitsOf } from './world.js';

const MESSAGING = 'whatsapp_business_messaging';

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
export function sendMessage(core: EmulatorCore, input: SendInput, sink: CallSink): Record<string, unknown> {
  const body = bodyFromText(input.text, input.contentType) as Record<string, unknown>;
  // A token and proof may also travel in the body (form or JSON), as Graph allows.
  let params = input.query;
  if (body && typeof body === 'object') {
    for (const k of ['access_token', 'appsecret_proof', 'appsecret_time']) {
      const v = body[k];
      if (typeof v === 'string' || typeof v === 'number') params = { ...params, [k]: String(v) };
    }
  }
  const p = authenticateToken(core, input.authorization, params);
  sink.app(p.app.id);
  const phone = core.state.phoneNumbers.get(input.phoneNumberId);
  if (!phone) throw unknownObject('POST', input.phoneNumberId);
  sink.waba(phone.wabaId);
  requireAccess(core, p, [MESSAGING], phone.wabaId);
  if (body && typeof body === 'object') {
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
  const message: Record<string, string> = { id: record.id };
  if (kind.type === 'template') message.message_status = 'accepted';
  return { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: waId }], messages: [message] };
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
