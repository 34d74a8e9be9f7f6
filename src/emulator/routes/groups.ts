import type { Hono, Next } from 'hono';
import { requireAccess } from '../access.js';
import {
  authenticate,
  type EmuContext,
  type EmuEnv,
  type EmulatorCore,
  fieldsParam,
  pickFields,
  requestParams,
  useWaba,
} from '../context.js';
import { jsonBody } from '../control-input.js';
import { graphError } from '../graph-errors.js';
import { base62, numericId } from '../ids.js';
import { page } from '../paging.js';
import type { GroupRecord } from '../surface-state.js';
import { ControlError, digitsOf } from '../world.js';
import { arrayParam, changed, MANAGEMENT, MESSAGING, mark, phoneRequest, required } from './shared.js';

/**
 * The Groups API (https://developers.facebook.com/docs/whatsapp/cloud-api/groups and the spec's group paths):
 * create (answered with a request id; the group arrives in a `group_lifecycle_update` webhook), list, info,
 * invite link, join requests, participants, settings, delete. Meta's limits: subject 128 characters, description
 * 2048, at most 8 participants per call and 8 in a group besides the business. The webhook payload shapes follow
 * Meta's groups webhook reference as far as the document shows them (UNVERIFIED in detail).
 */

const MAX_PARTICIPANTS = 8;
const INVITE_BASE = 'https://chat.whatsapp.com/';
const sec = (ms: number) => Math.floor(ms / 1000);

function groupEvent(core: EmulatorCore, g: GroupRecord, field: string, detail: Record<string, unknown>) {
  const phone = core.state.phoneNumbers.get(g.phoneNumberId);
  if (!phone) return;
  core.clock.schedule(core.clock.now(), () =>
    core.webhooks.emit([
      {
        wabaId: phone.wabaId,
        phoneNumberId: phone.id,
        field,
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: digitsOf(phone.displayPhoneNumber), phone_number_id: phone.id },
          groups: [{ timestamp: String(sec(core.clock.now())), group_id: g.id, ...detail }],
        },
      },
    ]),
  );
}

function requireWhatsApp(params: Record<string, string>): void {
  const mp = required(params, 'messaging_product');
  if (mp !== 'whatsapp')
    throw graphError(100, `(#100) Param messaging_product must be "whatsapp" - got "${mp.slice(0, 40)}".`);
}

function textParam(params: Record<string, string>, name: string, max: number): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  const text = v.trim();
  if ([...text].length > max)
    throw graphError(100, `(#100) Param ${name} must be at most ${max} characters.`);
  return text;
}

/** `participants: [{user: "+1650..."}]`: 1 to 8 users as phone numbers or wa_ids. */
function participantsParam(params: Record<string, string>): string[] {
  const list = arrayParam(params, 'participants');
  if (list.length < 1 || list.length > MAX_PARTICIPANTS) {
    throw graphError(100, `(#100) Param participants must have 1 to ${MAX_PARTICIPANTS} items.`);
  }
  return list.map((p) => {
    const user = (p as { user?: unknown })?.user;
    const digits = typeof user === 'string' ? user.replace(/^\+/, '') : '';
    if (!/^\d{6,20}$/.test(digits))
      throw graphError(100, '(#100) Param participants[].user must be a phone number or WhatsApp ID.');
    return digits;
  });
}

function groupInfo(g: GroupRecord): Record<string, unknown> {
  return {
    messaging_product: 'whatsapp',
    id: g.id,
    subject: g.subject,
    description: g.description,
    join_approval_mode: g.joinApprovalMode,
    suspended: g.suspended,
    creation_timestamp: sec(g.createdAtMs),
    participants: g.participants.map((wa_id) => ({ wa_id })),
    total_participant_count: g.participants.length,
  };
}

function addParticipant(core: EmulatorCore, g: GroupRecord, waId: string): void {
  if (g.participants.includes(waId)) return;
  if (g.participants.length >= MAX_PARTICIPANTS) {
    throw graphError(100, '(#100) Invalid parameter', {
      details: `A group has at most ${MAX_PARTICIPANTS} participants besides the business.`,
    });
  }
  g.participants.push(waId);
  groupEvent(core, g, 'group_participants_update', {
    type: 'group_participants_add',
    added_participants: [{ wa_id: waId }],
  });
}

