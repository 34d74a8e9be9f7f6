import { createHash, createHmac } from 'node:crypto';
import type { Hono } from 'hono';
import { requireAccess, unknownObject } from './access.js';
import {
  authenticate,
  type EmuContext,
  type EmuEnv,
  type EmulatorCore,
  fieldsParam,
  pickFields,
  requestParams,
  tokenFrom,
  useApp,
  useWaba,
} from './context.js';
import { EmulatorGraphError, graphError, MSG } from './graph-errors.js';
import { registerBlockUserRoutes } from './routes/block-users.js';
import { registerCallingRoutes } from './routes/calling.js';
import { registerGroupRoutes } from './routes/groups.js';
import { registerMarketingMessageRoutes } from './routes/marketing-messages.js';
import { registerNumberSettingsRoutes } from './routes/number-settings.js';
import { healthStatus, phoneSettingsFields, registerPhoneSettingsRoutes } from './routes/phone-settings.js';
import { registerQrCodeRoutes } from './routes/qr-codes.js';
import { registerTemplateRoutes } from './routes/templates.js';
import { registerUploadRoutes } from './routes/uploads.js';
import { registerWabaAccountRoutes } from './routes/waba-account.js';
import type { AppRecord, OAuthCodeRecord, SystemUserRecord, TokenRecord } from './state.js';
import { type Principal, safeEqual } from './tokens.js';
import { mediaObject } from './whatsapp-routes.js';
import type { World } from './world.js';

const MANAGEMENT = 'whatsapp_business_management';
const MESSAGING = 'whatsapp_business_messaging';

const NODE_TYPES: Record<string, string> = {
  phone_number: 'WhatsAppBusinessPhoneNumber',
  waba: 'WhatsAppBusinessAccount',
  media: 'WhatsAppBusinessMedia',
  template: 'WhatsAppMessageTemplate',
  app: 'Application',
  business: 'Business',
  user: 'User',
  system_user: 'SystemUser',
};

const secOf = (ms: number): number => (ms > 0 ? Math.floor(ms / 1000) : 0);

/** The app behind `client_id` + `client_secret`, with Graph's errors (facts §1.3). */
function clientApp(core: EmulatorCore, params: Record<string, string>, needSecret = true): AppRecord {
  const clientId = params.client_id;
  if (!clientId) throw graphError(101, 'Missing client_id parameter.');
  const app = core.state.apps.get(clientId);
  if (!app || app.removed) throw graphError(101, 'Error validating application. Invalid application ID.');
  if (needSecret && (!params.client_secret || !safeEqual(params.client_secret, app.secret))) {
    throw graphError(1, 'Error validating client secret.');
  }
  return app;
}

function tokenResponse(record: TokenRecord, nowMs: number): Record<string, unknown> {
  const out: Record<string, unknown> = { access_token: record.value, token_type: 'bearer' };
  if (record.expiresAtMs > 0) out.expires_in = Math.max(0, Math.floor((record.expiresAtMs - nowMs) / 1000));
  return out;
}

