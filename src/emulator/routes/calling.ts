import type { Hono } from 'hono';
import type { EmuContext, EmuEnv, EmulatorCore } from '../context.js';
import { jsonBody } from '../control-input.js';
import { graphError } from '../graph-errors.js';
import { base62 } from '../ids.js';
import type { PhoneNumberRecord } from '../state.js';
import { type CallRecord, surfaceOf } from '../surface-state.js';
import { businessOf, contactEntry, userByPhone } from '../user-ids.js';
import { ControlError, digitsOf } from '../world.js';
import { changed, jsonParam, mark, phoneRequest, required } from './shared.js';

/**
 * The Calling API (https://developers.facebook.com/docs/whatsapp/cloud-api/calling and the spec's /calls,
 * /call_permissions, /settings): number settings, call permissions, and `POST /{phone}/calls` with the actions
 * connect (business-initiated, SDP offer), pre_accept / accept (SDP answer) / reject for user-initiated calls,
 * terminate for any. The emulator plays the WhatsApp user through control routes (call the business, answer,
 * decline, hang up, grant permission) and sends the `calls` webhooks Meta sends. Meta's calling error codes
 * used here: 138006 (no call permission from the user); 138000 for calling not enabled on the number is
 * UNVERIFIED. Settings other than `calling` are stored and echoed (payload encryption, storage, identity change).
 */

const sec = (ms: number) => Math.floor(ms / 1000);
const PERMISSION_MS = 7 * 86_400_000; // a granted permission lasts 7 days (Meta's calling permission docs)
const SETTINGS = ['calling', 'payload_encryption', 'user_identity_change', 'storage_configuration'] as const;

function callWebhook(core: EmulatorCore, phone: PhoneNumberRecord, value: Record<string, unknown>): void {
  core.clock.schedule(core.clock.now(), () =>
    core.webhooks.emit([
      {
        wabaId: phone.wabaId,
        phoneNumberId: phone.id,
        field: 'calls',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: digitsOf(phone.displayPhoneNumber), phone_number_id: phone.id },
          ...value,
        },
      },
    ]),
  );
}

function callEvent(
  core: EmulatorCore,
  phone: PhoneNumberRecord,
  call: CallRecord,
  event: string,
  extra = {},
) {
  const business = digitsOf(phone.displayPhoneNumber);
  const out = call.direction === 'USER_INITIATED';
  // The 2026 contact shape, as on messages: user_id (BSUID) always, wa_id only when the user shares it.
  const user = userByPhone(core, businessOf(core, phone), call.waId);
  callWebhook(core, phone, {
    contacts: [contactEntry(user, { name: 'WhatsApp User', username: true })],
    calls: [
      {
        id: call.id,
        from: out ? call.waId : business,
        to: out ? business : call.waId,
        event,
        timestamp: String(sec(core.clock.now())),
        direction: call.direction,
        ...(call.bizOpaqueCallbackData ? { biz_opaque_callback_data: call.bizOpaqueCallbackData } : {}),
        ...extra,
      },
    ],
  });
}

function statusEvent(core: EmulatorCore, phone: PhoneNumberRecord, call: CallRecord, status: string): void {
  callWebhook(core, phone, {
    statuses: [
      {
        id: call.id,
        timestamp: String(sec(core.clock.now())),
        type: 'call',
        status,
        recipient_id: call.waId,
      },
    ],
  });
}

/** An SDP body as WebRTC writes it: `v=0` first, at least one audio media line. */
function sessionParam(params: Record<string, string>, expected: 'offer' | 'answer'): string {
  const session = jsonParam(params, 'session') as { sdp_type?: unknown; sdp?: unknown } | undefined;
  if (!session || typeof session !== 'object')
    throw graphError(100, '(#100) The parameter session is required.');
  if (session.sdp_type !== expected) {
    throw graphError(100, `(#100) Param session.sdp_type must be "${expected}" for this action.`);
  }
  const sdp = session.sdp;
  if (typeof sdp !== 'string' || !/^v=0\r?\n/.test(sdp) || !/\nm=audio /.test(sdp)) {
    throw graphError(100, '(#100) Param session.sdp must be an SDP description (v=0 ... m=audio ...).');
  }
  return sdp;
}

