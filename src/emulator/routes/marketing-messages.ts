import type { Hono } from 'hono';
import { requireAccess } from '../access.js';
import {
  authenticate,
  type EmuEnv,
  type EmulatorCore,
  header,
  parseJson,
  queryParams,
  readBodyBytes,
  useApp,
  useWaba,
} from '../context.js';
import { graphError } from '../graph-errors.js';
import { sendMessage } from '../send-message.js';
import { MESSAGING, mark, phoneOr404 } from './shared.js';

/**
 * Marketing Messages API (`POST /{phone}/marketing_messages`, the spec's Marketing Messages tag): a template send
 * whose template must be a MARKETING one, with the pacing fields `product_policy` (CLOUD_API_FALLBACK | STRICT) and
 * `message_activity_sharing` (boolean). Everything else (auth, recipient, template existence and parameters) is the
 * messages endpoint's own validation: the send is handed to it without the two extra fields.
 */

const POLICIES = ['CLOUD_API_FALLBACK', 'STRICT'];

export function registerMarketingMessageRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  app.post(`${prefix}/:id/marketing_messages`, async (c) => {
    mark(c, 'POST /{phone-number-id}/marketing_messages');
    const text = (await readBodyBytes(c, core.settings.maxBodyBytes)).toString('utf8');
    const body = (text.trim() ? parseJson(text) : {}) as Record<string, unknown>;
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw graphError(100, '(#100) The body must be a JSON object.');
    const { product_policy: policy, message_activity_sharing: sharing, ...message } = body;
    const input = {
      phoneNumberId: c.req.param('id'),
      query: queryParams(c),
      contentType: 'application/json',
      authorization: header(c, 'authorization'),
      text: JSON.stringify(message),
    };
    const sink = { app: (id: string) => useApp(core, c, id), waba: (id: string) => useWaba(core, c, id) };
    // Auth and object errors first, as on every Graph call.
    const p = authenticate(core, c, input.query);
    const phone = phoneOr404(core, c, input.phoneNumberId);
    requireAccess(core, p, [MESSAGING], phone.wabaId);
    if (policy !== undefined && !POLICIES.includes(String(policy))) {
      throw graphError(
        100,
        `(#100) Param product_policy must be one of {${POLICIES.join(', ')}} - got "${String(policy).slice(0, 40)}".`,
      );
    }
    if (sharing !== undefined && typeof sharing !== 'boolean') {
      throw graphError(100, '(#100) Param message_activity_sharing must be a boolean.');
    }
    if (message.type !== 'template') {
      throw graphError(
        100,
        '(#100) Param type must be "template": the Marketing Messages API sends marketing templates only.',
      );
    }
    const t = message.template as { name?: unknown; language?: { code?: unknown } } | undefined;
    const record = [...core.state.templates.values()].find(
      (x) => x.wabaId === phone.wabaId && x.name === t?.name && x.language === t?.language?.code,
    );
    if (record && record.category !== 'MARKETING') {
      throw graphError(100, '(#100) Invalid parameter', {
        details: `Template ${record.name} is ${record.category}: the Marketing Messages API sends MARKETING templates only.`,
      });
    }
    return c.json(sendMessage(core, input, sink));
  });
}