/** Registers OAuth, debug_token, system-user and generic node routes under `prefix` (`/:version` or ''). */
export function registerGraphRoutes(
  app: Hono<EmuEnv>,
  core: EmulatorCore,
  world: World,
  prefix: string,
): void {
  // Per-area route modules first: each answers its own edges and object ids, and passes other ids on.
  registerTemplateRoutes(app, core, prefix);
  registerGroupRoutes(app, core, prefix);
  registerCallingRoutes(app, core, prefix);
  registerBlockUserRoutes(app, core, prefix);
  registerQrCodeRoutes(app, core, prefix);
  registerNumberSettingsRoutes(app, core, prefix);
  registerPhoneSettingsRoutes(app, core, prefix);
  registerUploadRoutes(app, core, prefix);
  registerWabaAccountRoutes(app, core, prefix);
  registerMarketingMessageRoutes(app, core, prefix);
  const s = core.state;
  const mark = (c: EmuContext, endpoint: string, surface: 'oauth' | 'graph' | 'whatsapp' = 'graph') => {
    c.set('endpoint', endpoint);
    c.set('surface', surface);
  };
  const changed = () => {
    s.touch();
    core.persist();
  };

  const accessToken = async (c: EmuContext) => {
    mark(c, `${c.req.method} /oauth/access_token`, 'oauth');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const grant = params.grant_type ?? (params.code !== undefined ? 'authorization_code' : undefined);
    c.set('endpoint', `${c.req.method} /oauth/access_token${grant ? ` grant_type=${grant}` : ''}`);
    const a = clientApp(core, params);
    const now = core.clock.now();
    switch (grant) {
      case 'client_credentials':
        return c.json({ access_token: core.tokens.appToken(a), token_type: 'bearer' });
      case 'fb_exchange_token':
        return c.json(exchange(a, params, now));
      case 'authorization_code':
        return c.json(codeExchange(a, params, now));
      case undefined:
        throw graphError(1, 'Missing authorization code');
      default:
        throw graphError(
          100,
          `(#100) Unsupported grant_type "${grant}": use authorization_code (code), fb_exchange_token or client_credentials.`,
        );
    }
  };

  /** `fb_exchange_token` (facts §2, §6.4). */
  function exchange(a: AppRecord, params: Record<string, string>, now: number): Record<string, unknown> {
    const value = params.fb_exchange_token;
    if (!value) throw graphError(100, '(#100) The parameter fb_exchange_token is required.');
    const r = core.tokens.resolve(value);
    if ('error' in r) throw new EmulatorGraphError({ ...r.error, wwwAuthenticate: 'invalid_token' });
    const { principal } = r;
    if (principal.app.id !== a.id) {
      throw graphError(
        100,
        `(#100) fb_exchange_token was issued to app ${principal.app.id}, not to client_id ${a.id}.`,
      );
    }
    const t = principal.token;
    if (!t)
      throw graphError(
        100,
        '(#100) fb_exchange_token must be a user or system user token, not an app token.',
      );
    const sixtyDays = params.set_token_expires_in_60_days === 'true';
    if (t.kind === 'system_user' || t.kind === 'business_integration') {
      if (!sixtyDays) return tokenResponse(t, now);
      const fresh = core.tokens.mint({
        kind: t.kind,
        appId: t.appId,
        subjectId: t.subjectId,
        scopes: t.scopes,
        targetIds: targetsOf(t),
        expiresInSec: core.tokens.ttl.systemUser60dSec,
        longLived: true,
        origin: 'exchange',
      });
      return tokenResponse(fresh, now);
    }
    if (t.kind !== 'user') return tokenResponse(t, now);
    if (t.longLived) {
      // Historical Meta doc: a long-lived token comes back unchanged (facts §2; UNVERIFIED today, configurable).
      if (core.settings.longLivedReexchange === 'same-token') return tokenResponse(t, now);
      const copy = core.tokens.mint({
        kind: 'user',
        appId: t.appId,
        subjectId: t.subjectId,
        scopes: t.scopes,
        targetIds: targetsOf(t),
        expiresInSec: 1,
        longLived: true,
        origin: 'exchange',
      });
      copy.expiresAtMs = t.expiresAtMs;
      copy.dataAccessExpiresAtMs = t.dataAccessExpiresAtMs;
      return tokenResponse(copy, now);
    }
    const long = core.tokens.mint({
      kind: 'user',
      appId: t.appId,
      subjectId: t.subjectId,
      scopes: t.scopes,
      targetIds: targetsOf(t),
      expiresInSec: core.tokens.ttl.longLivedSec,
      longLived: true,
      origin: 'exchange',
    });
    long.dataAccessExpiresAtMs = t.dataAccessExpiresAtMs;
    return tokenResponse(long, now);
  }

  /** Authorization code exchange (facts §1.3, §1.4, §7). */
  function codeExchange(a: AppRecord, params: Record<string, string>, now: number): Record<string, unknown> {
    const code = params.code;
    if (!code) throw graphError(1, 'Missing authorization code');
    const rec = s.codes.get(code);
    if (!rec || rec.appId !== a.id) throw graphError(100, 'Invalid verification code format.');
    if (rec.used) throw graphError(100, MSG.codeUsed, { subcode: 36009, wwwAuthenticate: 'invalid_code' });
    if (now >= rec.expiresAtMs)
      throw graphError(100, MSG.codeExpired, { subcode: 36007, wwwAuthenticate: 'invalid_code' });
    const redirect = params.redirect_uri ?? '';
    if ((rec.redirectUri ?? '') !== redirect) throw graphError(100, MSG.redirectMismatch, { subcode: 36008 });
    if (rec.codeChallenge) {
      const verifier = params.code_verifier;
      if (!verifier)
        throw graphError(100, '(#100) The parameter code_verifier is required: the login used PKCE.');
      const computed =
        rec.codeChallengeMethod === 'plain'
          ? verifier
          : createHash('sha256').update(verifier).digest('base64url');
      if (!safeEqual(computed, rec.codeChallenge)) {
        throw graphError(
          100,
          '(#100) Invalid code_verifier: it does not match the code_challenge of the login.',
        );
      }
    }
    rec.used = true;
    changed();
    const config = rec.configId ? a.configs[rec.configId] : undefined;
    if (config?.tokenType === 'system_user') {
      const su = integrationUser(a, rec);
      const t = core.tokens.mint({
        kind: 'business_integration',
        appId: a.id,
        subjectId: su.id,
        scopes: rec.scopes,
        targetIds: rec.targetIds,
        expiresInSec: config.expiry === '60d' ? core.tokens.ttl.systemUser60dSec : 0,
        longLived: true,
        origin: 'login',
      });
      changed();
      return tokenResponse(t, now);
    }
    const t = core.tokens.mint({
      kind: 'user',
      appId: a.id,
      subjectId: rec.userId,
      scopes: rec.scopes,
      targetIds: rec.targetIds,
      expiresInSec: core.tokens.ttl.shortLivedSec,
      dataAccessExpiresInSec: core.tokens.ttl.dataAccessSec,
      origin: 'login',
    });
    changed();
    return tokenResponse(t, now);
  }

  /** The business integration system user a BISU login creates in the customer's business (one per app). */
  function integrationUser(a: AppRecord, rec: OAuthCodeRecord): SystemUserRecord {
    const user = s.users.get(rec.userId);
    const businessId = user?.businessIds[0] ?? s.seed?.businessId ?? world.createBusiness().id;
    for (const su of s.systemUsers.values()) {
      if (su.businessId === businessId && su.name === `${a.name} (business integration)`) {
        for (const w of rec.targetIds) if (!su.wabaIds.includes(w)) su.wabaIds.push(w);
        if (!su.appIds.includes(a.id)) su.appIds.push(a.id);
        return su;
      }
    }
    return world.createSystemUser({
      businessId,
      name: `${a.name} (business integration)`,
      role: 'ADMIN',
      appIds: [a.id],
      wabaIds: rec.targetIds.filter((w) => s.wabas.has(w)),
    });
  }

  app.get(`${prefix}/oauth/access_token`, accessToken);
  app.post(`${prefix}/oauth/access_token`, accessToken);

  app.get(`${prefix}/oauth/revoke`, async (c) => {
    mark(c, 'GET /oauth/revoke', 'oauth');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const a = clientApp(core, params);
    const value = params.revoke_token;
    if (!value) throw graphError(100, '(#100) The parameter revoke_token is required.');
    const t = s.tokens.get(value);
    if (!t) throw graphError(190, MSG.cannotParse, { wwwAuthenticate: 'invalid_token' });
    if (t.appId !== a.id)
      throw graphError(100, `(#100) revoke_token was issued to another app, not to client_id ${a.id}.`);
    t.revoked = true;
    changed();
    return c.json({ success: true });
  });

  app.get(`${prefix}/debug_token`, async (c) => {
    mark(c, 'GET /debug_token', 'oauth');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const caller = authenticate(core, c, params);
    const input = params.input_token;
    if (!input) throw graphError(100, '(#100) The parameter input_token is required');
    return c.json({ data: debugData(caller, input) });
  });

  /** `debug_token` data, in Meta's shapes (facts §4), including the invalid-token shape. */
  function debugData(caller: Principal, input: string): Record<string, unknown> {
    const r = core.tokens.resolve(input);
    if ('principal' in r && r.principal.kind === 'app') {
      const p = r.principal;
      if (p.app.id !== caller.app.id) throw sameAppError();
      return { app_id: p.app.id, type: 'APP', application: p.app.name, is_valid: true, scopes: [] };
    }
    const t = 'principal' in r ? r.principal.token : r.token;
    if (!t) {
      return {
        error: { message: 'error' in r ? r.error.message : MSG.cannotParse, code: 190 },
        is_valid: false,
        scopes: [],
      };
    }
    if (t.appId !== caller.app.id) throw sameAppError();
    const a = s.apps.get(t.appId);
    const type = t.kind === 'user' ? 'USER' : t.kind === 'page' ? 'PAGE' : 'SYSTEM_USER';
    const data: Record<string, unknown> = {
      app_id: t.appId,
      type,
      application: a?.name ?? '',
      data_access_expires_at: secOf(t.dataAccessExpiresAtMs),
    };
    if ('error' in r) {
      const e: Record<string, unknown> = { message: r.error.message, code: r.error.code };
      if (r.error.subcode !== undefined) e.subcode = r.error.subcode;
      data.error = e;
    }
    data.expires_at = secOf(t.expiresAtMs);
    data.is_valid = !('error' in r);
    if (t.longLived || t.kind !== 'user') data.issued_at = secOf(t.issuedAtMs);
    if (t.kind === 'page') data.profile_id = t.subjectId;
    data.scopes = t.scopes;
    data.granular_scopes = t.granularScopes.map((g) =>
      g.targetIds ? { scope: g.scope, target_ids: g.targetIds } : { scope: g.scope },
    );
    data.user_id = t.subjectId;
    return data;
  }

  const sameAppError = () =>
    graphError(
      100,
      "(#100) The access_token and input_token must belong to the same app: use this app's app token (app_id|app_secret) or a token of one of its developers.",
    );

  // --- System users (facts §6) ---
  app.post(`${prefix}/:id/applications`, async (c) => {
    mark(c, 'POST /{system-user-id}/applications');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const caller = authenticate(core, c, params);
    const su = s.systemUsers.get(c.req.param('id'));
    if (!su) throw unknownObject('post', c.req.param('id'));
    requireBusinessAdmin(caller, su.businessId);
    const appId = params.business_app;
    if (!appId) throw graphError(100, '(#100) The parameter business_app is required.');
    const target = s.apps.get(appId);
    if (!target || target.removed)
      throw graphError(100, `(#100) Param business_app must be a valid app id - got "${appId}".`);
    if (target.businessId && target.businessId !== su.businessId) {
      throw graphError(100, `(#100) App ${appId} belongs to another business than system user ${su.id}.`);
    }
    if (!su.appIds.includes(appId)) su.appIds.push(appId);
    changed();
    return c.json({ success: true });
  });

  app.post(`${prefix}/:id/access_tokens`, async (c) => {
    mark(c, 'POST /{system-user-id}/access_tokens');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const callerValue = tokenFrom(c, params);
    if (!callerValue) {
      throw graphError(104, MSG.missingToken, { wwwAuthenticate: 'invalid_request' });
    }
    const caller = core.tokens.require(callerValue);
    useApp(core, c, caller.app.id);
    const su = s.systemUsers.get(c.req.param('id'));
    if (!su) throw unknownObject('post', c.req.param('id'));
    requireBusinessAdmin(caller, su.businessId);
    const appId = params.business_app;
    if (!appId) throw graphError(100, '(#100) The parameter business_app is required.');
    const target = s.apps.get(appId);
    if (!target || target.removed)
      throw graphError(100, `(#100) Param business_app must be a valid app id - got "${appId}".`);
    // The proof is keyed by the business app's secret over the caller's token; it is required here (facts §6.3).
    const proof = params.appsecret_proof;
    if (!proof) throw graphError(100, MSG.proofRequired, { type: 'GraphMethodException' });
    core.tokens.checkProof({ ...caller, app: target }, proof, params.appsecret_time);
    if (!su.appIds.includes(appId)) {
      throw graphError(
        100,
        `(#100) App ${appId} is not installed for system user ${su.id}: call POST /${su.id}/applications first.`,
      );
    }
    const scopes = (params.scope ?? '')
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter(Boolean);
    if (scopes.length === 0) throw graphError(100, '(#100) The parameter scope is required.');
    const t = core.tokens.mint({
      kind: 'system_user',
      appId,
      subjectId: su.id,
      scopes,
      expiresInSec: params.set_token_expires_in_60_days === 'true' ? core.tokens.ttl.systemUser60dSec : 0,
      longLived: true,
      origin: 'system-user-api',
    });
    changed();
    return c.json({ access_token: t.value });
  });

  /**
   * `POST /{business-id}/system_user_access_tokens` (facts §6.3, S-SUAT; S-FLB for business integration system
   * users): a token for one of the business's system users, for the caller's app. Params `system_user_id`, `scope`,
   * `asset`, `fetch_only`, `set_token_expires_in_60_days`; `appsecret_proof` required. A business integration
   * (BISU) token may fetch tokens for its own system user, limited to its own scopes and assets (granular tokens);
   * a business admin may ask for any known permission on the assets assigned to the system user. `fetch_only=true`
   * returns a working token that already matches instead of minting one (a new one when none does: UNVERIFIED).
   */
  app.post(`${prefix}/:id/system_user_access_tokens`, async (c) => {
    mark(c, 'POST /{business-id}/system_user_access_tokens');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const callerValue = tokenFrom(c, params);
    if (!callerValue) throw graphError(104, MSG.missingToken, { wwwAuthenticate: 'invalid_request' });
    const caller = core.tokens.require(callerValue);
    useApp(core, c, caller.app.id);
    if (!params.appsecret_proof) throw graphError(100, MSG.proofRequired, { type: 'GraphMethodException' });
    core.tokens.checkProof(caller, params.appsecret_proof, params.appsecret_time);
    const businessId = c.req.param('id');
    if (!s.businesses.has(businessId)) throw unknownObject('post', businessId);
    if (caller.kind === 'app' || caller.kind === 'page' || !caller.token) {
      throw graphError(200, '(#200) This call requires a user or system user access token.');
    }
    const fetchOnly = boolParam(params, 'fetch_only');
    const sixtyDays = boolParam(params, 'set_token_expires_in_60_days');
    const integration = caller.kind === 'business_integration';
    const callerIsSystemUser = caller.kind === 'system_user' || integration;
    let suId = params.system_user_id;
    if (suId === undefined || suId === '') {
      if (!callerIsSystemUser) throw graphError(100, '(#100) The parameter system_user_id is required.');
      suId = caller.subjectId;
    }
    const su = /^\d{1,20}$/.test(suId) ? s.systemUsers.get(suId) : undefined;
    if (!su || su.businessId !== businessId) {
      throw graphError(
        100,
        `(#100) Param system_user_id must be a system user of business ${businessId} - got "${suId}".`,
      );
    }
    const self = callerIsSystemUser && caller.subjectId === su.id;
    if (!self) requireBusinessAdmin(caller, businessId);
    if (!su.appIds.includes(caller.app.id)) {
      throw graphError(
        100,
        `(#100) App ${caller.app.id} is not installed for system user ${su.id}: call POST /${su.id}/applications first.`,
      );
    }
    // What the new token may carry: the caller's own grant when a system user asks for itself (granular tokens
    // are subsets of the original), any permission on the system user's assets when an admin asks.
    const ownTargets = self ? targetsOf(caller.token) : undefined;
    const allowedScopes = self ? caller.token.scopes : undefined;
    const allowedAssets = ownTargets ?? su.wabaIds;
    const requested = listParam(params.scope);
    for (const scope of requested) {
      if (!KNOWN_PERMISSIONS.has(scope)) throw graphError(3962, `(#3962) Invalid permission: ${scope}`);
      if (allowedScopes && !allowedScopes.includes(scope)) {
        throw graphError(
          200,
          `(#200) Permission ${scope} was not granted to the calling token: a system user's token can only be narrowed (scope must be a subset).`,
        );
      }
    }
    if (requested.length === 0 && !allowedScopes && !fetchOnly) {
      throw graphError(100, '(#100) The parameter scope is required.');
    }
    const assets = listParam(params.asset);
    for (const asset of assets) {
      if (!/^\d{1,20}$/.test(asset)) {
        throw graphError(100, `(#100) Param asset must be an array of object ids - got "${asset}".`);
      }
      if (!allowedAssets.includes(asset)) {
        throw graphError(
          200,
          `(#200) Asset ${asset} is not assigned to system user ${su.id}${ownTargets ? ' or not granted to the calling token' : ''}.`,
        );
      }
    }
    const kind = integration && self ? 'business_integration' : 'system_user';
    const scopes = requested.length ? requested : (allowedScopes ?? []);
    const targetIds = assets.length ? assets : ownTargets;
    if (fetchOnly) {
      let found: TokenRecord | undefined;
      for (const t of s.tokens.values()) {
        if (t.appId !== caller.app.id || t.subjectId !== su.id || t.kind !== kind) continue;
        if (core.tokens.validityError(t, caller.app) !== undefined) continue;
        if (requested.length && !sameSet(t.scopes, requested)) continue;
        if (assets.length && !sameSet(targetsOf(t) ?? [], assets)) continue;
        if (!found || t.issuedAtMs >= found.issuedAtMs) found = t;
      }
      if (found) return c.json({ access_token: found.value });
      if (scopes.length === 0) throw graphError(100, '(#100) The parameter scope is required.');
    }
    const t = core.tokens.mint({
      kind,
      appId: caller.app.id,
      subjectId: su.id,
      scopes,
      targetIds,
      expiresInSec: sixtyDays ? core.tokens.ttl.systemUser60dSec : 0,
      longLived: true,
      origin: 'system-user-api',
    });
    changed();
    return c.json({ access_token: t.value });
  });

  function requireBusinessAdmin(caller: Principal, businessId: string): void {
    if (caller.kind === 'user') {
      const u = s.users.get(caller.subjectId);
      if (u?.businessIds.includes(businessId)) return;
    } else if (caller.kind === 'system_user') {
      const su = s.systemUsers.get(caller.subjectId);
      if (su?.businessId === businessId && su.role === 'ADMIN') return;
    }
    throw graphError(200, '(#200) The caller must be an admin of the business that owns this system user.');
  }

  // --- /me ---
  app.get(`${prefix}/me`, async (c) => {
    mark(c, 'GET /me');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    return c.json(meObject(p, fieldsParam(params)));
  });

  app.get(`${prefix}/me/permissions`, async (c) => {
    mark(c, 'GET /me/permissions');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    if (p.kind === 'app') throw meAppError();
    return c.json({ data: (p.token?.scopes ?? []).map((permission) => ({ permission, status: 'granted' })) });
  });

  const meAppError = () =>
    graphError(2500, 'An active access token must be used to query information about the current user.', {
      wwwAuthenticate: 'invalid_request',
    });

  function meObject(p: Principal, fields: Set<string> | undefined): Record<string, unknown> {
    if (p.kind === 'app') throw meAppError();
    const su = s.systemUsers.get(p.subjectId);
    const name = s.users.get(p.subjectId)?.name ?? su?.name ?? 'Emulated Page';
    const out: Record<string, unknown> = { name };
    if (fields?.has('client_business_id') && su) out.client_business_id = su.businessId;
    out.id = p.subjectId;
    return fields ? pickFields(out, fields) : { name, id: p.subjectId };
  }

  // --- Nodes: /{id} ---
  app.get(`${prefix}/:id`, async (c) => {
    const id = c.req.param('id');
    const kind = s.kindOf(id);
    mark(
      c,
      `GET /{${kind ? kind.replace('_', '-') : 'object'}-id}`,
      kind === 'media' || kind === 'phone_number' || kind === 'waba' || kind === 'template'
        ? 'whatsapp'
        : 'graph',
    );
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const fields = fieldsParam(params);
    switch (kind) {
      case 'media': {
        const media = s.media.get(id);
        const phone = media && s.phoneNumbers.get(media.phoneNumberId);
        if (!media || media.deleted || !phone) throw unknownObject('get', id);
        useWaba(core, c, phone.wabaId);
        requireAccess(core, p, [MESSAGING, MANAGEMENT], phone.wabaId);
        if (params.phone_number_id && params.phone_number_id !== media.phoneNumberId) {
          throw graphError(
            100,
            `(#100) Media ${id} does not belong to phone number ${params.phone_number_id}.`,
          );
        }
        return c.json(mediaObject(core, c, media));
      }
      case 'phone_number': {
        const phone = s.phoneNumbers.get(id)!;
        useWaba(core, c, phone.wabaId);
        requireAccess(core, p, [MANAGEMENT, MESSAGING], phone.wabaId);
        const out: Record<string, unknown> = {
          verified_name: phone.verifiedName,
          code_verification_status: phone.codeVerificationStatus,
          display_phone_number: phone.displayPhoneNumber,
          quality_rating: phone.qualityRating,
          platform_type: phone.registered ? 'CLOUD_API' : 'NOT_APPLICABLE',
          throughput: { level: phone.mps > core.limits.defaultMps ? 'HIGH' : 'STANDARD' },
          ...phoneSettingsFields(core, phone),
          id: phone.id,
        };
        return c.json(pickFields(out, fields));
      }
      case 'waba': {
        const waba = s.wabas.get(id)!;
        useWaba(core, c, waba.id);
        requireAccess(core, p, [MANAGEMENT, MESSAGING], waba.id);
        return c.json(
          pickFields(
            {
              id: waba.id,
              name: waba.name,
              currency: waba.currency,
              timezone_id: waba.timezoneId,
              message_template_namespace: waba.templateNamespace,
              health_status: healthStatus(waba),
            },
            fields,
          ),
        );
      }
      case 'app': {
        const a = s.apps.get(id)!;
        return c.json(
          pickFields(
            { name: a.name, link: `https://www.facebook.com/games/?app_id=${a.id}`, id: a.id },
            fields,
          ),
        );
      }
      case 'business': {
        const b = s.businesses.get(id)!;
        return c.json(pickFields({ name: b.name, id: b.id }, fields));
      }
      case 'user':
      case 'system_user': {
        const name = s.users.get(id)?.name ?? s.systemUsers.get(id)?.name;
        return c.json(pickFields({ name, id }, fields));
      }
      default:
        throw unknownObject('get', id);
    }
  });

  app.post(`${prefix}/:id`, async (c) => {
    const id = c.req.param('id');
    const kind = s.kindOf(id);
    mark(c, `POST /{${kind ? kind.replace('_', '-') : 'object'}-id}`, 'whatsapp');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    authenticate(core, c, params);
    throw unknownObject('post', id);
  });

  app.delete(`${prefix}/:id`, async (c) => {
    const id = c.req.param('id');
    const kind = s.kindOf(id);
    mark(c, `DELETE /{${kind ? kind.replace('_', '-') : 'object'}-id}`, 'whatsapp');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    if (kind === 'media') {
      const media = s.media.get(id)!;
      const phone = s.phoneNumbers.get(media.phoneNumberId);
      if (media.deleted || !phone) throw unknownObject('delete', id);
      useWaba(core, c, phone.wabaId);
      requireAccess(core, p, [MESSAGING, MANAGEMENT], phone.wabaId);
      if (params.phone_number_id && params.phone_number_id !== media.phoneNumberId) {
        throw graphError(
          100,
          `(#100) Media ${id} does not belong to phone number ${params.phone_number_id}.`,
        );
      }
      media.deleted = true;
      media.data = Buffer.alloc(0);
      changed();
      return c.json({ success: true });
    }
    throw unknownObject('delete', id);
  });

  // --- Unknown edges ---
  app.all(`${prefix}/:id/:edge`, async (c) => {
    const id = c.req.param('id');
    const kind = s.kindOf(id);
    mark(c, `${c.req.method} /{id}/{edge}`);
    const params = await requestParams(c, core.settings.maxBodyBytes);
    authenticate(core, c, params);
    if (!kind) throw unknownObject(c.req.method, id);
    throw graphError(
      100,
      `(#100) Tried accessing nonexisting field (${c.req.param('edge')}) on node type (${NODE_TYPES[kind] ?? 'Node'})`,
    );
  });
}

