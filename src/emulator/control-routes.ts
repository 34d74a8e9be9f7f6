import type { Hono } from 'hono';
import type { EmuContext, EmuEnv, EmulatorCore } from './context.js';
import { bool, type Json, jsonBody, num, required, str, strList } from './control-input.js';
import { issueCode } from './dialog.js';
import { type InboundMessageInput, inboundMessageEvent, statusEvent, templateStatusEvent } from './events.js';
import { checkFaultInput, type FaultRuleInput } from './faults.js';
import { FLOW_CONTROL_ROUTES } from './flow-sessions.js';
import type { PhoneNumberRecord, TemplateRecord, TokenRecord } from './state.js';
import { registerUserControlRoutes } from './user-control-routes.js';
import type { ResolvedWebhookOptions } from './webhooks.js';
import { ControlError, checkUrl, digitsOf, type MintTokenInput, type World } from './world.js';

/** A token's public view for the control API (the value only when just minted). */
function tokenView(t: TokenRecord): Json {
  return {
    kind: t.kind,
    app_id: t.appId,
    subject_id: t.subjectId,
    scopes: t.scopes,
    granular_scopes: t.granularScopes.map((g) =>
      g.targetIds ? { scope: g.scope, target_ids: g.targetIds } : { scope: g.scope },
    ),
    issued_at: new Date(t.issuedAtMs).toISOString(),
    expires_at: t.expiresAtMs ? new Date(t.expiresAtMs).toISOString() : null,
    data_access_expires_at: t.dataAccessExpiresAtMs ? new Date(t.dataAccessExpiresAtMs).toISOString() : null,
    long_lived: t.longLived,
    revoked: t.revoked,
    origin: t.origin,
  };
}

function phoneView(p: PhoneNumberRecord): Json {
  return {
    id: p.id,
    waba_id: p.wabaId,
    display_phone_number: p.displayPhoneNumber,
    verified_name: p.verifiedName,
    is_test_number: p.isTestNumber,
    allowed_recipients: p.allowedRecipients,
    mps: p.mps,
    registered: p.registered,
    code_verification_status: p.codeVerificationStatus,
    pending_code: p.pendingCode ?? null,
    quality_rating: p.qualityRating,
    webhook_url: p.webhookOverrideUrl ?? null,
  };
}

