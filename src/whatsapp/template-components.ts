/**
 * Message template components: typed builders and the checks Meta applies when a template is created or edited
 * (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components):
 * header formats and their samples, body and footer lengths, variables numbered {{1}}..{{n}} without gaps and each
 * sampled, and button limits (10 in all, 2 URL, 1 phone number, 1 copy code). The emulator applies the same checks
 * to what reaches it, so a template the SDK lets through and Meta would refuse shows up in tests.
 */

export type HeaderFormat = 'TEXT' | 'IMAGE' | 'VIDEO' | 'DOCUMENT' | 'LOCATION';

export interface TemplateContentButton {
  type: 'QUICK_REPLY' | 'URL' | 'PHONE_NUMBER' | 'COPY_CODE' | 'OTP' | 'FLOW' | 'MPM' | 'CATALOG' | string;
  text?: string;
  url?: string;
  phone_number?: string;
  example?: string[] | string;
  [key: string]: unknown;
}

export interface TemplateContentComponent {
  type: 'HEADER' | 'BODY' | 'FOOTER' | 'BUTTONS' | string;
  format?: HeaderFormat | string;
  text?: string;
  example?: {
    header_text?: string[];
    header_handle?: string[];
    body_text?: string[][];
    header_text_named_params?: Array<{ param_name: string; example: string }>;
    body_text_named_params?: Array<{ param_name: string; example: string }>;
  };
  buttons?: TemplateContentButton[];
  [key: string]: unknown;
}

/** Meta's limits on template content (components reference above). */
export const TEMPLATE_LIMITS = {
  headerText: 60,
  bodyText: 1024,
  footerText: 60,
  buttonText: 25,
  buttons: 10,
  urlButtons: 2,
  phoneButtons: 1,
  copyCodeButtons: 1,
  headerVariables: 1,
} as const;

const POSITIONAL = /\{\{\s*(\d+)\s*\}\}/g;
const NAMED = /\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}/g;

/** The variables of a text, in order of appearance: numbers for positional, names for named. */
export function templateVariables(text: string, format: 'POSITIONAL' | 'NAMED' = 'POSITIONAL'): string[] {
  return [...text.matchAll(format === 'NAMED' ? NAMED : POSITIONAL)].map((m) => m[1] as string);
}

function checkVariables(
  where: string,
  text: string,
  format: 'POSITIONAL' | 'NAMED',
  samples: unknown[] | undefined,
  problems: string[],
): number {
  const vars = templateVariables(text, format);
  if (format === 'POSITIONAL') {
    const distinct = [...new Set(vars.map(Number))].sort((a, b) => a - b);
    distinct.forEach((n, i) => {
      if (n !== i + 1)
        problems.push(`${where}: variables must be numbered {{1}}, {{2}}, ... without gaps (found {{${n}}})`);
    });
    if (templateVariables(text, 'NAMED').length > 0) {
      problems.push(`${where}: named variables need parameter_format NAMED`);
    }
  }
  const trimmed = text.trim();
  // Meta refuses a body that starts or ends with a variable (its own examples end headers with one).
  if (
    where === 'BODY' &&
    vars.length > 0 &&
    (/^\{\{[^}]*\}\}/.test(trimmed) || /\{\{[^}]*\}\}$/.test(trimmed))
  ) {
    problems.push(`${where}: a variable can't be at the start or end of the text`);
  }
  const count = new Set(vars).size;
  if (count > 0 && (!samples || samples.length !== count)) {
    problems.push(`${where}: ${count} variable(s) need ${count} sample value(s) in example`);
  }
  return count;
}

function len(s: string): number {
  return [...s].length;
}

function checkHeader(c: TemplateContentComponent, format: 'POSITIONAL' | 'NAMED', problems: string[]): void {
  const f = String(c.format ?? '').toUpperCase();
  if (!['TEXT', 'IMAGE', 'VIDEO', 'DOCUMENT', 'LOCATION'].includes(f)) {
    problems.push('HEADER: format must be TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION');
    return;
  }
  if (f === 'TEXT') {
    const text = typeof c.text === 'string' ? c.text : '';
    if (!text) problems.push('HEADER: a TEXT header needs text');
    if (len(text) > TEMPLATE_LIMITS.headerText)
      problems.push(`HEADER: text is over ${TEMPLATE_LIMITS.headerText} characters`);
    const samples = format === 'NAMED' ? c.example?.header_text_named_params : c.example?.header_text;
    const n = checkVariables('HEADER', text, format, samples, problems);
    if (n > TEMPLATE_LIMITS.headerVariables) problems.push('HEADER: at most one variable');
  } else if (f !== 'LOCATION' && !c.example?.header_handle?.length) {
    problems.push(
      `HEADER: a ${f} header needs a sample in example.header_handle (a resumable-upload handle)`,
    );
  }
}

