import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import type { FlowJson, FlowJsonScreen } from '../flows/flow-json.js';
import { type EmuContext, type EmuEnv, type EmulatorCore, readBodyBytes } from './context.js';
import { inboundMessageEvent } from './events.js';
import { callFlowEndpoint, checkAnswer, flowJsonOf } from './flow-client.js';
import type { FlowRecord } from './flow-state.js';
import { ControlError, digitsOf } from './world.js';

/**
 * The emulator as the WhatsApp client, driven by control calls: a user opens a flow, fills a screen's form and
 * presses its footer; the client runs the footer's action (data_exchange through the endpoint, navigate, complete)
 * and, when the flow completes, delivers the `nfm_reply` message webhook.
 */

interface FlowSession {
  id: string;
  flowId: string;
  phoneNumberId: string;
  from: string;
  flowToken: string;
  screen: string;
  data: Record<string, unknown>;
  history: Array<{ screen: string; data: Record<string, unknown> }>;
  contextMessageId: string | undefined;
  done: boolean;
}

type Json = Record<string, unknown>;

const sessionsOf = new WeakMap<EmulatorCore, Map<string, FlowSession>>();
/** Open sessions kept per emulator; the oldest are forgotten past this. */
const MAX_SESSIONS = 1000;

async function jsonBody(c: EmuContext, max: number): Promise<Json> {
  const text = (await readBodyBytes(c, max)).toString('utf8').trim();
  if (text === '') return {};
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Json;
  } catch {
    // fall through
  }
  throw new ControlError('the body must be a JSON object');
}

function optString(b: Json, k: string): string | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw new ControlError(`${k} must be a non-empty string`);
  return v;
}

function optObject(b: Json, k: string): Json | undefined {
  const v = b[k];
  if (v === undefined) return undefined;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ControlError(`${k} must be an object`);
  return v as Json;
}

/** `${form.x}` / `${data.x}` in a footer payload, with the user's input and the screen's data. */
function resolvePayload(value: unknown, form: Json, data: Json): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{(form|data)\.([A-Za-z0-9_]+)\}$/.exec(value);
    if (whole) return (whole[1] === 'form' ? form : data)[whole[2] as string];
    return value.replace(/\$\{(form|data)\.([A-Za-z0-9_]+)\}/g, (_m, src: string, k: string) =>
      String((src === 'form' ? form : data)[k] ?? ''),
    );
  }
  if (Array.isArray(value)) return value.map((v) => resolvePayload(v, form, data));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolvePayload(v, form, data)]));
  }
  return value;
}

/** The footer's `on-click-action` of a screen (the button a user presses to go on). */
function footerAction(screen: FlowJsonScreen): Json {
  let found: Json | undefined;
  const walk = (node: unknown): void => {
    if (found || !node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const v of node) walk(v);
      return;
    }
    const n = node as Json;
    if (n.type === 'Footer' && n['on-click-action'] && typeof n['on-click-action'] === 'object') {
      found = n['on-click-action'] as Json;
      return;
    }
    for (const v of Object.values(n)) walk(v);
  };
  walk(screen.layout.children);
  if (!found) throw new ControlError(`screen ${screen.id} has no Footer with an on-click-action`, 409);
  return found;
}

function sessionsFor(core: EmulatorCore): Map<string, FlowSession> {
  let m = sessionsOf.get(core);
  if (!m) {
    m = new Map();
    sessionsOf.set(core, m);
  }
  return m;
}

function sessionOr404(core: EmulatorCore, id: string): FlowSession {
  const found = sessionsFor(core).get(id);
  if (!found) throw new ControlError(`no flow session ${id}`, 404);
  if (found.done) throw new ControlError(`flow session ${id} has ended`, 409);
  return found;
}

function flowOf(core: EmulatorCore, session: FlowSession): FlowRecord {
  const flow = core.state.flows.get(session.flowId);
  if (!flow) throw new ControlError(`flow ${session.flowId} was deleted`, 409);
  return flow;
}

function view(session: FlowSession, extra: Json = {}): Json {
  return {
    session_id: session.id,
    flow_id: session.flowId,
    screen: session.screen,
    data: session.data,
    done: session.done,
    ...extra,
  };
}

/** One endpoint exchange; an invalid answer is reported back to the endpoint as an error notification. */
async function exchange(
  core: EmulatorCore,
  session: FlowSession,
  flow: FlowRecord,
  json: FlowJson,
  plain: Json,
): Promise<Json> {
  const out = await callFlowEndpoint(core, flow, session.phoneNumberId, plain);
  if (!out.ok) {
    if (out.status === 427) session.done = true;
    throw new ControlError(out.problem, 502);
  }
  const problems = checkAnswer(json, plain.action === 'INIT' ? undefined : session.screen, out.answer);
  if (problems.length > 0) {
    await callFlowEndpoint(core, flow, session.phoneNumberId, {
      version: '3.0',
      action: plain.action,
      flow_token: session.flowToken,
      ...(plain.screen ? { screen: plain.screen } : {}),
      data: { error: 'invalid_response', error_message: problems.join('; ') },
    });
    throw new ControlError(`the endpoint's answer was refused by the client: ${problems.join('; ')}`, 422);
  }
  return out.answer;
}