/** The control API under `/_emulator/`: world building, tokens, clock, faults, webhooks, inspection. */
export function registerControlRoutes(app: Hono<EmuEnv>, core: EmulatorCore, world: World): void {
  const s = core.state;
  const max = core.settings.maxBodyBytes;
  const base = '/_emulator';
  const body = (c: EmuContext) => jsonBody(c, max);
  const phoneOrSeed = (b: Json): PhoneNumberRecord => {
    const id = str(b, 'phone_number_id') ?? s.seed?.phoneNumberId;
    if (!id) throw new ControlError('phone_number_id is required');
    return world.phoneNumber(id);
  };

  app.get(base, (c) =>
    c.json({
      emulator: 'wacloud',
      docs: 'docs/emulator.md',
      routes: ROUTES,
    }),
  );

  app.get(`${base}/seed`, (c) =>
    s.seed ? c.json(s.seed) : c.json({ error: { message: 'not seeded' } }, 404),
  );

  app.get(`${base}/state`, (c) =>
    c.json({
      apps: [...s.apps.values()].map((a) => ({
        id: a.id,
        name: a.name,
        business_id: a.businessId ?? null,
        redirect_uris: a.redirectUris,
        require_app_secret: a.requireAppSecret,
        callback_url: a.callbackUrl ?? null,
        removed: a.removed,
        configs: Object.values(a.configs),
      })),
      businesses: [...s.businesses.values()],
      users: [...s.users.values()].map((u) => ({
        id: u.id,
        name: u.name,
        business_ids: u.businessIds,
        waba_ids: u.wabaIds,
      })),
      system_users: [...s.systemUsers.values()].map((u) => ({
        id: u.id,
        name: u.name,
        business_id: u.businessId,
        role: u.role,
        app_ids: u.appIds,
        waba_ids: u.wabaIds,
      })),
      wabas: [...s.wabas.values()].map((w) => ({
        id: w.id,
        name: w.name,
        business_id: w.businessId,
        subscribed_apps: w.subscriptions.map((x) => ({
          app_id: x.appId,
          override_callback_uri: x.overrideCallbackUri ?? null,
        })),
      })),
      phone_numbers: [...s.phoneNumbers.values()].map(phoneView),
      templates: [...s.templates.values()].map((t) => ({
        id: t.id,
        waba_id: t.wabaId,
        name: t.name,
        language: t.language,
        status: t.status,
        category: t.category,
      })),
      tokens: s.tokens.size,
      messages: s.messages.size,
      media: s.media.size,
    }),
  );

  // --- World ---
  app.post(`${base}/businesses`, async (c) => {
    const b = await body(c);
    return c.json(world.createBusiness({ id: str(b, 'id'), name: str(b, 'name') }), 201);
  });

  app.post(`${base}/apps`, async (c) => {
    const b = await body(c);
    const a = world.createApp({
      id: str(b, 'id'),
      name: str(b, 'name'),
      secret: str(b, 'secret'),
      businessId: str(b, 'business_id'),
      redirectUris: strList(b, 'redirect_uris'),
      requireAppSecret: bool(b, 'require_app_secret'),
      callbackUrl: str(b, 'callback_url'),
      verifyToken: str(b, 'verify_token'),
      webhookFields: strList(b, 'webhook_fields'),
    });
    return c.json(appView(a.id), 201);
  });

  const appView = (id: string) => {
    const a = world.app(id);
    return {
      id: a.id,
      secret: a.secret,
      name: a.name,
      business_id: a.businessId ?? null,
      redirect_uris: a.redirectUris,
      require_app_secret: a.requireAppSecret,
      callback_url: a.callbackUrl ?? null,
      webhook_fields: a.webhookFields ?? null,
      removed: a.removed,
      app_token: core.tokens.appToken(a),
    };
  };

  app.patch(`${base}/apps/:id`, async (c) => {
    const b = await body(c);
    const a = world.app(c.req.param('id'));
    const name = str(b, 'name');
    const uris = strList(b, 'redirect_uris');
    for (const u of uris ?? []) checkUrl(u, 'redirect_uris');
    const requireSecret = bool(b, 'require_app_secret');
    const fields = strList(b, 'webhook_fields');
    if (name !== undefined) a.name = name;
    if (uris !== undefined) a.redirectUris = uris;
    if (requireSecret !== undefined) a.requireAppSecret = requireSecret;
    if (fields !== undefined) a.webhookFields = fields;
    changed();
    return c.json(appView(a.id));
  });

  app.post(`${base}/apps/:id/webhook`, async (c) => {
    const b = await body(c);
    const a = world.app(c.req.param('id'));
    const url = required(str(b, 'callback_url'), 'callback_url');
    checkUrl(url, 'callback_url');
    const verifyToken = required(str(b, 'verify_token'), 'verify_token');
    const fields = strList(b, 'fields');
    // The App Dashboard verifies the callback before saving it (facts §9).
    const result = await core.webhooks.verifyCallback(url, verifyToken);
    if (!result.ok) {
      return c.json(
        { error: { message: `Callback verification failed: ${result.reason}`, status: result.status } },
        400,
      );
    }
    a.callbackUrl = url;
    a.verifyToken = verifyToken;
    if (fields !== undefined) a.webhookFields = fields;
    changed();
    return c.json({ success: true, callback_url: url });
  });

  app.delete(`${base}/apps/:id/webhook`, (c) => {
    const a = world.app(c.req.param('id'));
    a.callbackUrl = undefined;
    a.verifyToken = undefined;
    changed();
    return c.json({ success: true });
  });

  app.post(`${base}/apps/:id/remove`, async (c) => {
    const b = await body(c);
    world.removeApp(c.req.param('id'), str(b, 'user_id'));
    return c.json({ success: true });
  });

  app.post(`${base}/apps/:id/reset-secret`, (c) => {
    world.resetSecret(c.req.param('id'));
    return c.json(appView(c.req.param('id')));
  });

  app.post(`${base}/apps/:id/configs`, async (c) => {
    const b = await body(c);
    const tokenType = str(b, 'token_type') as 'user' | 'system_user' | undefined;
    const expiry = str(b, 'expiry') as 'never' | '60d' | undefined;
    const config = world.addLoginConfig(c.req.param('id'), {
      ...(str(b, 'id') ? { id: str(b, 'id') as string } : {}),
      ...(strList(b, 'scopes') ? { scopes: strList(b, 'scopes') as string[] } : {}),
      ...(tokenType ? { tokenType } : {}),
      ...(expiry ? { expiry } : {}),
    });
    return c.json(
      { id: config.id, scopes: config.scopes, token_type: config.tokenType, expiry: config.expiry },
      201,
    );
  });

  app.post(`${base}/users`, async (c) => {
    const b = await body(c);
    const u = world.createUser({
      id: str(b, 'id'),
      name: str(b, 'name'),
      businessIds: strList(b, 'business_ids'),
      wabaIds: strList(b, 'waba_ids'),
    });
    return c.json({ id: u.id, name: u.name, business_ids: u.businessIds, waba_ids: u.wabaIds }, 201);
  });

  app.post(`${base}/users/:id/change-password`, (c) => {
    world.changePassword(c.req.param('id'));
    return c.json({ success: true });
  });

  app.post(`${base}/system-users`, async (c) => {
    const b = await body(c);
    const role = str(b, 'role')?.toUpperCase();
    if (role !== undefined && role !== 'ADMIN' && role !== 'EMPLOYEE')
      throw new ControlError('role: ADMIN or EMPLOYEE');
    const su = world.createSystemUser({
      id: str(b, 'id'),
      businessId: required(str(b, 'business_id') ?? s.seed?.businessId, 'business_id'),
      name: str(b, 'name'),
      ...(role ? { role: role as 'ADMIN' | 'EMPLOYEE' } : {}),
      appIds: strList(b, 'app_ids'),
      wabaIds: strList(b, 'waba_ids'),
    });
    return c.json(
      {
        id: su.id,
        name: su.name,
        business_id: su.businessId,
        role: su.role,
        app_ids: su.appIds,
        waba_ids: su.wabaIds,
      },
      201,
    );
  });

  app.post(`${base}/wabas`, async (c) => {
    const b = await body(c);
    const w = world.createWaba({
      id: str(b, 'id'),
      businessId: required(str(b, 'business_id') ?? s.seed?.businessId, 'business_id'),
      name: str(b, 'name'),
      subscribeAppIds: strList(b, 'subscribe_app_ids'),
    });
    return c.json({ id: w.id, name: w.name, business_id: w.businessId }, 201);
  });

  app.post(`${base}/phone-numbers`, async (c) => {
    const b = await body(c);
    const p = world.createPhoneNumber({
      id: str(b, 'id'),
      wabaId: required(str(b, 'waba_id') ?? s.seed?.wabaId, 'waba_id'),
      displayPhoneNumber: str(b, 'display_phone_number'),
      verifiedName: str(b, 'verified_name'),
      isTestNumber: bool(b, 'test'),
      allowedRecipients: strList(b, 'allowed_recipients'),
      mps: num(b, 'mps'),
      registered: bool(b, 'registered'),
    });
    return c.json(phoneView(p), 201);
  });

  app.get(`${base}/phone-numbers/:id`, (c) => c.json(phoneView(world.phoneNumber(c.req.param('id')))));

  app.patch(`${base}/phone-numbers/:id`, async (c) => {
    const b = await body(c);
    const p = world.phoneNumber(c.req.param('id'));
    const allowed = strList(b, 'allowed_recipients');
    const mps = num(b, 'mps');
    if (mps !== undefined && mps <= 0) throw new ControlError('mps must be positive');
    const registered = bool(b, 'registered');
    const test = bool(b, 'test');
    const quality = str(b, 'quality_rating');
    if (quality !== undefined && !['GREEN', 'YELLOW', 'RED', 'UNKNOWN'].includes(quality)) {
      throw new ControlError('quality_rating: GREEN, YELLOW, RED or UNKNOWN');
    }
    const webhookUrl = b.webhook_url === null ? null : str(b, 'webhook_url');
    if (typeof webhookUrl === 'string') checkUrl(webhookUrl, 'webhook_url');
    if (allowed !== undefined) p.allowedRecipients = allowed.map(digitsOf);
    if (mps !== undefined) p.mps = mps;
    if (registered !== undefined) p.registered = registered;
    if (test !== undefined) p.isTestNumber = test;
    if (quality !== undefined) p.qualityRating = quality as PhoneNumberRecord['qualityRating'];
    if (webhookUrl !== undefined) p.webhookOverrideUrl = webhookUrl ?? undefined;
    changed();
    return c.json(phoneView(p));
  });

  app.post(`${base}/templates`, async (c) => {
    const b = await body(c);
    const status = str(b, 'status')?.toUpperCase() as TemplateRecord['status'] | undefined;
    if (status && !['APPROVED', 'PENDING', 'REJECTED', 'PAUSED', 'DISABLED'].includes(status)) {
      throw new ControlError('status: APPROVED, PENDING, REJECTED, PAUSED or DISABLED');
    }
    const components = b.components;
    if (components !== undefined && !Array.isArray(components))
      throw new ControlError('components must be an array');
    const name = required(str(b, 'name'), 'name');
    if (!/^[a-z0-9_]{1,512}$/.test(name))
      throw new ControlError('name: lowercase letters, digits and underscores');
    const t = world.createTemplate({
      wabaId: required(str(b, 'waba_id') ?? s.seed?.wabaId, 'waba_id'),
      name,
      language: str(b, 'language') ?? 'en_US',
      category: str(b, 'category'),
      ...(status ? { status } : {}),
      components: (components as unknown[] | undefined) ?? [{ type: 'BODY', text: name }],
    });
    return c.json(
      { id: t.id, name: t.name, language: t.language, status: t.status, category: t.category },
      201,
    );
  });

  app.patch(`${base}/templates/:id`, async (c) => {
    const b = await body(c);
    const t = s.templates.get(c.req.param('id'));
    if (!t) throw new ControlError(`no template ${c.req.param('id')}`, 404);
    const status = required(str(b, 'status'), 'status').toUpperCase() as TemplateRecord['status'];
    if (!['APPROVED', 'PENDING', 'REJECTED', 'PAUSED', 'DISABLED'].includes(status)) {
      throw new ControlError('status: APPROVED, PENDING, REJECTED, PAUSED or DISABLED');
    }
    t.status = status;
    changed();
    const deliveries = core.webhooks.emit([templateStatusEvent(t, status, str(b, 'reason') ?? 'NONE')]);
    return c.json({ id: t.id, status: t.status, webhook_targets: deliveries });
  });

  // --- Tokens and codes ---
  app.post(`${base}/tokens`, async (c) => {
    const b = await body(c);
    const kind = required(str(b, 'kind'), 'kind') as MintTokenInput['kind'];
    const appId = required(str(b, 'app_id') ?? s.seed?.appId, 'app_id');
    const { accessToken, record } = world.mintToken({
      kind,
      appId,
      subjectId: str(b, 'subject_id'),
      scopes: strList(b, 'scopes'),
      targetIds: strList(b, 'target_ids'),
      expiresInSec: num(b, 'expires_in'),
      dataAccessExpiresInSec: num(b, 'data_access_expires_in'),
    });
    return c.json(
      { access_token: accessToken, ...(record ? tokenView(record) : { kind: 'app', app_id: appId }) },
      201,
    );
  });

  app.post(`${base}/tokens/revoke`, async (c) => {
    const b = await body(c);
    world.revokeToken(required(str(b, 'access_token'), 'access_token'));
    return c.json({ success: true });
  });

  app.post(`${base}/tokens/inspect`, async (c) => {
    const b = await body(c);
    const t = s.tokens.get(required(str(b, 'access_token'), 'access_token'));
    if (!t) throw new ControlError('no such token', 404);
    const a = s.apps.get(t.appId);
    const invalid = a ? core.tokens.validityError(t, a) : undefined;
    return c.json({ ...tokenView(t), valid: !invalid, error: invalid ?? null });
  });

  app.post(`${base}/oauth/codes`, async (c) => {
    const b = await body(c);
    const a = world.app(required(str(b, 'app_id') ?? s.seed?.appId, 'app_id'));
    const userId = str(b, 'user_id') ?? s.seed?.userId;
    const user = world.user(required(userId, 'user_id'));
    const configId = str(b, 'config_id');
    if (configId !== undefined && !a.configs[configId])
      throw new ControlError(`no config ${configId} on app ${a.id}`, 404);
    const redirect = str(b, 'redirect_uri');
    const method = str(b, 'code_challenge_method');
    if (method !== undefined && method !== 'S256' && method !== 'plain')
      throw new ControlError('code_challenge_method: S256 or plain');
    const ttl =
      num(b, 'ttl_sec') ?? (redirect ? core.tokens.ttl.codeSec : core.tokens.ttl.embeddedSignupCodeSec);
    const rec = issueCode(core, {
      appId: a.id,
      userId: user.id,
      redirectUri: redirect,
      scopes:
        strList(b, 'scopes') ??
        (configId
          ? (a.configs[configId]?.scopes ?? [])
          : ['whatsapp_business_management', 'whatsapp_business_messaging', 'business_management']),
      targetIds: strList(b, 'waba_ids') ?? [...user.wabaIds],
      ttlSec: ttl,
      codeChallenge: str(b, 'code_challenge'),
      codeChallengeMethod: method as 'S256' | 'plain' | undefined,
      configId,
    });
    return c.json({ code: rec.code, expires_at: new Date(rec.expiresAtMs).toISOString() }, 201);
  });

  app.post(`${base}/dialog/user`, async (c) => {
    const b = await body(c);
    core.dialogUserId = world.user(required(str(b, 'user_id'), 'user_id')).id;
    return c.json({ user_id: core.dialogUserId });
  });

  // --- Clock ---
  const clockView = () => {
    const now = core.clock.now();
    return {
      now_ms: now,
      now: new Date(now).toISOString(),
      offset_ms: core.clock.offsetMs,
      frozen: core.clock.frozen,
      pending_jobs: core.clock.pending,
    };
  };
  app.get(`${base}/clock`, (c) => c.json(clockView()));
  app.post(`${base}/clock/advance`, async (c) => {
    const b = await body(c);
    const ms =
      num(b, 'ms') ?? (num(b, 'seconds') !== undefined ? (num(b, 'seconds') as number) * 1000 : undefined);
    if (ms === undefined || ms < 0) throw new ControlError('ms (or seconds) must be a non-negative number');
    await core.clock.advance(ms);
    await core.webhooks.idle();
    return c.json(clockView());
  });
  app.post(`${base}/clock/set`, async (c) => {
    const b = await body(c);
    let target = num(b, 'now_ms');
    const iso = str(b, 'now');
    if (target === undefined && iso !== undefined) target = Date.parse(iso);
    if (target === undefined || !Number.isFinite(target))
      throw new ControlError('now_ms (number) or now (ISO date) is required');
    await core.clock.set(target);
    await core.webhooks.idle();
    return c.json(clockView());
  });

  // --- Faults ---
  app.get(`${base}/faults`, (c) => c.json({ data: core.faults.rules }));
  app.post(`${base}/faults`, async (c) => {
    const b = await body(c);
    const input: FaultRuleInput = {
      kind: str(b, 'kind') as FaultRuleInput['kind'],
      ...(str(b, 'path') !== undefined ? { path: str(b, 'path') } : {}),
      ...(str(b, 'method') !== undefined ? { method: str(b, 'method') } : {}),
      ...(num(b, 'count') !== undefined ? { count: num(b, 'count') } : {}),
      ...(num(b, 'latency_ms') !== undefined ? { latencyMs: num(b, 'latency_ms') } : {}),
      ...(num(b, 'status') !== undefined ? { status: num(b, 'status') } : {}),
      ...(str(b, 'body') !== undefined ? { body: str(b, 'body') } : {}),
      ...(num(b, 'code') !== undefined ? { code: num(b, 'code') } : {}),
      ...(num(b, 'subcode') !== undefined ? { subcode: num(b, 'subcode') } : {}),
      ...(str(b, 'message') !== undefined ? { message: str(b, 'message') } : {}),
      ...(str(b, 'type') !== undefined ? { type: str(b, 'type') } : {}),
      ...(str(b, 'details') !== undefined ? { details: str(b, 'details') } : {}),
      ...(bool(b, 'is_transient') !== undefined ? { isTransient: bool(b, 'is_transient') } : {}),
    };
    const problem = checkFaultInput(input);
    if (problem) throw new ControlError(problem);
    return c.json(core.faults.add(input), 201);
  });
  app.delete(`${base}/faults`, (c) => c.json({ removed: core.faults.remove() }));
  app.delete(`${base}/faults/:id`, (c) => {
    const removed = core.faults.remove(c.req.param('id'));
    if (!removed) throw new ControlError(`no fault ${c.req.param('id')}`, 404);
    return c.json({ removed });
  });

  // --- Inspection ---
  app.get(`${base}/messages`, (c) => {
    const phone = c.req.query('phone_number_id');
    const to = c.req.query('to');
    const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 100) || 100, 1), 10_000);
    const all = [...s.messages.values()].filter(
      (m) => (!phone || m.phoneNumberId === phone) && (!to || m.waId === digitsOf(to)),
    );
    return c.json({
      data: all.slice(-limit).map((m) => ({
        id: m.id,
        phone_number_id: m.phoneNumberId,
        to: m.to,
        wa_id: m.waId,
        user_id: m.userId ?? null,
        type: m.type,
        status: m.status,
        sent_at: new Date(m.sentAtMs).toISOString(),
        app_id: m.appId,
        body: m.body,
      })),
      total: all.length,
    });
  });
  app.delete(`${base}/messages`, (c) => {
    s.clearMessages();
    changed();
    return c.json({ success: true });
  });

  app.get(`${base}/counters`, (c) => c.json(Object.fromEntries(core.counters)));
  app.delete(`${base}/counters`, (c) => {
    core.counters.clear();
    return c.json({ success: true });
  });

  // --- Webhooks ---
  app.get(`${base}/webhooks/deliveries`, (c) => c.json({ data: core.webhooks.log }));
  app.delete(`${base}/webhooks/deliveries`, (c) => {
    core.webhooks.log.length = 0;
    return c.json({ success: true });
  });

  app.post(`${base}/webhooks/config`, async (c) => {
    const b = await body(c);
    const o = core.webhooks.options;
    const next: ResolvedWebhookOptions = { ...o };
    if (b.batch !== undefined) {
      if (b.batch === false || b.batch === null) next.batch = false;
      else {
        const bt = b.batch as Json;
        const maxEvents = num(bt, 'max_events') ?? 1000;
        const windowMs = num(bt, 'window_ms') ?? 1000;
        if (maxEvents < 1 || maxEvents > 1000 || windowMs < 0)
          throw new ControlError('batch: max_events 1-1000, window_ms >= 0');
        next.batch = { maxEvents, windowMs };
      }
    }
    const rate = num(b, 'duplicate_rate');
    if (rate !== undefined) {
      if (rate < 0 || rate > 1) throw new ControlError('duplicate_rate must be between 0 and 1');
      next.duplicateRate = rate;
    }
    const schedule = b.retry_schedule_ms;
    if (schedule !== undefined) {
      if (!Array.isArray(schedule) || schedule.some((x) => typeof x !== 'number' || x < 0)) {
        throw new ControlError('retry_schedule_ms must be an array of non-negative numbers');
      }
      next.retryScheduleMs = schedule as number[];
    }
    const statuses = strList(b, 'auto_statuses');
    if (statuses !== undefined) {
      if (statuses.some((x) => !['sent', 'delivered', 'read'].includes(x)))
        throw new ControlError('auto_statuses: sent, delivered, read');
      next.autoStatuses = statuses as ResolvedWebhookOptions['autoStatuses'];
    }
    const delays = b.status_delays_ms as Json | undefined;
    if (delays !== undefined) {
      next.statusDelaysMs = {
        sent: num(delays, 'sent') ?? o.statusDelaysMs.sent,
        delivered: num(delays, 'delivered') ?? o.statusDelaysMs.delivered,
        read: num(delays, 'read') ?? o.statusDelaysMs.read,
      };
    }
    const maxAge = num(b, 'max_age_ms');
    if (maxAge !== undefined) next.maxAgeMs = maxAge;
    const escapeSlashes = bool(b, 'escape_slashes');
    if (escapeSlashes !== undefined) next.escapeSlashes = escapeSlashes;
    const timeout = num(b, 'timeout_ms');
    if (timeout !== undefined) next.timeoutMs = Math.min(Math.max(timeout, 1), 120_000);
    core.webhooks.options = next;
    const { fetch: _f, random: _r, ...view } = next;
    return c.json(view);
  });

  app.post(`${base}/webhooks/flush`, async (c) => {
    core.webhooks.flushBatches();
    await core.clock.runDue();
    await core.webhooks.idle();
    return c.json({ success: true, pending_jobs: core.clock.pending });
  });

  app.post(`${base}/webhooks/inbound`, async (c) => {
    const b = await body(c);
    const phone = phoneOrSeed(b);
    const type = required(str(b, 'type'), 'type');
    const content = b[type];
    if (
      content !== undefined &&
      (typeof content !== 'object' || content === null || Array.isArray(content))
    ) {
      if (!(type === 'contacts' && Array.isArray(content)))
        throw new ControlError(`${type} must be an object`);
    }
    const input: InboundMessageInput = {
      phoneNumberId: phone.id,
      from: required(str(b, 'from') ?? s.seed?.recipient, 'from'),
      name: str(b, 'name'),
      type,
      message: type === 'contacts' && Array.isArray(content) ? undefined : (content as Json | undefined),
      contextMessageId: str(b, 'context_message_id'),
      mediaBase64: str(b, 'media_base64'),
      mimeType: str(b, 'mime_type'),
      extra: (b.extra as Json | undefined) ?? undefined,
    };
    const { event, messageId } = inboundMessageEvent(core, input);
    if (type === 'contacts' && Array.isArray(content)) {
      ((event.value.messages as Json[])[0] as Json).contacts = content;
    }
    const targets = core.webhooks.emit([event]);
    return c.json({ message_id: messageId, webhook_targets: targets, payload_value: event.value }, 201);
  });

  app.post(`${base}/webhooks/status`, async (c) => {
    const b = await body(c);
    const id = required(str(b, 'message_id'), 'message_id');
    const m = s.messages.get(id);
    if (!m) throw new ControlError(`no sent message ${id}`, 404);
    const status = required(str(b, 'status'), 'status') as 'sent' | 'delivered' | 'read' | 'failed';
    if (!['sent', 'delivered', 'read', 'failed'].includes(status))
      throw new ControlError('status: sent, delivered, read or failed');
    const errors = b.errors;
    if (errors !== undefined && !Array.isArray(errors))
      throw new ControlError('errors must be an array of {code, title, message, details}');
    m.status = status;
    changed();
    const event = statusEvent(core, m, status, (errors as Array<{ code: number }> | undefined) ?? undefined);
    const targets = event ? core.webhooks.emit([event]) : 0;
    return c.json({ success: true, webhook_targets: targets, payload_value: event?.value ?? null });
  });

  app.post(`${base}/webhooks/event`, async (c) => {
    const b = await body(c);
    const field = required(str(b, 'field'), 'field');
    const value = b.value;
    if (!value || typeof value !== 'object' || Array.isArray(value))
      throw new ControlError('value must be an object');
    const phoneId = str(b, 'phone_number_id');
    const wabaId = str(b, 'waba_id') ?? (phoneId ? world.phoneNumber(phoneId).wabaId : s.seed?.wabaId);
    world.waba(required(wabaId, 'waba_id'));
    const targets = core.webhooks.emit([
      { wabaId: wabaId as string, field, value: value as Json, phoneNumberId: phoneId },
    ]);
    return c.json({ success: true, webhook_targets: targets });
  });

  app.post(`${base}/webhooks/errors`, async (c) => {
    const b = await body(c);
    const phone = phoneOrSeed(b);
    const errors = b.errors;
    if (!Array.isArray(errors) || errors.length === 0)
      throw new ControlError('errors must be a non-empty array of {code, title, message, details}');
    const value = {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: digitsOf(phone.displayPhoneNumber), phone_number_id: phone.id },
      errors: errors.map((e: Json) => {
        const title = str(e, 'title') ?? str(e, 'message') ?? 'Something went wrong';
        return {
          code: num(e, 'code') ?? 131000,
          title,
          message: str(e, 'message') ?? title,
          error_data: { details: str(e, 'details') ?? title },
        };
      }),
    };
    const targets = core.webhooks.emit([
      { wabaId: phone.wabaId, field: 'messages', value, phoneNumberId: phone.id },
    ]);
    return c.json({ success: true, webhook_targets: targets });
  });

  registerUserControlRoutes(app, core, base);

  // Anything else under /_emulator is a typo, not a Graph object id.
  app.all(`${base}/*`, (c) =>
    c.json({ error: { message: `no control route ${c.req.method} ${c.req.path}; see GET /_emulator` } }, 404),
  );

  function changed(): void {
    s.touch();
    core.persist();
  }
}