export function registerGroupRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const s = core.state;
  const phoneFor = (c: EmuContext) => phoneRequest(core, c);
  /** The group named by `:id`, or undefined (the caller passes the request on). */
  const groupFor = async (c: EmuContext) => {
    const g = s.groups.get(c.req.param('id') as string);
    if (!g) return undefined;
    const phone = s.phoneNumbers.get(g.phoneNumberId);
    if (!phone) return undefined;
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    useWaba(core, c, phone.wabaId);
    requireAccess(core, p, [MESSAGING, MANAGEMENT], phone.wabaId);
    return { g, params };
  };
  app.post(`${prefix}/:id/groups`, async (c) => {
    mark(c, 'POST /{phone-number-id}/groups');
    const { params, phone } = await phoneFor(c);
    requireWhatsApp(params);
    const subject = textParam(params, 'subject', 128);
    if (!subject) throw graphError(100, '(#100) The parameter subject is required.');
    const mode = params.join_approval_mode ?? 'auto_approve';
    if (mode !== 'auto_approve' && mode !== 'approval_required') {
      throw graphError(
        100,
        `(#100) Param join_approval_mode must be one of {approval_required, auto_approve} - got "${mode.slice(0, 40)}".`,
      );
    }
    const g: GroupRecord = {
      id: Buffer.from(`capi_group:${digitsOf(phone.displayPhoneNumber)}:${numericId(18)}`).toString(
        'base64url',
      ),
      phoneNumberId: phone.id,
      requestId: numericId(15),
      subject,
      description: textParam(params, 'description', 2048) ?? '',
      joinApprovalMode: mode,
      createdAtMs: core.clock.now(),
      participants: [],
      inviteCode: base62(22),
      joinRequests: [],
      suspended: false,
    };
    s.groups.set(g.id, g);
    changed(core);
    groupEvent(core, g, 'group_lifecycle_update', {
      type: 'group_create',
      request_id: g.requestId,
      subject: g.subject,
      description: g.description,
      invite_link: `${INVITE_BASE}${g.inviteCode}`,
      join_approval_mode: g.joinApprovalMode,
    });
    return c.json({ messaging_product: 'whatsapp', request_id: g.requestId });
  });

  app.get(`${prefix}/:id/groups`, async (c) => {
    mark(c, 'GET /{phone-number-id}/groups');
    const { params, phone } = await phoneFor(c);
    const list = [...s.groups.values()].filter((g) => g.phoneNumberId === phone.id);
    // The spec's shape: `data.groups[]` rather than a plain `data[]`.
    const out = page(
      list,
      params,
      (g) => ({ id: g.id, subject: g.subject, created_at: String(sec(g.createdAtMs)) }),
      c,
    );
    return c.json({ data: { groups: out.data }, paging: out.paging });
  });

  app.get(`${prefix}/:id/invite_link`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'GET /{group-id}/invite_link');
    const { g } = found;
    // A deleted link is replaced by a fresh one on the next read.
    if (!g.inviteCode) {
      g.inviteCode = base62(22);
      changed(core);
    }
    return c.json({ messaging_product: 'whatsapp', invite_link: `${INVITE_BASE}${g.inviteCode}` });
  });

  app.post(`${prefix}/:id/invite_link`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'POST /{group-id}/invite_link');
    requireWhatsApp(found.params);
    found.g.inviteCode = base62(22); // a reset: the old link stops working
    changed(core);
    return c.json({ messaging_product: 'whatsapp', invite_link: `${INVITE_BASE}${found.g.inviteCode}` });
  });

  app.delete(`${prefix}/:id/invite_link`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'DELETE /{group-id}/invite_link');
    requireWhatsApp(found.params);
    found.g.inviteCode = undefined;
    changed(core);
    return c.json({ messaging_product: 'whatsapp', success: true });
  });

  app.get(`${prefix}/:id/join_requests`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'GET /{group-id}/join_requests');
    const render = (r: GroupRecord['joinRequests'][number]) => ({
      join_request_id: r.id,
      wa_id: r.waId,
      creation_timestamp: sec(r.createdAtMs),
    });
    return c.json(page(found.g.joinRequests, found.params, render, c));
  });

  const decide = (approve: boolean) => async (c: EmuContext, next: Next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, `${c.req.method} /{group-id}/join_requests`);
    const { g, params } = found;
    requireWhatsApp(params);
    const ids = arrayParam(params, 'join_requests');
    if (ids.length === 0) throw graphError(100, '(#100) Param join_requests must not be empty.');
    const done: string[] = [];
    const failed: Array<{ join_request_id: string; errors: unknown[] }> = [];
    for (const id of ids) {
      const r = g.joinRequests.find((x) => x.id === id);
      if (!r) {
        failed.push({
          join_request_id: String(id),
          errors: [{ code: 100, message: 'Join request not found' }],
        });
        continue;
      }
      if (approve) {
        try {
          addParticipant(core, g, r.waId);
        } catch {
          failed.push({ join_request_id: r.id, errors: [{ code: 100, message: 'The group is full' }] });
          continue;
        }
      }
      g.joinRequests = g.joinRequests.filter((x) => x !== r);
      done.push(r.id);
    }
    changed(core);
    const key = approve ? 'approved_join_requests' : 'rejected_join_requests';
    return c.json({
      messaging_product: 'whatsapp',
      [key]: done,
      ...(failed.length ? { failed_join_requests: failed } : {}),
    });
  };
  app.post(`${prefix}/:id/join_requests`, decide(true));
  app.delete(`${prefix}/:id/join_requests`, decide(false));

  app.post(`${prefix}/:id/participants`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'POST /{group-id}/participants');
    requireWhatsApp(found.params);
    const users = participantsParam(found.params);
    if (new Set([...found.g.participants, ...users]).size > MAX_PARTICIPANTS) {
      throw graphError(100, '(#100) Invalid parameter', {
        details: `A group has at most ${MAX_PARTICIPANTS} participants besides the business.`,
      });
    }
    for (const u of users) addParticipant(core, found.g, u);
    changed(core);
    return c.json({ messaging_product: 'whatsapp', success: true });
  });

  app.delete(`${prefix}/:id/participants`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'DELETE /{group-id}/participants');
    requireWhatsApp(found.params);
    const users = participantsParam(found.params);
    const { g } = found;
    const missing = users.filter((u) => !g.participants.includes(u));
    if (missing.length) {
      throw graphError(100, '(#100) Invalid parameter', {
        details: `Not in the group: ${missing.join(', ')}.`,
      });
    }
    g.participants = g.participants.filter((u) => !users.includes(u));
    changed(core);
    groupEvent(core, g, 'group_participants_update', {
      type: 'group_participants_remove',
      removed_participants: users.map((wa_id) => ({ wa_id })),
    });
    return c.json({ messaging_product: 'whatsapp', success: true });
  });

  // The group node: GET info, POST settings, DELETE. Other ids pass on to the next module.
  app.get(`${prefix}/:id`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'GET /{group-id}');
    return c.json(pickFields(groupInfo(found.g), fieldsParam(found.params)));
  });

  app.post(`${prefix}/:id`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'POST /{group-id}');
    const { g, params } = found;
    requireWhatsApp(params);
    const subject = textParam(params, 'subject', 128);
    const description = textParam(params, 'description', 2048);
    if (subject === undefined && description === undefined) {
      throw graphError(100, '(#100) Nothing to update: pass subject, description or a profile picture.');
    }
    if (subject !== undefined && !subject) throw graphError(100, '(#100) Param subject must not be empty.');
    if (subject !== undefined) g.subject = subject;
    if (description !== undefined) g.description = description;
    changed(core);
    groupEvent(core, g, 'group_settings_update', {
      type: 'group_settings_update',
      ...(subject !== undefined ? { subject } : {}),
      ...(description !== undefined ? { description } : {}),
    });
    return c.json({ success: true });
  });

  app.delete(`${prefix}/:id`, async (c, next) => {
    const found = await groupFor(c);
    if (!found) return next();
    mark(c, 'DELETE /{group-id}');
    s.groups.delete(found.g.id);
    changed(core);
    groupEvent(core, found.g, 'group_lifecycle_update', { type: 'group_delete' });
    return c.json({ success: true });
  });
}