/** The emulated user's SDP: a minimal audio description, like a WhatsApp client's. */
function userSdp(kind: 'offer' | 'answer'): string {
  return [
    'v=0',
    `o=- ${Date.now()} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'c=IN IP4 0.0.0.0',
    `a=setup:${kind === 'offer' ? 'actpass' : 'active'}`,
    'a=rtpmap:111 opus/48000/2',
    '',
  ].join('\n');
}

function findCall(core: EmulatorCore, phone: PhoneNumberRecord, callId: string): CallRecord {
  const call = core.state.calls.get(callId);
  if (!call || call.phoneNumberId !== phone.id) {
    throw graphError(100, '(#100) Invalid parameter', {
      details: `Call ${callId.slice(0, 80)} does not exist on this number.`,
    });
  }
  return call;
}

function end(
  core: EmulatorCore,
  phone: PhoneNumberRecord,
  call: CallRecord,
  status: CallRecord['status'],
): void {
  const now = core.clock.now();
  call.status = status;
  call.endedAtMs = now;
  changed(core);
  const connected = call.connectedAtMs;
  callEvent(core, phone, call, 'terminate', {
    status: status === 'COMPLETED' ? 'Completed' : 'Failed',
    ...(connected
      ? { start_time: String(sec(connected)), end_time: String(sec(now)), duration: sec(now - connected) }
      : {}),
  });
}

function permissionOf(phone: PhoneNumberRecord, waId: string, nowMs: number): 'granted' | 'no_permission' {
  const until = surfaceOf(phone).callPermissions[waId];
  return until !== undefined && until > nowMs ? 'granted' : 'no_permission';
}

export function registerCallingRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const phoneFor = (c: EmuContext) => phoneRequest(core, c);

  app.get(`${prefix}/:id/settings`, async (c) => {
    mark(c, 'GET /{phone-number-id}/settings');
    const { phone } = await phoneFor(c);
    const { calling } = surfaceOf(phone);
    const stored = surfaceOf(phone).settings ?? {};
    return c.json({
      calling: { call_icon_visibility: 'visible', callback_permission_status: 'disabled', ...calling },
      payload_encryption: stored.payload_encryption ?? { status: 'disabled' },
      storage_configuration: stored.storage_configuration ?? { status: 'default' },
      ...(stored.user_identity_change ? { user_identity_change: stored.user_identity_change } : {}),
    });
  });

  app.post(`${prefix}/:id/settings`, async (c) => {
    mark(c, 'POST /{phone-number-id}/settings');
    const { params, phone } = await phoneFor(c);
    const given = SETTINGS.filter((k) => params[k] !== undefined);
    if (given.length === 0) throw graphError(100, `(#100) Pass one of ${SETTINGS.join(', ')}.`);
    const surface = surfaceOf(phone);
    const other = { ...surface.settings };
    let calling = { ...surface.calling };
    for (const k of given) {
      const v = jsonParam(params, k);
      if (!v || typeof v !== 'object' || Array.isArray(v))
        throw graphError(100, `(#100) Param ${k} must be an object.`);
      const o = v as Record<string, unknown>;
      if (o.status !== undefined && o.status !== 'enabled' && o.status !== 'disabled') {
        throw graphError(100, `(#100) Param ${k}.status must be one of {enabled, disabled}.`);
      }
      if (k === 'calling') {
        if (o.status === undefined) throw graphError(100, '(#100) Param calling.status is required.');
        calling = { ...calling, ...o };
      } else other[k] = o;
    }
    surface.calling = calling;
    surface.settings = other;
    changed(core);
    return c.json({ success: true });
  });

  app.get(`${prefix}/:id/call_permissions`, async (c) => {
    mark(c, 'GET /{phone-number-id}/call_permissions');
    const { params, phone } = await phoneFor(c);
    const waId = required(params, 'user_wa_id').replace(/^\+/, '');
    const now = core.clock.now();
    const status = permissionOf(phone, waId, now);
    const permission: Record<string, unknown> = { status };
    if (status === 'granted')
      permission.expiration_time = sec(surfaceOf(phone).callPermissions[waId] as number);
    return c.json({
      messaging_product: 'whatsapp',
      permission,
      actions: [
        { action_name: 'start_call', can_perform_action: status === 'granted' },
        { action_name: 'send_call_permission_request', can_perform_action: status !== 'granted' },
      ],
    });
  });

  app.post(`${prefix}/:id/calls`, async (c) => {
    mark(c, 'POST /{phone-number-id}/calls');
    const { params, phone } = await phoneFor(c);
    if (required(params, 'messaging_product') !== 'whatsapp') {
      throw graphError(100, '(#100) Param messaging_product must be "whatsapp".');
    }
    const action = required(params, 'action');
    const now = core.clock.now();
    if (action === 'connect') {
      if (surfaceOf(phone).calling.status !== 'enabled') {
        throw graphError(138000, '(#138000) Calling is not enabled for this phone number', {
          details: 'Enable it with POST /{phone-number-id}/settings {"calling": {"status": "enabled"}}.',
        });
      }
      const waId = required(params, 'to').replace(/^\+/, '');
      if (!/^\d{6,20}$/.test(waId))
        throw graphError(100, '(#100) Param to must be a phone number or WhatsApp ID.');
      const sdp = sessionParam(params, 'offer');
      if (permissionOf(phone, waId, now) !== 'granted') {
        throw graphError(138006, '(#138006) No approved call permission from the recipient', {
          details: 'Ask the user for call permission first (a call permission request message).',
        });
      }
      const call: CallRecord = {
        id: `wacid.${base62(32)}`,
        phoneNumberId: phone.id,
        waId,
        direction: 'BUSINESS_INITIATED',
        status: 'RINGING',
        businessSdp: sdp,
        userSdp: undefined,
        createdAtMs: now,
        connectedAtMs: undefined,
        endedAtMs: undefined,
        bizOpaqueCallbackData: params.biz_opaque_callback_data?.slice(0, 512),
      };
      core.state.calls.set(call.id, call);
      changed(core);
      statusEvent(core, phone, call, 'RINGING');
      return c.json({ messaging_product: 'whatsapp', calls: [{ id: call.id }] });
    }
    if (!['pre_accept', 'accept', 'reject', 'terminate'].includes(action)) {
      throw graphError(
        100,
        `(#100) Param action must be one of {connect, pre_accept, accept, reject, terminate} - got "${action.slice(0, 40)}".`,
      );
    }
    const call = findCall(core, phone, required(params, 'call_id'));
    if (call.endedAtMs !== undefined) {
      throw graphError(100, '(#100) Invalid parameter', { details: `Call ${call.id} has already ended.` });
    }
    if (action === 'terminate') {
      end(core, phone, call, call.connectedAtMs ? 'COMPLETED' : 'FAILED');
      return c.json({ success: true });
    }
    // pre_accept, accept and reject answer a call the user placed, before it is accepted.
    if (call.direction !== 'USER_INITIATED' || call.status === 'ACCEPTED') {
      throw graphError(100, '(#100) Invalid parameter', {
        details: `${action} answers a ringing user-initiated call; call ${call.id} is ${call.direction} ${call.status}.`,
      });
    }
    if (action === 'reject') {
      call.status = 'REJECTED';
      call.endedAtMs = now;
      changed(core);
      callEvent(core, phone, call, 'terminate', { status: 'Failed' });
      return c.json({ success: true });
    }
    call.businessSdp = sessionParam(params, 'answer');
    call.status = action === 'accept' ? 'ACCEPTED' : 'PRE_ACCEPTED';
    if (action === 'accept') call.connectedAtMs = now;
    changed(core);
    return c.json({ success: true });
  });
}

