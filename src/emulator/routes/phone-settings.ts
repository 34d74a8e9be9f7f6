import type { Hono } from 'hono';
import type { EmuEnv, EmulatorCore } from '../context.js';
import { jsonBody, str } from '../control-input.js';
import { graphError } from '../graph-errors.js';
import type { PhoneNumberRecord, WabaRecord } from '../state.js';
import { type EntityHealth, surfaceOf } from '../surface-state.js';
import { ControlError } from '../world.js';
import { changed, jsonParam, MANAGEMENT, mark, phoneRequest } from './shared.js';

/**
 * `POST /{phone-number-id}`: the number's own settings, as Meta documents them
 * (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/phone-numbers): the two-step verification PIN
 * (`pin`, or the spec's `whatsapp_business_api_data.pin`), a display name change (`new_display_name`, reviewed by
 * Meta: `new_name_status` on GET until the control API decides), and the per-number webhook override
 * (`webhook_configuration.override_callback_uri` + `verify_token`, verified like the WABA override). Also the
 * `health_status` Meta reports on numbers, WABAs and templates, set through the control API.
 */

const SETTINGS = ['pin', 'whatsapp_business_api_data', 'new_display_name', 'webhook_configuration'];
/** Meta's display names: 3 to 512 characters (display-name guidelines); the review decides the rest. */
const DISPLAY_NAME = { min: 3, max: 512 };

function pinOf(params: Record<string, string>): string | undefined {
  const data = jsonParam(params, 'whatsapp_business_api_data') as { pin?: unknown } | undefined;
  if (data !== undefined && (typeof data !== 'object' || data === null))
    throw graphError(100, '(#100) Param whatsapp_business_api_data must be an object.');
  const pin = params.pin ?? (data?.pin === undefined ? undefined : String(data.pin));
  if (pin !== undefined && !/^\d{6}$/.test(pin))
    throw graphError(100, '(#100) Param pin must be a 6-digit number.');
  return pin;
}

function displayNameOf(params: Record<string, string>): string | undefined {
  const name = params.new_display_name;
  if (name === undefined) return undefined;
  const n = [...name.trim()].length;
  if (n < DISPLAY_NAME.min || n > DISPLAY_NAME.max) {
    throw graphError(
      100,
      `(#100) Param new_display_name must be ${DISPLAY_NAME.min} to ${DISPLAY_NAME.max} characters.`,
    );
  }
  return name.trim();
}

/** Worst first: the overall `can_send_message` is the worst of the entities'. */
const RANK = { BLOCKED: 2, LIMITED: 1, AVAILABLE: 0 } as const;

function entity(type: string, id: string, h: EntityHealth | undefined) {
  const e: Record<string, unknown> = {
    entity_type: type,
    id,
    can_send_message: h?.canSendMessage ?? 'AVAILABLE',
  };
  if (h?.errors.length) e.errors = h.errors;
  return e;
}

function overall(entities: Array<Record<string, unknown>>) {
  let worst: keyof typeof RANK = 'AVAILABLE';
  for (const e of entities) {
    const v = e.can_send_message as keyof typeof RANK;
    if (RANK[v] > RANK[worst]) worst = v;
  }
  return { can_send_message: worst, entities };
}

/** `health_status` of a WABA (the WABA, its business) or of a number (the number, then its WABA). */
export function healthStatus(waba: WabaRecord, phone?: PhoneNumberRecord) {
  const list = [entity('WABA', waba.id, waba.health), entity('BUSINESS', waba.businessId, undefined)];
  if (phone) list.unshift(entity('PHONE_NUMBER', phone.id, phone.surface?.health));
  return overall(list);
}

/** The settings fields `GET /{phone-number-id}` adds to the number object. */
export function phoneSettingsFields(core: EmulatorCore, phone: PhoneNumberRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { name_status: 'APPROVED' };
  const request = phone.surface?.displayNameRequest;
  if (request) {
    out.new_display_name = request.name;
    out.new_name_status = request.status;
  }
  if (phone.webhookOverrideUrl) out.webhook_configuration = { phone_number: phone.webhookOverrideUrl };
  const waba = core.state.wabas.get(phone.wabaId);
  if (waba) out.health_status = healthStatus(waba, phone);
  return out;
}