/** The control API, listed by `GET /_emulator`. */
export const ROUTES = [
  'GET    /_emulator/seed',
  'GET    /_emulator/state',
  'POST   /_emulator/businesses {id?, name?}',
  'POST   /_emulator/apps {id?, name?, secret?, business_id?, redirect_uris?, require_app_secret?, callback_url?, verify_token?, webhook_fields?}',
  'PATCH  /_emulator/apps/:id {name?, redirect_uris?, require_app_secret?, webhook_fields?}',
  'POST   /_emulator/apps/:id/webhook {callback_url, verify_token, fields?}  (runs the GET handshake)',
  'DELETE /_emulator/apps/:id/webhook',
  'POST   /_emulator/apps/:id/remove {user_id?}  (user removes the app → 190/458; without user: app deleted)',
  'POST   /_emulator/apps/:id/reset-secret',
  'POST   /_emulator/apps/:id/configs {id?, scopes?, token_type?: user|system_user, expiry?: never|60d}',
  'POST   /_emulator/users {id?, name?, business_ids?, waba_ids?}',
  'POST   /_emulator/users/:id/change-password  (→ 190/460 for older tokens)',
  'POST   /_emulator/system-users {business_id?, name?, role?, app_ids?, waba_ids?}',
  'POST   /_emulator/wabas {business_id?, name?, subscribe_app_ids?}',
  'POST   /_emulator/phone-numbers {waba_id?, display_phone_number?, verified_name?, test?, allowed_recipients?, mps?, registered?}',
  'GET    /_emulator/phone-numbers/:id  (includes pending_code after request_code)',
  'PATCH  /_emulator/phone-numbers/:id {allowed_recipients?, mps?, registered?, test?, quality_rating?, webhook_url?}',
  'POST   /_emulator/templates {waba_id?, name, language?, category?, status?, components?}',
  'PATCH  /_emulator/templates/:id {status, reason?}  (sends message_template_status_update)',
  'POST   /_emulator/tokens {kind, app_id?, subject_id?, scopes?, target_ids?, expires_in?, data_access_expires_in?}',
  'POST   /_emulator/tokens/revoke {access_token}',
  'POST   /_emulator/tokens/inspect {access_token}',
  'POST   /_emulator/oauth/codes {app_id?, user_id?, config_id?, waba_ids?, scopes?, redirect_uri?, ttl_sec?, code_challenge?, code_challenge_method?}',
  'POST   /_emulator/dialog/user {user_id}',
  'POST   /_emulator/whatsapp-users {phone, name?, username?, withhold_phone?}  (a username user: no phone in webhooks)',
  "GET    /_emulator/whatsapp-users/:phone  (the user's BSUID per business portfolio)",
  'POST   /_emulator/whatsapp-users/:phone/change-number {new_phone, phone_number_id?}  (system message + user_id_update)',
  'POST   /_emulator/businesses/:id/parent-bsuids {enabled?}',
  'GET    /_emulator/clock',
  'POST   /_emulator/clock/advance {ms | seconds}',
  'POST   /_emulator/clock/set {now_ms | now}',
  'GET    /_emulator/faults',
  'POST   /_emulator/faults {kind: latency|status|reset|graph_error, path?, method?, count?, latency_ms?, status?, body?, code?, subcode?, message?, type?, details?, is_transient?}',
  'DELETE /_emulator/faults[/:id]',
  'GET    /_emulator/messages?phone_number_id=&to=&limit=',
  'DELETE /_emulator/messages',
  'GET    /_emulator/counters',
  'DELETE /_emulator/counters',
  'GET    /_emulator/webhooks/deliveries',
  'DELETE /_emulator/webhooks/deliveries',
  'POST   /_emulator/webhooks/config {batch?: {max_events, window_ms} | false, duplicate_rate?, retry_schedule_ms?, auto_statuses?, status_delays_ms?, max_age_ms?, escape_slashes?, timeout_ms?}',
  'POST   /_emulator/webhooks/flush',
  'POST   /_emulator/webhooks/inbound {phone_number_id?, from?, name?, type, <type>: {...}, context_message_id?, media_base64?, mime_type?, extra?}',
  'POST   /_emulator/webhooks/status {message_id, status: sent|delivered|read|failed, errors?}',
  'POST   /_emulator/webhooks/event {field, value, waba_id?, phone_number_id?}',
  'POST   /_emulator/webhooks/errors {phone_number_id?, errors: [{code, title?, message?, details?}]}',
  ...FLOW_CONTROL_ROUTES,
];
