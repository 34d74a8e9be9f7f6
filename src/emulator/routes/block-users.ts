import type { Hono } from 'hono';
import type { EmuContext, EmuEnv, EmulatorCore } from '../context.js';
import { graphError } from '../graph-errors.js';
import { page } from '../paging.js';
import { surfaceOf } from '../surface-state.js';
import { arrayParam, changed, mark, phoneRequest, required } from './shared.js';

/**
 * Block users (https://developers.facebook.com/docs/whatsapp/cloud-api/block-users): block, unblock, list.
 * Each user given is reported back as added/removed or failed with its own error, as Meta does. Not modelled:
 * Meta's rule that only users who wrote in the last 24 hours can be blocked (the emulator keeps no inbound log).
 */

const MAX_PER_CALL = 1000;

function usersParam(params: Record<string, string>): string[] {
  if (required(params, 'messaging_product') !== 'whatsapp') {
    throw graphError(100, '(#100) Param messaging_product must be "whatsapp".');
  }
  const list = arrayParam(params, 'block_users');
  if (list.length === 0 || list.length > MAX_PER_CALL) {
    throw graphError(100, `(#100) Param block_users must have 1 to ${MAX_PER_CALL} items.`);
  }
  return list.map((u) => {
    const user = (u as { user?: unknown })?.user;
    if (typeof user !== 'string') throw graphError(100, '(#100) Param block_users[].user is required.');
    return user;
  });
}

export function registerBlockUserRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const phoneFor = (c: EmuContext) => phoneRequest(core, c);

  app.get(`${prefix}/:id/block_users`, async (c) => {
    mark(c, 'GET /{phone-number-id}/block_users');
    const { params, phone } = await phoneFor(c);
    const items = surfaceOf(phone).blockedUsers.map((id) => ({ id }));
    return c.json(page(items, params, (u) => ({ messaging_product: 'whatsapp', wa_id: u.id }), c));
  });

  const change = (block: boolean) => async (c: EmuContext) => {
    mark(c, `${c.req.method} /{phone-number-id}/block_users`);
    const { params, phone } = await phoneFor(c);
    const blocked = surfaceOf(phone).blockedUsers;
    const done: Array<{ input: string; wa_id: string }> = [];
    const failed: Array<{ input: string; errors: unknown[] }> = [];
    for (const input of usersParam(params)) {
      const waId = input.replace(/^\+/, '');
      if (!/^\d{6,20}$/.test(waId)) {
        failed.push({
          input,
          errors: [{ code: 100, message: 'Invalid user: a phone number or WhatsApp ID' }],
        });
      } else if (!block && !blocked.includes(waId)) {
        failed.push({ input, errors: [{ code: 100, message: 'The user is not blocked' }] });
      } else {
        if (block && !blocked.includes(waId)) blocked.push(waId);
        if (!block) blocked.splice(blocked.indexOf(waId), 1);
        done.push({ input, wa_id: waId });
      }
    }
    changed(core);
    const key = block ? 'added_users' : 'removed_users';
    return c.json({
      messaging_product: 'whatsapp',
      block_users: { [key]: done, ...(failed.length ? { failed_users: failed } : {}) },
    });
  };
  app.post(`${prefix}/:id/block_users`, change(true));
  app.delete(`${prefix}/:id/block_users`, change(false));
}