/** Control routes: the WhatsApp user's side of calls. */
export function registerCallingControlRoutes(app: Hono<EmuEnv>, core: EmulatorCore): void {
  const s = core.state;
  const phoneOf = (id: unknown) => {
    const phoneId = typeof id === 'string' ? id : s.seed?.phoneNumberId;
    const phone = phoneId ? s.phoneNumbers.get(phoneId) : undefined;
    if (!phone) throw new ControlError('phone_number_id: no such number');
    return phone;
  };
  const waIdOf = (v: unknown) => {
    const waId = typeof v === 'string' ? v.replace(/^\+/, '') : '';
    if (!/^\d{6,20}$/.test(waId)) throw new ControlError("wa_id (or from): the user's WhatsApp id");
    return waId;
  };

  // The user grants (or revokes) call permission to the business.
  app.post('/_emulator/call-permissions', async (c) => {
    const b = await jsonBody(c, core.settings.maxBodyBytes);
    const phone = phoneOf(b.phone_number_id);
    const waId = waIdOf(b.wa_id);
    const perms = surfaceOf(phone).callPermissions;
    if (b.status === 'revoked') delete perms[waId];
    else perms[waId] = core.clock.now() + PERMISSION_MS;
    changed(core);
    return c.json({ wa_id: waId, status: b.status === 'revoked' ? 'no_permission' : 'granted' });
  });

  // The user calls the business: a `calls` webhook with the user's SDP offer.
  app.post('/_emulator/calls', async (c) => {
    const b = await jsonBody(c, core.settings.maxBodyBytes);
    const phone = phoneOf(b.phone_number_id);
    const offer = userSdp('offer');
    const call: CallRecord = {
      id: `wacid.${base62(32)}`,
      phoneNumberId: phone.id,
      waId: waIdOf(b.from),
      direction: 'USER_INITIATED',
      status: 'RINGING',
      businessSdp: undefined,
      userSdp: offer,
      createdAtMs: core.clock.now(),
      connectedAtMs: undefined,
      endedAtMs: undefined,
      bizOpaqueCallbackData: undefined,
    };
    s.calls.set(call.id, call);
    changed(core);
    callEvent(core, phone, call, 'connect', { session: { sdp_type: 'offer', sdp: offer } });
    return c.json({ call_id: call.id, sdp: offer });
  });

  // The user answers, declines or hangs up a call.
  app.post('/_emulator/calls/:id/:action', async (c) => {
    const call = s.calls.get(c.req.param('id'));
    if (!call) throw new ControlError(`no call ${c.req.param('id')}`, 404);
    const phone = phoneOf(call.phoneNumberId);
    const action = c.req.param('action');
    if (call.endedAtMs !== undefined) throw new ControlError(`call ${call.id} has ended`, 409);
    if (action === 'answer' || action === 'decline') {
      if (call.direction !== 'BUSINESS_INITIATED' || call.status !== 'RINGING') {
        throw new ControlError('only a ringing business-initiated call can be answered or declined', 409);
      }
      if (action === 'decline') {
        call.status = 'REJECTED';
        call.endedAtMs = core.clock.now();
        statusEvent(core, phone, call, 'REJECTED');
        callEvent(core, phone, call, 'terminate', { status: 'Failed' });
      } else {
        call.userSdp = userSdp('answer');
        call.status = 'ACCEPTED';
        call.connectedAtMs = core.clock.now();
        callEvent(core, phone, call, 'connect', { session: { sdp_type: 'answer', sdp: call.userSdp } });
        statusEvent(core, phone, call, 'ACCEPTED');
      }
      changed(core);
      return c.json({ call_id: call.id, status: call.status });
    }
    if (action === 'hangup') {
      end(core, phone, call, call.connectedAtMs ? 'COMPLETED' : 'FAILED');
      return c.json({ call_id: call.id, status: call.status });
    }
    throw new ControlError('action: answer, decline or hangup', 400);
  });
}