/** Permissions the emulator knows (unknown names get 3962, as Graph answers for an invalid permission). */
const KNOWN_PERMISSIONS = new Set([
  'public_profile',
  'email',
  'business_management',
  'whatsapp_business_management',
  'whatsapp_business_messaging',
  'whatsapp_business_manage_events',
  'ads_management',
  'ads_read',
  'catalog_management',
  'pages_show_list',
  'pages_read_engagement',
  'pages_manage_metadata',
  'pages_messaging',
  'instagram_basic',
  'instagram_manage_messages',
  'read_insights',
  'leads_retrieval',
]);

/** A Graph list parameter: JSON array (`["a","b"]`, `[1,2]`) or comma/space separated. */
function listParam(value: string | undefined): string[] {
  if (value === undefined) return [];
  const text = value.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw graphError(100, `(#100) Invalid list parameter: ${text.slice(0, 80)}`);
    }
    if (!Array.isArray(parsed) || parsed.some((x) => typeof x !== 'string' && typeof x !== 'number')) {
      throw graphError(100, `(#100) Invalid list parameter: ${text.slice(0, 80)}`);
    }
    return parsed.map(String);
  }
  return text
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

/** Graph booleans: true/false (also 1/0); absent is false. */
function boolParam(params: Record<string, string>, name: string): boolean {
  const v = params[name];
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw graphError(100, `(#100) Param ${name} must be a boolean - got "${v.slice(0, 40)}".`);
}

const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

function targetsOf(t: TokenRecord): string[] | undefined {
  return t.granularScopes.find((g) => g.targetIds)?.targetIds;
}

/** For tests and tools: the proof a client would send (classic form, or time-stamped with `timeSec`). */
export function computeAppSecretProof(token: string, secret: string, timeSec?: number): string {
  return createHmac('sha256', secret)
    .update(timeSec === undefined ? token : `${token}|${timeSec}`)
    .digest('hex');
}