function checkButtons(buttons: unknown, problems: string[]): void {
  if (!Array.isArray(buttons) || buttons.length === 0) {
    problems.push('BUTTONS: needs at least one button');
    return;
  }
  if (buttons.length > TEMPLATE_LIMITS.buttons)
    problems.push(`BUTTONS: at most ${TEMPLATE_LIMITS.buttons} buttons`);
  const count: Record<string, number> = {};
  for (const b of buttons as TemplateContentButton[]) {
    const type = String(b?.type ?? '').toUpperCase();
    count[type] = (count[type] ?? 0) + 1;
    if (typeof b?.text === 'string' && len(b.text) > TEMPLATE_LIMITS.buttonText) {
      problems.push(
        `BUTTONS: button text "${b.text.slice(0, 30)}" is over ${TEMPLATE_LIMITS.buttonText} characters`,
      );
    }
    if (type === 'URL') {
      if (typeof b.url !== 'string' || !/^https?:\/\//i.test(b.url))
        problems.push('BUTTONS: a URL button needs an http(s) url');
      else if (templateVariables(b.url).length > 0 && !b.example)
        problems.push('BUTTONS: a URL with a variable needs an example');
    }
    if (type === 'PHONE_NUMBER' && !/^\+?\d{5,20}$/.test(String(b.phone_number ?? ''))) {
      problems.push('BUTTONS: a PHONE_NUMBER button needs phone_number (digits)');
    }
  }
  if ((count.URL ?? 0) > TEMPLATE_LIMITS.urlButtons)
    problems.push(`BUTTONS: at most ${TEMPLATE_LIMITS.urlButtons} URL buttons`);
  if ((count.PHONE_NUMBER ?? 0) > TEMPLATE_LIMITS.phoneButtons)
    problems.push('BUTTONS: at most 1 PHONE_NUMBER button');
  if ((count.COPY_CODE ?? 0) > TEMPLATE_LIMITS.copyCodeButtons)
    problems.push('BUTTONS: at most 1 COPY_CODE button');
}

/**
 * Problems Meta would report for these components (empty when none). `category` AUTHENTICATION follows the
 * authentication-template rules: a body without text (Meta writes it), an OTP button.
 */
export function templateProblems(
  components: unknown,
  options: { category?: string; parameterFormat?: string } = {},
): string[] {
  const problems: string[] = [];
  if (!Array.isArray(components) || components.length === 0) return ['components: needs at least a BODY'];
  const format =
    String(options.parameterFormat ?? 'POSITIONAL').toUpperCase() === 'NAMED' ? 'NAMED' : 'POSITIONAL';
  const auth = String(options.category ?? '').toUpperCase() === 'AUTHENTICATION';
  const seen = new Set<string>();
  for (const raw of components) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push('components: each component must be an object');
      continue;
    }
    const c = raw as TemplateContentComponent;
    const type = String(c.type ?? '').toUpperCase();
    if (seen.has(type)) problems.push(`${type}: only one ${type} component`);
    seen.add(type);
    if (type === 'HEADER') checkHeader(c, format, problems);
    else if (type === 'BODY') {
      if (auth) continue;
      const text = typeof c.text === 'string' ? c.text : '';
      if (!text) problems.push('BODY: needs text');
      if (len(text) > TEMPLATE_LIMITS.bodyText)
        problems.push(`BODY: text is over ${TEMPLATE_LIMITS.bodyText} characters`);
      const samples = format === 'NAMED' ? c.example?.body_text_named_params : c.example?.body_text?.[0];
      checkVariables('BODY', text, format, samples, problems);
    } else if (type === 'FOOTER') {
      if (auth) continue;
      const text = typeof c.text === 'string' ? c.text : '';
      if (len(text) > TEMPLATE_LIMITS.footerText)
        problems.push(`FOOTER: text is over ${TEMPLATE_LIMITS.footerText} characters`);
      if (templateVariables(text).length > 0) problems.push('FOOTER: variables are not allowed');
    } else if (type === 'BUTTONS') checkButtons(c.buttons, problems);
    else if (type !== 'CAROUSEL' && type !== 'LIMITED_TIME_OFFER')
      problems.push(`components: unknown type "${type}"`);
  }
  if (!seen.has('BODY')) problems.push('components: a BODY is required');
  return problems;
}

type Sampled = { text: string; samples?: string[] };

/** Typed builders; each returns the component object Meta's create/edit calls take. */
export const templateComponents = {
  textHeader(input: Sampled): TemplateContentComponent {
    return {
      type: 'HEADER',
      format: 'TEXT',
      text: input.text,
      ...(input.samples?.length ? { example: { header_text: input.samples } } : {}),
    };
  },
  /** A media header; `handle` comes from a resumable upload (`wa.uploads`). */
  mediaHeader(format: 'IMAGE' | 'VIDEO' | 'DOCUMENT', handle: string): TemplateContentComponent {
    return { type: 'HEADER', format, example: { header_handle: [handle] } };
  },
  locationHeader(): TemplateContentComponent {
    return { type: 'HEADER', format: 'LOCATION' };
  },
  body(input: Sampled): TemplateContentComponent {
    return {
      type: 'BODY',
      text: input.text,
      ...(input.samples?.length ? { example: { body_text: [input.samples] } } : {}),
    };
  },
  footer(text: string): TemplateContentComponent {
    return { type: 'FOOTER', text };
  },
  buttons(...buttons: TemplateContentButton[]): TemplateContentComponent {
    return { type: 'BUTTONS', buttons };
  },
  quickReply(text: string): TemplateContentButton {
    return { type: 'QUICK_REPLY', text };
  },
  url(text: string, url: string, sample?: string): TemplateContentButton {
    return { type: 'URL', text, url, ...(sample ? { example: [sample] } : {}) };
  },
  phoneNumber(text: string, phoneNumber: string): TemplateContentButton {
    return { type: 'PHONE_NUMBER', text, phone_number: phoneNumber };
  },
  copyCode(example: string): TemplateContentButton {
    return { type: 'COPY_CODE', example };
  },
};