/** Control route (`/_emulator`): a WhatsApp user opens a group's invite link (joins, or asks to join). */
export function registerGroupControlRoutes(app: Hono<EmuEnv>, core: EmulatorCore): void {
  const s = core.state;
  app.post('/_emulator/groups/:id/join', async (c) => {
    const g = s.groups.get(c.req.param('id'));
    if (!g) throw new ControlError(`no group ${c.req.param('id')}`, 404);
    const body = await jsonBody(c, core.settings.maxBodyBytes);
    const waId = typeof body.wa_id === 'string' ? body.wa_id.replace(/^\+/, '') : '';
    if (!/^\d{6,20}$/.test(waId)) throw new ControlError("wa_id: the joining user's WhatsApp id");
    if (
      !g.inviteCode ||
      (body.invite_link !== undefined && body.invite_link !== `${INVITE_BASE}${g.inviteCode}`)
    ) {
      throw new ControlError('the invite link was reset or deleted', 410);
    }
    if (g.joinApprovalMode === 'auto_approve') {
      addParticipant(core, g, waId);
      changed(core);
      return c.json({ joined: true });
    }
    const request = {
      id: Buffer.from(`${waId}:${numericId(15)}`).toString('base64url'),
      waId,
      createdAtMs: core.clock.now(),
    };
    g.joinRequests.push(request);
    changed(core);
    groupEvent(core, g, 'group_participants_update', {
      type: 'group_join_request_created',
      join_request_id: request.id,
      wa_id: waId,
    });
    return c.json({ joined: false, join_request_id: request.id });
  });
}
