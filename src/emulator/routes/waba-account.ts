import type { Hono } from 'hono';
import { requireAccess } from '../access.js';
import { authenticate, type EmuEnv, type EmulatorCore, requestParams } from '../context.js';
import { graphError } from '../graph-errors.js';
import { changed, MANAGEMENT, mark, wabaOr404 } from './shared.js';

/**
 * `POST /{waba-id}`: the account's `name` and `timezone_id` (the spec's examples). Graph timezone ids are small
 * integers (0 to 500 here; Meta's exact upper bound is UNVERIFIED). `GET /{waba-id}` is in graph-routes.ts.
 */
const MAX_NAME = 512;
const MAX_TIMEZONE_ID = 500;

export function registerWabaAccountRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
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
