import type { Hono } from 'hono';
import type { EmuEnv, EmulatorCore } from '../context.js';
import { registerCallingControlRoutes } from './calling.js';
import { registerGroupControlRoutes } from './groups.js';
import { registerPhoneSettingsControlRoutes } from './phone-settings.js';

/** The control routes of the per-area modules: the emulated WhatsApp users' side (joining groups, calls). */
export function registerAreaControlRoutes(app: Hono<EmuEnv>, core: EmulatorCore): void {
  registerGroupControlRoutes(app, core);
  registerCallingControlRoutes(app, core);
  registerPhoneSettingsControlRoutes(app, core);
}

/** Listed by `GET /_emulator` with the other control routes. */
export const AREA_CONTROL_ROUTES = [
  'POST   /_emulator/groups/:id/join {wa_id, invite_link?}  (a user opens the invite link: joins, or a join request)',
  'POST   /_emulator/call-permissions {wa_id, phone_number_id?, status?: granted|revoked}  (the user grants call permission)',
  'POST   /_emulator/calls {from, phone_number_id?}  (the user calls the business: calls webhook with an SDP offer)',
  'POST   /_emulator/calls/:id/:action  (action answer, decline or hangup: the user answers, declines or hangs up)',
  'POST   /_emulator/phone-numbers/:id/display-name {decision: APPROVED|DECLINED}  (Meta reviews a display name change)',
  'POST   /_emulator/health/:id {can_send_message: AVAILABLE|LIMITED|BLOCKED, errors?}  (health_status of a number or WABA)',
];
