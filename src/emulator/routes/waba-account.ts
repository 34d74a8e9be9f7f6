import type { Hono } from 'hono';
import { requireAccess } from '../access.js';
import { authenticate, type EmuContext, type EmuEnv, type EmulatorCore, requestParams } from '../context.js';
import { graphError } from '../graph-errors.js';
import type { WabaRecord } from '../state.js';
import { arrayParam, changed, MANAGEMENT, mark, required, wabaOr404 } from './shared.js';

/**
 * `POST /{waba-id}`: the account's `name` and `timezone_id` (the spec's examples). Graph timezone ids are small
 * integers (0 to 500 here; Meta's exact upper bound is UNVERIFIED). `GET /{waba-id}` is in graph-routes.ts.
 */
const MAX_NAME = 512;
const MAX_TIMEZONE_ID = 500;

/** The tasks Meta's document lists for `assigned_users`. */
const TASKS = new Set([
  'MANAGE',
  'DEVELOP',
  'MANAGE_TEMPLATES',
  'MANAGE_PHONE',
  'VIEW_COST',
  'MANAGE_EXTENSIONS',
  'VIEW_PHONE_ASSETS',
  'MANAGE_PHONE_ASSETS',
  'VIEW_TEMPLATES',
  'VIEW_INSIGHTS',
  'FULL_CONTROL',
]);

/** A user or system user of the WABA's business, with its list of assigned WABAs (what access checks read). */
function member(core: EmulatorCore, waba: WabaRecord, id: string): { name: string; wabaIds: string[] } {
  const su = core.state.systemUsers.get(id);
  if (su?.businessId === waba.businessId) return su;
  const user = core.state.users.get(id);
  if (user?.businessIds.includes(waba.businessId)) return user;
  throw graphError(100, `(#100) User ${id} is not a person or system user of business ${waba.businessId}.`);
}

function registerAssignedUserRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const start = async (c: EmuContext, endpoint: string) => {
    mark(c, endpoint);
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id') as string);
    requireAccess(core, p, [MANAGEMENT], waba.id);
    return { params, waba };
  };
  app.get(`${prefix}/:id/assigned_users`, async (c) => {
    const { waba } = await start(c, 'GET /{waba-id}/assigned_users');
    // Everyone with access (also assets assigned elsewhere, e.g. the seed), with their tasks (MANAGE when unknown).
    const people = [...core.state.systemUsers.values(), ...core.state.users.values()];
    const data = people
      .filter((u) => u.wabaIds.includes(waba.id))
      .map((u) => ({ id: u.id, name: u.name, tasks: waba.assignedTasks?.[u.id] ?? ['MANAGE'] }));
    return c.json({ data });
  });
  app.post(`${prefix}/:id/assigned_users`, async (c) => {
    const { params, waba } = await start(c, 'POST /{waba-id}/assigned_users');
    const who = member(core, waba, required(params, 'user'));
    const tasks = arrayParam(params, 'tasks');
    if (tasks.length === 0 || tasks.some((t) => typeof t !== 'string' || !TASKS.has(t)))
      throw graphError(100, `(#100) Param tasks must be a non-empty array of ${[...TASKS].join(', ')}.`);
    waba.assignedTasks = { ...waba.assignedTasks, [params.user as string]: [...new Set(tasks as string[])] };
    if (!who.wabaIds.includes(waba.id)) who.wabaIds.push(waba.id);
    changed(core);
    return c.json({ success: true });
  });
  app.delete(`${prefix}/:id/assigned_users`, async (c) => {
    const { params, waba } = await start(c, 'DELETE /{waba-id}/assigned_users');
    const id = required(params, 'user');
    const who = member(core, waba, id);
    if (!who.wabaIds.includes(waba.id))
      throw graphError(100, `(#100) User ${id} is not assigned to this account.`);
    if (waba.assignedTasks) delete waba.assignedTasks[id];
    who.wabaIds = who.wabaIds.filter((w) => w !== waba.id);
    changed(core);
    return c.json({ success: true });
  });
}

export function registerWabaAccountRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  registerAssignedUserRoutes(app, core, prefix);
  app.post(`${prefix}/:id`, async (c, next) => {
    if (core.state.kindOf(c.req.param('id')) !== 'waba') return next();
    mark(c, 'POST /{waba-id}');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], waba.id);
    const { name, timezone_id: tz } = params;
    if (name === undefined && tz === undefined) throw graphError(100, '(#100) Pass name or timezone_id.');
    if (name !== undefined && (!name.trim() || [...name].length > MAX_NAME))
      throw graphError(100, `(#100) Param name must be non-empty text of at most ${MAX_NAME} characters.`);
    if (tz !== undefined && (!/^\d{1,3}$/.test(tz) || Number(tz) > MAX_TIMEZONE_ID))
      throw graphError(100, '(#100) Param timezone_id must be a valid timezone id.');
    if (name !== undefined) waba.name = name.trim();
    if (tz !== undefined) waba.timezoneId = String(Number(tz));
    changed(core);
    return c.json({ success: true });
  });
}
