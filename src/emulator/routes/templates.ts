import type { Hono } from 'hono';
import { templateProblems } from '../../whatsapp/template-components.js';
import { requireAccess } from '../access.js';
import {
  authenticate,
  type EmuContext,
  type EmuEnv,
  type EmulatorCore,
  fieldsParam,
  pickFields,
  requestParams,
  useWaba,
} from '../context.js';
import { templateStatusEvent } from '../events.js';
import { graphError } from '../graph-errors.js';
import { numericId } from '../ids.js';
import { page } from '../paging.js';
import type { TemplateRecord, WabaRecord } from '../state.js';
import { libraryComponents, TEMPLATE_LIBRARY } from '../template-library.js';
import { scheduleTemplateReview } from '../whatsapp-routes.js';
import { arrayParam, changed, invalidParameter, MANAGEMENT, mark, required, wabaOr404 } from './shared.js';

/**
 * Message templates (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates):
 * list, create (with Meta's component checks), get, edit, delete by name or id, the template library and
 * authentication templates in several languages (`upsert_message_templates`).
 */

const CATEGORIES = ['AUTHENTICATION', 'MARKETING', 'UTILITY'];
const DAY_MS = 86_400_000;

export function templateObject(t: TemplateRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { name: t.name };
  // Meta lists parameter_format on every template; POSITIONAL ({{1}}) is the default when none was set.
  out.parameter_format = t.parameterFormat ?? 'POSITIONAL';
  Object.assign(out, {
    components: t.components,
    language: t.language,
    status: t.status,
    category: t.category,
    id: t.id,
  });
  if (t.messageSendTtlSeconds !== undefined) out.message_send_ttl_seconds = t.messageSendTtlSeconds;
  return out;
}

function categoryOf(raw: string | undefined): string {
  const category = (raw ?? '').toUpperCase();
  if (!CATEGORIES.includes(category)) {
    throw graphError(
      100,
      `(#100) Param category must be one of {AUTHENTICATION, MARKETING, UTILITY} - got "${(raw ?? '').slice(0, 40)}".`,
    );
  }
  return category;
}

function checkName(name: string): void {
  if (!/^[a-z0-9_]{1,512}$/.test(name)) {
    throw graphError(100, '(#100) Invalid parameter', {
      details: `Param name must contain only lowercase letters, numbers and underscores (at most 512) - got "${name.slice(0, 80)}".`,
    });
  }
}

/** Meta's component checks, reported as its invalid-parameter error (first problem in the user message). */
function checkComponents(components: unknown[], category: string, parameterFormat: string | undefined): void {
  const problems = templateProblems(components, { category, parameterFormat });
  if (problems.length)
    throw invalidParameter(problems.join('; '), { userTitle: 'Message template is not valid' });
}

function sameLanguageExists(core: EmulatorCore, waba: WabaRecord, name: string, language: string): boolean {
  for (const t of core.state.templates.values()) {
    if (t.wabaId === waba.id && t.name === name && t.language === language) return true;
  }
  return false;
}

/** Stores a new template and starts its review (`templateApproval`), with the status webhook. */
function submit(core: EmulatorCore, record: Omit<TemplateRecord, 'status' | 'id'>): TemplateRecord {
  const approval = core.settings.templateApproval;
  const t: TemplateRecord = {
    ...record,
    id: numericId(16),
    status: approval.delayMs > 0 ? 'PENDING' : approval.status,
    ...(approval.delayMs > 0 ? { reviewAtMs: core.clock.now() + approval.delayMs } : {}),
  };
  core.state.templates.set(t.id, t);
  changed(core);
  review(core, t);
  return t;
}

function review(core: EmulatorCore, t: TemplateRecord): void {
  if (t.reviewAtMs !== undefined) scheduleTemplateReview(core, t);
  else core.clock.schedule(core.clock.now(), () => core.webhooks.emit([templateStatusEvent(t, t.status)]));
}

