import { requireAccess, unknownObject } from '../access.js';
import { authenticate, type EmuContext, type EmulatorCore, requestParams, useWaba } from '../context.js';
import { graphError } from '../graph-errors.js';
import type { PhoneNumberRecord, WabaRecord } from '../state.js';

/** Helpers every per-area route module (routes/*.ts) uses. */

export const MESSAGING = 'whatsapp_business_messaging';
export const MANAGEMENT = 'whatsapp_business_management';

/** Names the endpoint for logs, metrics and usage (`surface` decides the error shape). */
export function mark(c: EmuContext, endpoint: string): void {
  c.set('endpoint', endpoint);
  c.set('surface', 'whatsapp');
}

/** Marks the state changed and schedules the state file write. */
export function changed(core: EmulatorCore): void {
  core.state.touch();
  core.persist();
}

export function phoneOr404(core: EmulatorCore, c: EmuContext, id: string): PhoneNumberRecord {
  const phone = core.state.phoneNumbers.get(id);
  if (!phone) throw unknownObject(c.req.method, id);
  useWaba(core, c, phone.wabaId);
  return phone;
}

export function wabaOr404(core: EmulatorCore, c: EmuContext, id: string): WabaRecord {
  const waba = core.state.wabas.get(id);
  if (!waba) throw unknownObject(c.req.method, id);
  useWaba(core, c, waba.id);
  return waba;
}

/**
 * The usual start of a `/{phone-number-id}/<edge>` handler: parameters, authentication, the number (404 when
 * unknown) and the permission check on its WABA.
 */
export async function phoneRequest(
  core: EmulatorCore,
  c: EmuContext,
  scopes: string[] = [MESSAGING, MANAGEMENT],
): Promise<{ params: Record<string, string>; phone: PhoneNumberRecord }> {
  const params = await requestParams(c, core.settings.maxBodyBytes);
  const p = authenticate(core, c, params);
  const phone = phoneOr404(core, c, c.req.param('id') as string);
  requireAccess(core, p, scopes, phone.wabaId);
  return { params, phone };
}

/** A required parameter, or Graph's `(#100) The parameter X is required.` */
export function required(params: Record<string, string>, name: string): string {
  const v = params[name];
  if (v === undefined || v === '') throw graphError(100, `(#100) The parameter ${name} is required.`);
  return v;
}

/** A JSON parameter (bodies arrive as JSON text per key, see requestParams), or #100 naming it. */
export function jsonParam(params: Record<string, string>, name: string): unknown {
  const v = params[name];
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    // A plain string value (form-encoded bodies) is the value itself.
    return v;
  }
}

/** A list parameter that must be a JSON array. */
export function arrayParam(params: Record<string, string>, name: string): unknown[] {
  const v = jsonParam(params, name);
  if (!Array.isArray(v)) throw graphError(100, `(#100) Param ${name} must be an array.`);
  return v;
}

/** Graph's invalid-parameter error with the user-facing title and message Meta adds for template problems. */
export function invalidParameter(userMessage: string, extra: { subcode?: number; userTitle?: string } = {}) {
  return graphError(100, '(#100) Invalid parameter', {
    ...(extra.subcode ? { subcode: extra.subcode } : {}),
    userTitle: extra.userTitle ?? 'Invalid parameter',
    userMessage,
  });
}