function show(session: FlowSession, screen: string, data: Json | undefined): void {
  session.history.push({ screen: session.screen, data: session.data });
  session.screen = screen;
  session.data = data ?? {};
}

/** The flow closes: the client sends the `nfm_reply` message, which Meta delivers as a webhook. */
function complete(core: EmulatorCore, session: FlowSession, params: Json): Json {
  session.done = true;
  const { event, messageId } = inboundMessageEvent(core, {
    phoneNumberId: session.phoneNumberId,
    from: session.from,
    type: 'interactive',
    message: {
      type: 'nfm_reply',
      nfm_reply: {
        name: 'flow',
        body: 'Sent',
        response_json: JSON.stringify({ ...params, flow_token: session.flowToken }),
      },
    },
    contextMessageId: session.contextMessageId,
  });
  const targets = core.webhooks.emit([event]);
  return { nfm_reply_message_id: messageId, webhook_targets: targets };
}

/** The user opens a flow: its first screen, from the endpoint (`INIT`) or, without one, from the Flow JSON. */
async function openSession(core: EmulatorCore, b: Json): Promise<FlowSession> {
  const flowId = optString(b, 'flow_id');
  if (!flowId) throw new ControlError('flow_id is required');
  const flow = core.state.flows.get(flowId);
  if (!flow) throw new ControlError(`no flow ${flowId}`, 404);
  const mode = optString(b, 'mode') ?? 'published';
  if (mode !== 'published' && mode !== 'draft') throw new ControlError('mode: published or draft');
  // Meta: draft flows open only with mode "draft" (for testing); blocked or deprecated flows do not open.
  if (flow.status === 'BLOCKED' || flow.status === 'DEPRECATED')
    throw new ControlError(`flow ${flowId} is ${flow.status}`, 409);
  if (flow.status === 'DRAFT' && mode !== 'draft')
    throw new ControlError(`flow ${flowId} is a draft: open it with mode "draft"`, 409);
  const phoneId =
    optString(b, 'phone_number_id') ??
    [...core.state.phoneNumbers.values()].find((p) => p.wabaId === flow.wabaId)?.id;
  const phone = phoneId ? core.state.phoneNumbers.get(phoneId) : undefined;
  if (!phone || phone.wabaId !== flow.wabaId)
    throw new ControlError("phone_number_id must be a number of the flow's WABA", 400);
  const from = digitsOf(optString(b, 'from') ?? core.state.seed?.recipient ?? '');
  if (from.length < 5) throw new ControlError("from must be the user's phone number");
  const json = flowJsonOf(flow);
  const session: FlowSession = {
    id: randomBytes(8).toString('hex'),
    flowId,
    phoneNumberId: phone.id,
    from,
    flowToken: optString(b, 'flow_token') ?? randomBytes(8).toString('hex'),
    screen: '',
    data: {},
    history: [],
    contextMessageId: optString(b, 'message_id'),
    done: false,
  };
  if (json.data_api_version !== undefined && b.flow_action !== 'navigate') {
    const answer = await exchange(core, session, flow, json, {
      version: '3.0',
      action: 'INIT',
      flow_token: session.flowToken,
    });
    if (answer.screen === 'SUCCESS') throw new ControlError('INIT cannot complete the flow', 422);
    session.screen = answer.screen as string;
    session.data = (answer.data as Json | undefined) ?? {};
  } else {
    const screen = optString(b, 'screen') ?? json.screens[0]?.id ?? '';
    const data = optObject(b, 'data') ?? {};
    const problems = checkAnswer(json, undefined, { screen, data });
    if (problems.length) throw new ControlError(problems.join('; '), 422);
    session.screen = screen;
    session.data = data;
  }
  const all = sessionsFor(core);
  all.set(session.id, session);
  if (all.size > MAX_SESSIONS) all.delete(all.keys().next().value as string);
  return session;
}

