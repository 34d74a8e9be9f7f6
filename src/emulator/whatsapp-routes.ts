import { createHash, createHmac, randomInt } from 'node:crypto';
import type { Hono } from 'hono';
import { requireAccess } from './access.js';
import {
  authenticate,
  type EmuContext,
  type EmuEnv,
  type EmulatorCore,
  fieldsParam,
  header,
  pickFields,
  readBodyBytes,
  requestParams,
  useApp,
  useWaba,
} from './context.js';
import { templateStatusEvent } from './events.js';
import { graphError } from './graph-errors.js';
import { numericId } from './ids.js';
import { page } from './paging.js';
import { MANAGEMENT, MESSAGING, phoneOr404, wabaOr404 } from './routes/shared.js';
import { sendMessage } from './send-message.js';
import type { MediaRecord, PhoneNumberRecord, TemplateRecord } from './state.js';
import { validateBody } from './validate.js';

function queryOf(c: EmuContext): Record<string, string> | undefined {
  const url = c.req.url;
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return Object.fromEntries(new URLSearchParams(url.slice(q + 1)));
}

const MEDIA_MIME: Record<string, { kind: string; maxBytes: number }> = {
  'audio/aac': { kind: 'audio', maxBytes: 16 << 20 },
  'audio/amr': { kind: 'audio', maxBytes: 16 << 20 },
  'audio/mpeg': { kind: 'audio', maxBytes: 16 << 20 },
  'audio/mp4': { kind: 'audio', maxBytes: 16 << 20 },
  'audio/ogg': { kind: 'audio', maxBytes: 16 << 20 },
  'text/plain': { kind: 'document', maxBytes: 100 << 20 },
  'application/pdf': { kind: 'document', maxBytes: 100 << 20 },
  'application/msword': { kind: 'document', maxBytes: 100 << 20 },
  'application/vnd.ms-excel': { kind: 'document', maxBytes: 100 << 20 },
  'application/vnd.ms-powerpoint': { kind: 'document', maxBytes: 100 << 20 },
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': {
    kind: 'document',
    maxBytes: 100 << 20,
  },
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': {
    kind: 'document',
    maxBytes: 100 << 20,
  },
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': {
    kind: 'document',
    maxBytes: 100 << 20,
  },
  'image/jpeg': { kind: 'image', maxBytes: 5 << 20 },
  'image/png': { kind: 'image', maxBytes: 5 << 20 },
  'image/webp': { kind: 'sticker', maxBytes: 500 << 10 },
  'video/mp4': { kind: 'video', maxBytes: 16 << 20 },
  'video/3gpp': { kind: 'video', maxBytes: 16 << 20 },
  // Meta's supported-media table lists 3GPP video as `video/3gp` (the type the JS SDKs send).
  'video/3gp': { kind: 'video', maxBytes: 16 << 20 },
};

/** The phone number object (`GET /{phone-number-id}`, `/{waba}/phone_numbers`). */
function phoneObject(core: EmulatorCore, p: PhoneNumberRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    verified_name: p.verifiedName,
    code_verification_status: p.codeVerificationStatus,
    display_phone_number: p.displayPhoneNumber,
    quality_rating: p.qualityRating,
    platform_type: p.registered ? 'CLOUD_API' : 'NOT_APPLICABLE',
    throughput: { level: p.mps > core.limits.defaultMps ? 'HIGH' : 'STANDARD' },
    is_official_business_account: false,
    account_mode: p.isTestNumber ? 'SANDBOX' : 'LIVE',
  };
  if (p.webhookOverrideUrl) out.webhook_configuration = { phone_number: p.webhookOverrideUrl };
  out.id = p.id;
  return out;
}

