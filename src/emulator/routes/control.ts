import type { Hono } from 'hono';
import type { EmuEnv, EmulatorCore } from '../context.js';
import { registerGroupControlRoutes } from './groups.js';

/** The control routes of the per-area modules: the emulated WhatsApp users' side (joining groups, calls). */
export function registerAreaControlRoutes(app: Hono<EmuEnv>, core: EmulatorCore): void {
  registerGroupControlRoutes(app, core);
}

/** Listed by `GET /_emulator` with the other control routes. */
export const AREA_CONTROL_ROUTES = [
  'POST   /_emulator/groups/:id/join {wa_id, invite_link?}  (a user opens the invite link: joins, or a join request)',
];
