import type { EmulatorCore } from './context.js';
import { type EmulatorGraphError, graphError } from './graph-errors.js';
import type { Principal } from './tokens.js';

/** `Unsupported get request. Object with ID '…' does not exist…` (code 100, subcode 33), Graph's answer for unknown ids. */
export function unknownObject(method: string, id: string): EmulatorGraphError {
  return graphError(
    100,
    `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
    { subcode: 33, type: 'GraphMethodException' },
  );
}

/** Permission (scope) and asset checks: 200 for a missing permission, 10 for an asset the token was not granted. */
export function requireAccess(core: EmulatorCore, p: Principal, scopes: string[], wabaId: string): void {
  // Plain loops: this runs on every send.
  let scoped = false;
  if (p.kind === 'app') {
    // An app access token speaks for the app, not for a user or system user a WABA granted access to: Meta refuses
    // it on WhatsApp Business endpoints. Its exact answer is UNVERIFIED: by default the one a token without the
    // permission gets (app tokens carry no granted permissions); `appTokenError` sets another.
    const e = core.settings.appTokenError;
    if (e) throw graphError(e.code, e.message, { subcode: e.subcode, type: e.type });
  } else for (const s of scopes) if (core.tokens.hasScope(p, s)) scoped = true;
  if (!scoped) {
    throw graphError(200, `Requires ${scopes.join(' or ')} permission`, { subcode: 1349176 });
  }
  let granted = false;
  for (const s of scopes) if (core.tokens.grantsAsset(p, s, wabaId)) granted = true;
  if (!granted) {
    throw graphError(10, '(#10) Application does not have permission for this action', {
      userMessage: `This access token was not granted access to WhatsApp Business Account ${wabaId}.`,
    });
  }
  if (p.kind === 'system_user' || p.kind === 'business_integration') {
    const su = core.state.systemUsers.get(p.subjectId);
    if (su && !su.wabaIds.includes(wabaId)) {
      throw graphError(10, '(#10) Application does not have permission for this action', {
        userMessage: `System user ${su.id} is not assigned WhatsApp Business Account ${wabaId}.`,
      });
    }
  }
}