/** Registers the WhatsApp Cloud API endpoints under `prefix` (`/:version` or ''). */
export function registerWhatsAppRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const s = core.state;
  const ok = (c: EmuContext) => c.json({ success: true });
  const mark = (c: EmuContext, endpoint: string) => {
    c.set('endpoint', endpoint);
    c.set('surface', 'whatsapp');
  };

  // --- Messages: the hot path, shared with the Node fast path (send-message.ts). ---
  app.post(`${prefix}/:id/messages`, async (c) => {
    mark(c, 'POST /{phone-number-id}/messages');
    const text = (await readBodyBytes(c, core.settings.maxBodyBytes)).toString('utf8');
    const result = sendMessage(
      core,
      {
        phoneNumberId: c.req.param('id'),
        query: queryOf(c),
        contentType: header(c, 'content-type') ?? '',
        authorization: header(c, 'authorization'),
        text,
      },
      { app: (id) => useApp(core, c, id), waba: (id) => useWaba(core, c, id) },
    );
    return c.json(result);
  });

  // --- Media ---
  app.post(`${prefix}/:id/media`, async (c) => {
    mark(c, 'POST /{phone-number-id}/media');
    const contentType = header(c, 'content-type') ?? '';
    const bytes = await readBodyBytes(c, core.settings.maxMediaBytes);
    const query = queryOf(c);
    if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
      // Auth and object errors come first, as on every Graph call.
      const p = authenticate(core, c, query);
      requireAccess(core, p, [MESSAGING], phoneOr404(core, c, c.req.param('id')).wabaId);
      throw graphError(100, '(#100) The parameter file is required.', {
        details: 'Upload media as multipart/form-data with fields messaging_product, file and type.',
      });
    }
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(bytes), {
        headers: { 'content-type': contentType },
      }).formData();
    } catch {
      throw graphError(100, '(#100) Invalid parameter', {
        details: 'The multipart/form-data body could not be parsed.',
      });
    }
    // Graph reads parameters from the query string too (body first): SDKs send messaging_product or type there.
    const field = (name: string) => {
      const v = form.get(name);
      return typeof v === 'string' ? v : query?.[name];
    };
    const token = field('access_token');
    const p = authenticate(core, c, token ? { ...query, access_token: token } : query);
    const phone = phoneOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MESSAGING], phone.wabaId);
    if (field('messaging_product') === undefined) {
      throw graphError(100, '(#100) The parameter messaging_product is required.');
    }
    if (field('messaging_product') !== 'whatsapp') {
      throw graphError(
        100,
        `(#100) Param messaging_product must be one of {WHATSAPP} - got "${field('messaging_product')}".`,
      );
    }
    const file = form.get('file');
    if (!file || typeof file === 'string') throw graphError(100, '(#100) The parameter file is required.');
    const mime = (field('type') ?? file.type ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const rule = MEDIA_MIME[mime];
    if (!rule) {
      throw graphError(100, '(#100) Invalid parameter', {
        details: `Param type must be a supported media MIME type (${Object.keys(MEDIA_MIME).join(', ')}) - got "${mime}".`,
      });
    }
    const data = Buffer.from(await file.arrayBuffer());
    if (data.length === 0)
      throw graphError(100, '(#100) Invalid parameter', { details: 'Param file is empty.' });
    if (data.length > rule.maxBytes) {
      throw graphError(131053, '(#131053) Media upload error', {
        details: `${rule.kind} files are limited to ${rule.maxBytes} bytes; this one has ${data.length}.`,
      });
    }
    const media: MediaRecord = {
      id: numericId(16),
      phoneNumberId: phone.id,
      mimeType: mime,
      sha256: createHash('sha256').update(data).digest('hex'),
      fileSize: data.length,
      data,
      createdAtMs: core.clock.now(),
      deleted: false,
    };
    s.media.set(media.id, media);
    s.touch();
    core.persist();
    return c.json({ id: media.id });
  });

  // --- Phone number edges ---
  app.get(`${prefix}/:id/whatsapp_business_profile`, async (c) => {
    mark(c, 'GET /{phone-number-id}/whatsapp_business_profile');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const phone = phoneOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MESSAGING, MANAGEMENT], phone.wabaId);
    const pr = phone.profile;
    const profile: Record<string, unknown> = {
      about: pr.about,
      address: pr.address,
      description: pr.description,
      email: pr.email,
      profile_picture_url: pr.profilePictureUrl,
      websites: pr.websites,
      vertical: pr.vertical,
      messaging_product: 'whatsapp',
    };
    const fields = fieldsParam(params);
    if (fields) {
      for (const k of Object.keys(profile))
        if (!fields.has(k) && k !== 'messaging_product') delete profile[k];
    }
    return c.json({ data: [profile] });
  });

  app.post(`${prefix}/:id/whatsapp_business_profile`, async (c) => {
    mark(c, 'POST /{phone-number-id}/whatsapp_business_profile');
    const { body, phone } = await phoneWrite(c, [MESSAGING, MANAGEMENT]);
    validateBody('BusinessProfileUpdateRequest', body);
    const b = body as Record<string, unknown>;
    const pr = phone.profile;
    if (typeof b.about === 'string') pr.about = b.about;
    if (typeof b.address === 'string') pr.address = b.address;
    if (typeof b.description === 'string') pr.description = b.description;
    if (typeof b.email === 'string') pr.email = b.email;
    if (typeof b.vertical === 'string') pr.vertical = b.vertical;
    if (Array.isArray(b.websites)) pr.websites = b.websites.map(String);
    if (typeof b.profile_picture_handle === 'string') {
      pr.profilePictureUrl = `https://pps.whatsapp.net/v/emulated/${encodeURIComponent(b.profile_picture_handle.slice(0, 32))}`;
    }
    changed();
    return ok(c);
  });

  app.post(`${prefix}/:id/register`, async (c) => {
    mark(c, 'POST /{phone-number-id}/register');
    const { body, phone } = await phoneWrite(c, [MANAGEMENT, MESSAGING]);
    validateBody('RegisterRequest', body);
    const pin = String((body as { pin: string }).pin);
    if (phone.pin !== undefined && phone.pin !== pin) {
      throw graphError(133005, '(#133005) Two step verification PIN Mismatch', {
        details: 'The PIN does not match the two-step verification PIN set for this number.',
      });
    }
    phone.registered = true;
    phone.pin = pin;
    changed();
    return ok(c);
  });

  app.post(`${prefix}/:id/deregister`, async (c) => {
    mark(c, 'POST /{phone-number-id}/deregister');
    const { phone } = await phoneWrite(c, [MANAGEMENT, MESSAGING]);
    phone.registered = false;
    changed();
    return ok(c);
  });

  app.post(`${prefix}/:id/request_code`, async (c) => {
    mark(c, 'POST /{phone-number-id}/request_code');
    const { body, phone } = await phoneWrite(c, [MANAGEMENT]);
    validateBody('RequestCodeRequest', body);
    const now = core.clock.now();
    if (phone.lastCodeRequestAtMs !== undefined && now - phone.lastCodeRequestAtMs < 60_000) {
      throw graphError(
        613,
        'Too many verification code requests. Please wait before requesting another code',
        {
          type: 'GraphMethodException',
        },
      );
    }
    phone.lastCodeRequestAtMs = now;
    phone.pendingCode = String(randomInt(0, 1_000_000)).padStart(6, '0');
    phone.codeVerificationStatus = 'NOT_VERIFIED';
    changed();
    return ok(c);
  });

  app.post(`${prefix}/:id/verify_code`, async (c) => {
    mark(c, 'POST /{phone-number-id}/verify_code');
    const { body, phone } = await phoneWrite(c, [MANAGEMENT]);
    validateBody('VerifyCodeRequest', body);
    const code = String((body as { code: string }).code);
    if (!phone.pendingCode || phone.pendingCode !== code) {
      throw graphError(136025, '(#136025) Verification code is incorrect', {
        details: phone.pendingCode
          ? 'The code does not match the last one sent to this number.'
          : 'No code was requested for this number: call request_code first.',
      });
    }
    phone.pendingCode = undefined;
    phone.codeVerificationStatus = 'VERIFIED';
    changed();
    return ok(c);
  });

  // --- WABA edges ---
  app.get(`${prefix}/:id/phone_numbers`, async (c) => {
    mark(c, 'GET /{waba-id}/phone_numbers');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT, MESSAGING], waba.id);
    const fields = fieldsParam(params);
    const numbers = [...s.phoneNumbers.values()].filter((n) => n.wabaId === waba.id);
    return c.json(page(numbers, params, (n) => pickFields(phoneObject(core, n), fields), c));
  });

  app.get(`${prefix}/:id/subscribed_apps`, async (c) => {
    mark(c, 'GET /{waba-id}/subscribed_apps');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], waba.id);
    const data = waba.subscriptions.flatMap((sub) => {
      const a = s.apps.get(sub.appId);
      if (!a) return [];
      const item: Record<string, unknown> = {
        whatsapp_business_api_data: {
          id: a.id,
          link: `https://www.facebook.com/games/?app_id=${a.id}`,
          name: a.name,
        },
      };
      if (sub.overrideCallbackUri) item.override_callback_uri = sub.overrideCallbackUri;
      return [item];
    });
    return c.json({ data });
  });

  app.post(`${prefix}/:id/subscribed_apps`, async (c) => {
    mark(c, 'POST /{waba-id}/subscribed_apps');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], waba.id);
    const body: Record<string, string> = {};
    if (params.override_callback_uri !== undefined) body.override_callback_uri = params.override_callback_uri;
    if (params.verify_token !== undefined) body.verify_token = params.verify_token;
    validateBody('SubscriptionRequest', body);
    const override = body.override_callback_uri;
    if (override !== undefined && override !== '') {
      if (!body.verify_token) throw graphError(100, '(#100) The parameter verify_token is required.');
      const result = await core.webhooks.verifyCallback(override, body.verify_token);
      if (!result.ok) {
        throw graphError(
          2200,
          `(#2200) Callback verification failed with the following errors: ${result.reason}`,
          {
            type: 'OAuthException',
          },
        );
      }
    }
    let sub = waba.subscriptions.find((x) => x.appId === p.app.id);
    if (!sub) {
      sub = { appId: p.app.id, overrideCallbackUri: undefined, verifyToken: undefined };
      waba.subscriptions.push(sub);
    }
    sub.overrideCallbackUri = override || undefined;
    sub.verifyToken = override ? body.verify_token : undefined;
    changed();
    return ok(c);
  });

  app.delete(`${prefix}/:id/subscribed_apps`, async (c) => {
    mark(c, 'DELETE /{waba-id}/subscribed_apps');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], waba.id);
    waba.subscriptions = waba.subscriptions.filter((x) => x.appId !== p.app.id);
    changed();
    return ok(c);
  });

  // --- Media download (Meta serves these from lookaside.fbsbx.com; here from the emulator's own origin) ---
  app.get('/whatsapp_business/attachments/', async (c) => {
    c.set('endpoint', 'GET /whatsapp_business/attachments/');
    c.set('surface', 'whatsapp');
    const q = queryOf(c) ?? {};
    const media = q.mid ? s.media.get(q.mid) : undefined;
    const ext = Number(q.ext);
    if (
      !media ||
      media.deleted ||
      !q.hash ||
      q.hash !== mediaHash(core, media.id, ext) ||
      core.clock.now() > ext * 1000
    ) {
      throw graphError(100, 'Unsupported get request. The media URL is invalid or has expired.', {
        subcode: 33,
        type: 'GraphMethodException',
        status: 404,
      });
    }
    const p = authenticate(core, c, q);
    requireAccess(
      core,
      p,
      [MESSAGING, MANAGEMENT],
      (s.phoneNumbers.get(media.phoneNumberId) as PhoneNumberRecord)?.wabaId ?? '',
    );
    return c.body(new Uint8Array(media.data), 200, {
      'content-type': media.mimeType,
      'content-length': String(media.fileSize),
      'content-disposition': `inline;filename=${media.id}`,
    });
  });

  async function phoneWrite(c: EmuContext, scopes: string[]) {
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const phone = phoneOr404(core, c, c.req.param('id') as string);
    requireAccess(core, p, scopes, phone.wabaId);
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params)) {
      if (k === 'access_token' || k === 'appsecret_proof' || k === 'appsecret_time') continue;
      body[k] = /^\s*[{[]/.test(v) ? safeJson(v) : v;
    }
    return { p, body, phone };
  }

  function changed(): void {
    s.touch();
    core.persist();
  }
}