export function registerFlowControlRoutes(app: Hono<EmuEnv>, core: EmulatorCore): void {
  const s = core.state;
  const base = '/_emulator/flows';
  const max = core.settings.maxBodyBytes;
  app.post(`${base}/open`, async (c) => {
    const session = await openSession(core, await jsonBody(c, max));
    return c.json(view(session, { flow_token: session.flowToken }), 201);
  });

  app.post(`${base}/sessions/:id/submit`, async (c) => {
    const session = sessionOr404(core, c.req.param('id'));
    const b = await jsonBody(c, max);
    const form = optObject(b, 'form') ?? {};
    const flow = flowOf(core, session);
    const json = flowJsonOf(flow);
    const screen = json.screens.find((x) => x.id === session.screen);
    if (!screen) throw new ControlError(`screen ${session.screen} is not in the Flow JSON`, 409);
    const action = footerAction(screen);
    const payload = (resolvePayload(action.payload ?? {}, form, session.data) ?? {}) as Json;
    switch (action.name) {
      case 'data_exchange': {
        const answer = await exchange(core, session, flow, json, {
          version: '3.0',
          action: 'data_exchange',
          screen: session.screen,
          data: payload,
          flow_token: session.flowToken,
        });
        if (answer.screen === 'SUCCESS') {
          const params = (answer.data as { extension_message_response: { params: Json } })
            .extension_message_response.params;
          return c.json(view(session, { completed: complete(core, session, params) }));
        }
        show(session, answer.screen as string, answer.data as Json | undefined);
        return c.json(view(session));
      }
      case 'navigate': {
        const next = (action.next as { name?: string } | undefined)?.name ?? '';
        const problems = checkAnswer(json, session.screen, { screen: next, data: payload });
        if (problems.length) throw new ControlError(problems.join('; '), 422);
        show(session, next, payload);
        return c.json(view(session));
      }
      case 'complete':
        return c.json(view(session, { completed: complete(core, session, payload) }));
      default:
        throw new ControlError(
          `the footer action ${String(action.name)} is not run by the emulated client`,
          409,
        );
    }
  });

  app.post(`${base}/sessions/:id/back`, async (c) => {
    const session = sessionOr404(core, c.req.param('id'));
    const previous = session.history.pop();
    if (!previous) throw new ControlError('already on the first screen', 409);
    const flow = flowOf(core, session);
    const json = flowJsonOf(flow);
    const target = json.screens.find((x) => x.id === previous.screen);
    session.screen = previous.screen;
    session.data = previous.data;
    // Meta: with refresh_on_back the client asks the endpoint for the screen's data again (action BACK).
    if (target?.refresh_on_back === true && json.data_api_version !== undefined) {
      const answer = await exchange(core, session, flow, json, {
        version: '3.0',
        action: 'BACK',
        screen: previous.screen,
        flow_token: session.flowToken,
      });
      session.screen = answer.screen as string;
      session.data = (answer.data as Json | undefined) ?? {};
    }
    return c.json(view(session));
  });

  app.get(`${base}/sessions/:id`, (c) => {
    const session = sessionsFor(core).get(c.req.param('id'));
    if (!session) throw new ControlError(`no flow session ${c.req.param('id')}`, 404);
    return c.json(view(session));
  });

  // What Meta's preview link and asset download URL give: the flow behind a token that invalidate(true) replaces.
  const byToken = (c: EmuContext): FlowRecord => {
    const flow = s.flows.get(c.req.param('id') ?? '');
    if (!flow || c.req.query('token') !== flow.previewToken || flow.previewExpiresAtMs <= core.clock.now()) {
      throw new ControlError('this link is invalid or expired', 404);
    }
    return flow;
  };
  app.get(`${base}/:id/preview`, (c) => {
    const flow = byToken(c);
    const json = flow.json ? flowJsonOf(flow) : undefined;
    return c.json({
      flow_id: flow.id,
      name: flow.name,
      status: flow.status,
      screens: json?.screens.map((x) => ({ id: x.id, title: x.title, terminal: x.terminal === true })) ?? [],
    });
  });
  app.get(`${base}/:id/flow.json`, (c) => {
    const flow = byToken(c);
    return c.body(flow.json ?? '', 200, { 'content-type': 'application/json' });
  });
}

/** Listed by `GET /_emulator` with the other control routes. */
export const FLOW_CONTROL_ROUTES = [
  'POST   /_emulator/flows/open {flow_id, from?, phone_number_id?, flow_token?, mode?: published|draft, flow_action?: data_exchange|navigate, message_id?, screen?, data?}  (the user opens a flow: INIT to the endpoint)',
  'POST   /_emulator/flows/sessions/:id/submit {form?}  (the user presses the footer: data_exchange, navigate or complete; completion delivers nfm_reply)',
  'POST   /_emulator/flows/sessions/:id/back  (BACK to the endpoint for refresh_on_back screens)',
  'GET    /_emulator/flows/sessions/:id',
  'GET    /_emulator/flows/:id/preview?token=  (what the preview_url shows)',
  'GET    /_emulator/flows/:id/flow.json?token=  (the asset download_url)',
];