/** Edit rules (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates#edit-a-message-template). */
function edit(core: EmulatorCore, t: TemplateRecord, params: Record<string, string>): void {
  if (!['APPROVED', 'REJECTED', 'PAUSED'].includes(t.status)) {
    throw invalidParameter(
      `Only approved, rejected or paused templates can be edited; this one is ${t.status}.`,
      {
        userTitle: 'Message template can not be edited',
      },
    );
  }
  // Meta's own edit example repeats name and language; they identify the template and can't change.
  for (const [param, current] of [
    ['name', t.name],
    ['language', t.language],
  ] as const) {
    if (params[param] !== undefined && params[param] !== current) {
      throw invalidParameter(`A template's ${param} can't be edited (it is "${current}").`);
    }
  }
  const category = params.category !== undefined ? categoryOf(params.category) : undefined;
  if (category && category !== t.category && t.status === 'APPROVED') {
    throw invalidParameter("The category of an approved template can't be changed.", {
      userTitle: 'Category can not be edited',
    });
  }
  const components = params.components !== undefined ? arrayParam(params, 'components') : undefined;
  const ttl =
    params.message_send_ttl_seconds !== undefined ? Number(params.message_send_ttl_seconds) : undefined;
  if (components === undefined && category === undefined && ttl === undefined) {
    throw graphError(100, '(#100) The parameter components is required.');
  }
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < -1)) {
    throw graphError(100, '(#100) Param message_send_ttl_seconds must be an integer.');
  }
  if (components) checkComponents(components, category ?? t.category, t.parameterFormat);
  const now = core.clock.now();
  if (t.status === 'APPROVED') {
    const recent = (t.editsAtMs ?? []).filter((at) => at > now - 30 * DAY_MS);
    if (recent.some((at) => at > now - DAY_MS) || recent.length >= 10) {
      throw invalidParameter(
        'An approved template can be edited once in 24 hours and 10 times in 30 days; try again later.',
        { userTitle: 'Edit limit reached' },
      );
    }
    t.editsAtMs = [...recent, now];
  }
  if (components) t.components = components;
  if (category) t.category = category;
  if (ttl !== undefined) t.messageSendTtlSeconds = ttl;
  // An edited template goes back to review.
  const approval = core.settings.templateApproval;
  t.status = approval.delayMs > 0 ? 'PENDING' : approval.status;
  t.reviewAtMs = approval.delayMs > 0 ? now + approval.delayMs : undefined;
  changed(core);
  review(core, t);
}