/**
 * A template under review (`templateApproval.delayMs`) gets the configured outcome at `reviewAtMs` (virtual time),
 * with its `message_template_status_update`. Also re-armed for templates restored from a state file.
 */
export function scheduleTemplateReview(core: EmulatorCore, record: TemplateRecord): void {
  const at = record.reviewAtMs;
  if (at === undefined) return;
  core.clock.schedule(at, () => {
    if (!core.state.templates.has(record.id) || record.reviewAtMs !== at) return;
    const status = core.settings.templateApproval.status;
    record.status = status;
    record.reviewAtMs = undefined;
    core.state.touch();
    core.webhooks.emit([
      templateStatusEvent(record, status, status === 'REJECTED' ? 'INVALID_FORMAT' : 'NONE'),
    ]);
  });
}

function safeJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Signs a media URL so it cannot be forged or reused after it expires. */
export function mediaHash(core: EmulatorCore, mediaId: string, extSec: number): string {
  return createHmac('sha256', core.mediaUrlKey)
    .update(`${mediaId}:${extSec}`)
    .digest('base64url')
    .slice(0, 22);
}

/** `GET /{media-id}`: the media URL object (facts; pywa fixture shape). */
export function mediaObject(core: EmulatorCore, c: EmuContext, media: MediaRecord): Record<string, unknown> {
  const origin = core.settings.mediaUrlOrigin ?? new URL(c.req.url).origin;
  const ext = Math.floor((core.clock.now() + core.settings.mediaUrlTtlMs) / 1000);
  const url = `${origin}/whatsapp_business/attachments/?mid=${media.id}&ext=${ext}&hash=${mediaHash(core, media.id, ext)}`;
  return {
    url,
    mime_type: media.mimeType,
    sha256: media.sha256,
    file_size: media.fileSize,
    id: media.id,
    messaging_product: 'whatsapp',
  };
}
