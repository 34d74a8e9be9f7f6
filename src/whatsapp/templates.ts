import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import { type ListOptions, type PageIterator, paginate } from './paginate.js';
import { objectId, requireWaba } from './require-waba.js';
import { type TemplateContentComponent, templateProblems } from './template-components.js';

export type TemplateCategory = 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';

export interface MessageTemplate {
  id: string;
  name: string;
  language: string;
  status: string;
  category: string;
  components?: unknown[];
  [key: string]: unknown;
}

export interface TemplateInput {
  name: string;
  language: string;
  category: TemplateCategory;
  components: TemplateContentComponent[] | unknown[];
  allow_category_change?: boolean;
  parameter_format?: 'POSITIONAL' | 'NAMED';
  message_send_ttl_seconds?: number;
}

/** A template of Meta's template library (`GET /message_template_library`). */
export interface LibraryTemplate {
  id: string;
  name: string;
  language: string;
  category: string;
  topic?: string;
  usecase?: string;
  industry?: string[];
  body?: string;
  body_params?: string[];
  [key: string]: unknown;
}

/** An authentication template for several languages at once (`POST /{waba}/upsert_message_templates`). */
export interface AuthenticationTemplateInput {
  name: string;
  languages: string[];
  components: unknown[];
  message_send_ttl_seconds?: number;
}

const NAME = /^[a-z0-9_]{1,512}$/;

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new ValidationError('must be lowercase letters, digits and underscores', 'template.name');
  }
}

function check(components: unknown, options: { category?: string; parameterFormat?: string }): void {
  const problems = templateProblems(components, options);
  if (problems.length) throw new ValidationError(problems.join('; '), 'template.components');
}

/** `wa.templates`: the message templates of the WABA, their lifecycle, the template library. */
export class TemplatesApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly waba: () => string | undefined,
  ) {}

  /** Every template, page by page: `for await (const t of wa.templates.list({ status: 'APPROVED' }))`. */
  list(
    options: ListOptions & { name?: string; status?: string; category?: string; language?: string } = {},
  ): PageIterator<MessageTemplate> {
    return paginate(this.graph, () => `${requireWaba(this.waba())}/message_templates`, options);
  }

  /** `GET /{template-id}`. */
  async get(templateId: string, fields?: string): Promise<MessageTemplate> {
    return this.graph.get(objectId(templateId, 'templateId'), { fields });
  }

  /** Every language version of the template called `name` (Meta's "get by name" is the filtered list). */
  async getByName(
    name: string,
    options: { language?: string; fields?: string } = {},
  ): Promise<MessageTemplate[]> {
    checkName(name);
    // Meta's name filter matches substrings; keep the exact name only.
    const all = await this.list({ name, ...options }).all();
    return all.filter((t) => t.name === name);
  }

  /** Submits a template for review. Components are checked as Meta checks them before anything is sent. */
  async create(template: TemplateInput): Promise<{ id: string; status: string; category: string }> {
    checkName(template.name);
    check(template.components, { category: template.category, parameterFormat: template.parameter_format });
    return this.graph.post(`${requireWaba(this.waba())}/message_templates`, template);
  }

  /**
   * `POST /{template-id}`: new components, or a new category (a rejected or paused template only). Meta allows
   * an approved template one edit a day and ten in 30 days; the edited template goes back to review.
   */
  async edit(
    templateId: string,
    change: { components?: unknown[]; category?: TemplateCategory; message_send_ttl_seconds?: number },
  ): Promise<{ success: boolean }> {
    if (
      change.components === undefined &&
      change.category === undefined &&
      change.message_send_ttl_seconds === undefined
    ) {
      throw new ValidationError('needs components, category or message_send_ttl_seconds', 'change');
    }
    if (change.components !== undefined) check(change.components, { category: change.category });
    return this.graph.post(objectId(templateId, 'templateId'), change);
  }

  /** Deletes by name (all languages), or one language version with `hsmId`. */
  async delete(input: { name: string; hsmId?: string }): Promise<{ success: boolean }> {
    checkName(input.name);
    if (input.hsmId !== undefined) objectId(input.hsmId, 'hsmId');
    return this.graph.delete(`${requireWaba(this.waba())}/message_templates`, {
      name: input.name,
      hsm_id: input.hsmId,
    });
  }

  /** Deletes one language version by id (Meta needs its name too: `hsm_id` + `name`). */
  async deleteById(templateId: string, name: string): Promise<{ success: boolean }> {
    return this.delete({ name, hsmId: objectId(templateId, 'templateId') });
  }

  /** Browses Meta's template library (pre-written utility and authentication templates). */
  library(
    options: ListOptions & {
      search?: string;
      topic?: string;
      usecase?: string;
      industry?: string;
      language?: string;
    } = {},
  ): PageIterator<LibraryTemplate> {
    return paginate(this.graph, 'message_template_library', options);
  }

  /** Creates a template from a library template (`library_template_name`), with its button inputs if any. */
  async createFromLibrary(input: {
    name: string;
    language: string;
    category: TemplateCategory;
    libraryTemplateName: string;
    libraryTemplateButtonInputs?: unknown[];
  }): Promise<{ id: string; status: string; category: string }> {
    checkName(input.name);
    return this.graph.post(`${requireWaba(this.waba())}/message_templates`, {
      name: input.name,
      language: input.language,
      category: input.category,
      library_template_name: input.libraryTemplateName,
      ...(input.libraryTemplateButtonInputs
        ? { library_template_button_inputs: input.libraryTemplateButtonInputs }
        : {}),
    });
  }

  /** Creates or updates an authentication template in several languages at once. */
  async upsertAuthentication(
    input: AuthenticationTemplateInput,
  ): Promise<{ data: Array<{ id: string; status: string; language: string }> }> {
    checkName(input.name);
    if (!Array.isArray(input.languages) || input.languages.length === 0) {
      throw new ValidationError('needs at least one language', 'languages');
    }
    check(input.components, { category: 'AUTHENTICATION' });
    return this.graph.post(`${requireWaba(this.waba())}/upsert_message_templates`, {
      name: input.name,
      languages: input.languages,
      category: 'AUTHENTICATION',
      components: input.components,
      ...(input.message_send_ttl_seconds ? { message_send_ttl_seconds: input.message_send_ttl_seconds } : {}),
    });
  }
}