export function registerTemplateRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const s = core.state;
  const wabaFor = async (c: EmuContext) => {
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id') as string);
    requireAccess(core, p, [MANAGEMENT], waba.id);
    return { params, waba };
  };

  app.get(`${prefix}/message_template_library`, async (c) => {
    mark(c, 'GET /message_template_library');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    authenticate(core, c, params);
    const search = params.search?.toLowerCase();
    const list = TEMPLATE_LIBRARY.filter(
      (t) =>
        (!search || t.name.includes(search) || t.body.toLowerCase().includes(search)) &&
        (!params.topic || t.topic === params.topic.toUpperCase()) &&
        (!params.usecase || t.usecase === params.usecase.toUpperCase()) &&
        (!params.industry || t.industry.includes(params.industry.toUpperCase())) &&
        (!params.language || t.language === params.language),
    );
    return c.json(page(list, params, (t) => pickFields({ ...t }, fieldsParam(params)), c));
  });

  app.get(`${prefix}/:id/message_templates`, async (c) => {
    mark(c, 'GET /{waba-id}/message_templates');
    const { params, waba } = await wabaFor(c);
    const list = [...s.templates.values()].filter(
      (t) =>
        t.wabaId === waba.id &&
        // Meta's name filter matches a part of the name.
        (!params.name || t.name.includes(params.name)) &&
        (!params.status || t.status === params.status.toUpperCase()) &&
        (!params.language || t.language === params.language) &&
        (!params.category || t.category === params.category.toUpperCase()),
    );
    return c.json(page(list, params, (t) => pickFields(templateObject(t), fieldsParam(params)), c));
  });

  app.post(`${prefix}/:id/message_templates`, async (c) => {
    mark(c, 'POST /{waba-id}/message_templates');
    const { params, waba } = await wabaFor(c);
    const name = required(params, 'name');
    checkName(name);
    const language = required(params, 'language');
    const category = categoryOf(params.category);
    let components: unknown[];
    if (params.library_template_name !== undefined) {
      const entry = TEMPLATE_LIBRARY.find((t) => t.name === params.library_template_name);
      if (!entry) {
        throw invalidParameter(
          `Library template "${params.library_template_name.slice(0, 80)}" does not exist.`,
        );
      }
      const inputs = params.library_template_button_inputs;
      components = libraryComponents(
        entry,
        inputs ? arrayParam(params, 'library_template_button_inputs') : undefined,
      );
    } else {
      if (params.components === undefined)
        throw graphError(100, '(#100) The parameter components is required.');
      components = arrayParam(params, 'components');
      checkComponents(components, category, params.parameter_format);
    }
    if (sameLanguageExists(core, waba, name, language)) {
      throw invalidParameter(
        `There is already ${language} content for this template. You can create a new template and try again.`,
        { subcode: 2388024, userTitle: 'Content in This Language Already Exists' },
      );
    }
    const t = submit(core, {
      wabaId: waba.id,
      name,
      language,
      category,
      components,
      parameterFormat: params.parameter_format?.toUpperCase(),
    });
    return c.json({ id: t.id, status: t.status, category: t.category });
  });

  app.delete(`${prefix}/:id/message_templates`, async (c) => {
    mark(c, 'DELETE /{waba-id}/message_templates');
    const { params, waba } = await wabaFor(c);
    const name = required(params, 'name');
    const doomed = [...s.templates.values()].filter(
      (t) => t.wabaId === waba.id && t.name === name && (!params.hsm_id || t.id === params.hsm_id),
    );
    if (doomed.length === 0) {
      throw invalidParameter(`Message template "${name.slice(0, 80)}" was not found.`, { subcode: 2593002 });
    }
    for (const t of doomed) s.templates.delete(t.id);
    changed(core);
    return c.json({ success: true });
  });

  // Authentication templates in several languages at once; an existing language version is updated.
  app.post(`${prefix}/:id/upsert_message_templates`, async (c) => {
    mark(c, 'POST /{waba-id}/upsert_message_templates');
    const { params, waba } = await wabaFor(c);
    const name = required(params, 'name');
    checkName(name);
    if (categoryOf(params.category ?? 'AUTHENTICATION') !== 'AUTHENTICATION') {
      throw invalidParameter('upsert_message_templates only takes AUTHENTICATION templates.');
    }
    const languages = arrayParam(params, 'languages');
    if (languages.length === 0 || languages.some((l) => typeof l !== 'string' || !l)) {
      throw graphError(100, '(#100) Param languages must be a non-empty array of language codes.');
    }
    const components = arrayParam(params, 'components');
    checkComponents(components, 'AUTHENTICATION', undefined);
    const data = (languages as string[]).map((language) => {
      const existing = [...s.templates.values()].find(
        (t) => t.wabaId === waba.id && t.name === name && t.language === language,
      );
      if (existing) {
        existing.components = components;
        changed(core);
        return { id: existing.id, status: existing.status, language };
      }
      const t = submit(core, {
        wabaId: waba.id,
        name,
        language,
        category: 'AUTHENTICATION',
        components,
        parameterFormat: undefined,
      });
      return { id: t.id, status: t.status, language };
    });
    return c.json({ data });
  });

  // --- The template node: GET and POST /{template-id}; other ids fall through to the generic node routes. ---
  const templateFor = async (c: EmuContext) => {
    const t = s.templates.get(c.req.param('id') as string);
    if (!t) return undefined;
    mark(c, `${c.req.method} /{template-id}`);
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    useWaba(core, c, t.wabaId);
    requireAccess(core, p, [MANAGEMENT], t.wabaId);
    return { t, params };
  };

  app.get(`${prefix}/:id`, async (c, next) => {
    const found = await templateFor(c);
    if (!found) return next();
    return c.json(pickFields(templateObject(found.t), fieldsParam(found.params)));
  });

  app.post(`${prefix}/:id`, async (c, next) => {
    const found = await templateFor(c);
    if (!found) return next();
    edit(core, found.t, found.params);
    return c.json({ success: true });
  });
}
