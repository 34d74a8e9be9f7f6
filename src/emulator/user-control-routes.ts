import type { Hono } from 'hono';
import type { EmuEnv, EmulatorCore } from './context.js';
import { bool, type Json, jsonBody, str } from './control-input.js';
import { numberChangeEvents } from './events.js';
import type { WaUserRecord } from './state.js';
import { bsuidFor, parentBsuidFor } from './user-ids.js';
import { ControlError, digitsOf } from './world.js';

/**
 * Control routes for WhatsApp users' 2026 identities: describe a user (name, username, whether Meta withholds their
 * phone number from webhooks) and turn parent BSUIDs on for a business portfolio. Registered by
 * registerControlRoutes before its catch-all.
 */
export function registerUserControlRoutes(app: Hono<EmuEnv>, core: EmulatorCore, base: string): void {
  const s = core.state;

  app.post(`${base}/whatsapp-users`, async (c) => {
    const b = await jsonBody(c, core.settings.maxBodyBytes);
    const phone = digitsOf(str(b, 'phone') ?? '');
    if (phone.length < 5 || phone.length > 15)
      throw new ControlError('phone must be the user phone number (digits)');
    const username = str(b, 'username');
    if (username !== undefined && !/^[A-Za-z0-9._]{3,35}$/.test(username)) {
      throw new ControlError('username must be 3-35 letters, digits, dots or underscores');
    }
    const previous = s.waUsers.get(phone);
    const record: WaUserRecord = {
      phone,
      name: str(b, 'name') ?? previous?.name,
      username: b.username === null ? undefined : (username ?? previous?.username),
      // A username user's number is withheld unless the business has it: the default once a username is set.
      withholdPhone:
        bool(b, 'withhold_phone') ?? (username !== undefined ? true : (previous?.withholdPhone ?? false)),
    };
    s.waUsers.set(phone, record);
    s.touch();
    core.persist();
    return c.json(view(record), previous ? 200 : 201);
  });

  app.get(`${base}/whatsapp-users/:phone`, (c) => {
    const phone = digitsOf(c.req.param('phone'));
    const record = s.waUsers.get(phone) ?? {
      phone,
      name: undefined,
      username: undefined,
      withholdPhone: false,
    };
    return c.json(view(record));
  });

  app.post(`${base}/whatsapp-users/:phone/change-number`, async (c) => {
    const b = await jsonBody(c, core.settings.maxBodyBytes);
    const from = digitsOf(c.req.param('phone'));
    const to = digitsOf(str(b, 'new_phone') ?? '');
    if (from.length < 5 || to.length < 5 || from === to) {
      throw new ControlError('new_phone must be the user new phone number (digits), not the current one');
    }
    const phoneId = str(b, 'phone_number_id') ?? s.seed?.phoneNumberId;
    const phone = phoneId ? s.phoneNumbers.get(phoneId) : undefined;
    if (!phone) throw new ControlError(`no phone number ${phoneId ?? '(phone_number_id is required)'}`, 404);
    // The number's allow-lists and the user's record follow the user to the new number.
    const record = s.waUsers.get(from);
    if (record) {
      s.waUsers.delete(from);
      s.waUsers.set(to, { ...record, phone: to });
    }
    for (const p of s.phoneNumbers.values()) {
      if (p.allowedRecipients.includes(from) && !p.allowedRecipients.includes(to))
        p.allowedRecipients.push(to);
    }
    s.touch();
    core.persist();
    const events = numberChangeEvents(core, phone, from, to);
    return c.json({
      webhook_targets: core.webhooks.emit(events),
      payload_values: events.map((e) => e.value),
    });
  });

  app.post(`${base}/businesses/:id/parent-bsuids`, async (c) => {
    const id = c.req.param('id');
    if (!s.businesses.has(id)) throw new ControlError(`no business ${id}`, 404);
    const enabled = bool(await jsonBody(c, core.settings.maxBodyBytes), 'enabled') ?? true;
    if (enabled) s.parentBsuidBusinesses.add(id);
    else s.parentBsuidBusinesses.delete(id);
    s.touch();
    core.persist();
    return c.json({ business_id: id, parent_bsuids: enabled });
  });

  /** The user and their BSUID in every business portfolio (and the parent BSUID, for portfolios that enable it). */
  function view(r: WaUserRecord): Json {
    return {
      phone: r.phone,
      name: r.name ?? null,
      username: r.username ?? null,
      withhold_phone: r.withholdPhone,
      bsuids: Object.fromEntries([...s.businesses.keys()].map((id) => [id, bsuidFor(id, r.phone)])),
      parent_bsuid: parentBsuidFor(r.phone),
    };
  }
}