export function registerPhoneSettingsRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  app.post(`${prefix}/:id`, async (c, next) => {
    if (core.state.kindOf(c.req.param('id')) !== 'phone_number') return next();
    mark(c, 'POST /{phone-number-id}');
    const { params, phone } = await phoneRequest(core, c, [MANAGEMENT]);
    const given = SETTINGS.filter((k) => params[k] !== undefined);
    if (given.length === 0) throw graphError(100, `(#100) Pass one of ${SETTINGS.join(', ')}.`);
    // Everything is checked before anything changes.
    const pin = pinOf(params);
    const name = displayNameOf(params);
    let override: { uri: string; token: string } | null | undefined;
    if (params.webhook_configuration !== undefined) {
      const w = jsonParam(params, 'webhook_configuration') as Record<string, unknown> | null;
      if (typeof w !== 'object' || w === null)
        throw graphError(100, '(#100) Param webhook_configuration must be an object.');
      const uri = w.override_callback_uri;
      if (uri === '' || uri === null) override = null;
      else {
        if (typeof uri !== 'string' || !/^https?:\/\//.test(uri))
          throw graphError(100, '(#100) Param webhook_configuration[override_callback_uri] must be a URL.');
        if (typeof w.verify_token !== 'string' || w.verify_token === '')
          throw graphError(100, '(#100) The parameter webhook_configuration[verify_token] is required.');
        // Meta calls the URL with hub.challenge first, as for the WABA override.
        const result = await core.webhooks.verifyCallback(uri, w.verify_token);
        if (!result.ok) {
          throw graphError(
            2200,
            `(#2200) Callback verification failed with the following errors: ${result.reason}`,
            {
              type: 'OAuthException',
            },
          );
        }
        override = { uri, token: w.verify_token };
      }
    }
    const surface = surfaceOf(phone);
    if (pin !== undefined) phone.pin = pin;
    if (name !== undefined) surface.displayNameRequest = { name, status: 'PENDING_REVIEW' };
    if (override !== undefined) {
      phone.webhookOverrideUrl = override?.uri;
      surface.webhookVerifyToken = override?.token;
    }
    changed(core);
    return c.json({ success: true });
  });
}

function healthInput(b: Record<string, unknown>): EntityHealth {
  const can = str(b, 'can_send_message');
  if (can !== 'AVAILABLE' && can !== 'LIMITED' && can !== 'BLOCKED')
    throw new ControlError('can_send_message: AVAILABLE, LIMITED or BLOCKED');
  const errors = b.errors ?? [];
  if (
    !Array.isArray(errors) ||
    errors.some((e) => typeof e?.error_code !== 'number' || typeof e?.error_description !== 'string')
  )
    throw new ControlError('errors: [{error_code, error_description, possible_solution?}]');
  return { canSendMessage: can, errors: errors as EntityHealth['errors'] };
}

/** Meta's side: the display name review outcome, and the health Meta reports. */
export function registerPhoneSettingsControlRoutes(app: Hono<EmuEnv>, core: EmulatorCore): void {
  app.post('/_emulator/phone-numbers/:id/display-name', async (c) => {
    const phone = core.state.phoneNumbers.get(c.req.param('id'));
    if (!phone) throw new ControlError(`no phone number ${c.req.param('id')}`, 404);
    const request = phone.surface?.displayNameRequest;
    if (request?.status !== 'PENDING_REVIEW')
      throw new ControlError('no display name change is pending', 409);
    const decision = str(await jsonBody(c, core.settings.maxBodyBytes), 'decision');
    if (decision !== 'APPROVED' && decision !== 'DECLINED')
      throw new ControlError('decision: APPROVED or DECLINED');
    request.status = decision;
    if (decision === 'APPROVED') phone.verifiedName = request.name;
    changed(core);
    return c.json({
      new_display_name: request.name,
      new_name_status: decision,
      verified_name: phone.verifiedName,
    });
  });

  app.post('/_emulator/health/:id', async (c) => {
    const id = c.req.param('id');
    const target = core.state.phoneNumbers.get(id) ?? core.state.wabas.get(id);
    if (!target) throw new ControlError(`no phone number or WABA ${id}`, 404);
    const h = healthInput(await jsonBody(c, core.settings.maxBodyBytes));
    if ('wabaId' in target) surfaceOf(target).health = h;
    else target.health = h;
    changed(core);
    return c.json({ id, can_send_message: h.canSendMessage });
  });
}
