import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { sharedUrl } from '../../test/support/shared.js';
import { createFetchTransport } from '../transport/fetch-transport.js';
import type { ContactCard, ListSection, MessagesRequest, TemplateComponent } from './message-types.js';
import type { SendOptions } from './messages-api.js';
import { validateMessage } from './validate-message.js';
import { WhatsApp } from './whatsapp.js';

/**
 * Every request example of `POST /{Version}/{Phone-Number-ID}/messages` in Meta's OpenAPI spec (v23.0):
 * `validateMessage` accepts each one, and each one a typed helper covers is produced by that helper exactly.
 */
const SPEC = sharedUrl('spec/business-messaging-api_v23.0.yaml');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
// biome-ignore lint/suspicious/noExplicitAny: example bodies are free-form JSON read from the spec
type Example = Record<string, any>;

function loadExamples(): Map<string, Example> {
  const doc = parse(readFileSync(SPEC, 'utf8')) as {
    paths: Record<
      string,
      Record<
        string,
        { requestBody?: { content?: Record<string, { examples?: Record<string, { value: Example }> }> } }
      >
    >;
  };
  const out = new Map<string, Example>();
  const op = doc.paths['/{Version}/{Phone-Number-ID}/messages']?.post;
  for (const media of Object.values(op?.requestBody?.content ?? {})) {
    for (const [name, ex] of Object.entries(media.examples ?? {})) out.set(name, ex.value);
  }
  return out;
}

const PHONE = '+16505551234';
const WAMID = 'wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA';
const MEDIA_ID = '1013859600285441';

/**
 * The substitution rule. The spec's examples carry placeholders; each becomes a concrete value of the same kind,
 * the same way in the example and in the helper's input (which is read from the substituted example):
 * - `{{Recipient-Phone-Number}}` / `{{Recipient-WA-Phone-Number}}` → an E.164 number, `+16505551234`;
 * - `{{Flow-ID}}` → a numeric id; `{{Flow-Name}}` → a flow name;
 * - `<http(s)://NAME>` and `http(s)://NAME` → `https://example.com/NAME` (a URL);
 * - `<MSGID_…>` → a wamid (a message id); `<…OBJECT_ID>` → a numeric media id;
 * - `<HEADER_TYPE>` → `text` (a header type);
 * - any other `<NAME>` (free text, button/row ids, keys) → `name` in lower case (a plain string).
 * Object keys go through the same rule. Everything else is kept verbatim.
 */
function substitute(value: string): string {
  if (value === '{{Recipient-Phone-Number}}' || value === '{{Recipient-WA-Phone-Number}}') return PHONE;
  if (value === '{{Flow-ID}}') return '1234567890123456';
  if (value === '{{Flow-Name}}') return 'appointment_booking';
  const url = /^<?http\(s\):\/\/([^>]*)>?$/.exec(value);
  if (url) return `https://example.com/${url[1]}`;
  const ph = /^<([A-Z0-9_-]+)>$/.exec(value);
  if (ph) {
    const name = ph[1]!;
    if (name.startsWith('MSGID')) return WAMID;
    if (name.endsWith('OBJECT_ID')) return MEDIA_ID;
    if (name === 'HEADER_TYPE') return 'text';
    return name.toLowerCase();
  }
  return value;
}

function concrete(v: Json): Json {
  if (typeof v === 'string') return substitute(v);
  if (Array.isArray(v)) return v.map(concrete);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [substitute(k), concrete(x)]));
  }
  return v;
}

const RAW = loadExamples();
const EXAMPLES = new Map([...RAW].map(([name, ex]) => [name, concrete(ex) as Example]));

/** A client whose transport is an in-process fetch that records each request body and answers like Graph. */
function capture() {
  const bodies: unknown[] = [];
  const fetchImpl = async (_input: Request | string | URL, init?: RequestInit): Promise<Response> => {
    bodies.push(JSON.parse(String(init?.body)));
    return Response.json({ messaging_product: 'whatsapp', messages: [{ id: WAMID }] });
  };
  const wa = new WhatsApp({
    transport: createFetchTransport(fetchImpl),
    configSource: {
      env: {
        CLOUD_API_ACCESS_TOKEN: 'EAAspecExamplesToken0123456789abc',
        WA_PHONE_NUMBER_ID: '106540352242922',
      },
      envFile: false,
    },
  });
  return { wa, bodies };
}

type Helper = (wa: WhatsApp, ex: Example, options: SendOptions) => Promise<unknown>;

/**
 * Some examples leave out fields Graph implies (`recipient_type: individual`, or a `type` named by the payload
 * object); the caller asks the helper for the same with `omitImplied`.
 */
function optionsFor(ex: Example): SendOptions {
  const omitImplied: Array<'recipient_type' | 'type'> = [];
  if (ex.status === undefined && ex.recipient_type === undefined) omitImplied.push('recipient_type');
  if (ex.status === undefined && ex.type === undefined) omitImplied.push('type');
  return omitImplied.length > 0 ? { omitImplied } : {};
}
const common = (ex: Example) => ({
  to: ex.to as string,
  ...(ex.context ? { replyTo: ex.context.message_id as string } : {}),
});
const mediaRef = (m: Example) => (m.id !== undefined ? { id: m.id as string } : { link: m.link as string });
const headerOf = (i: Example) => (i.header ? { header: i.header.text as string } : {});
const footerOf = (i: Example) => (i.footer ? { footer: i.footer.text as string } : {});

const image: Helper = (wa, ex, o) =>
  wa.messages.image(
    { ...common(ex), ...mediaRef(ex.image), ...(ex.image.caption ? { caption: ex.image.caption } : {}) },
    o,
  );
const audio: Helper = (wa, ex, o) => wa.messages.audio({ ...common(ex), ...mediaRef(ex.audio) }, o);
const video: Helper = (wa, ex, o) =>
  wa.messages.video(
    { ...common(ex), ...mediaRef(ex.video), ...(ex.video.caption ? { caption: ex.video.caption } : {}) },
    o,
  );
const document: Helper = (wa, ex, o) =>
  wa.messages.document(
    {
      ...common(ex),
      ...mediaRef(ex.document),
      ...(ex.document.caption ? { caption: ex.document.caption } : {}),
      ...(ex.document.filename ? { filename: ex.document.filename } : {}),
    },
    o,
  );
const sticker: Helper = (wa, ex, o) => wa.messages.sticker({ ...common(ex), ...mediaRef(ex.sticker) }, o);
const text: Helper = (wa, ex, o) =>
  wa.messages.text({ ...common(ex), body: ex.text.body, previewUrl: ex.text.preview_url }, o);
const location: Helper = (wa, ex, o) => wa.messages.location({ ...common(ex), ...ex.location }, o);
const contacts: Helper = (wa, ex, o) =>
  wa.messages.contacts({ ...common(ex), contacts: ex.contacts as ContactCard[] }, o);
const template: Helper = (wa, ex, o) =>
  wa.messages.template(
    {
      ...common(ex),
      name: ex.template.name,
      language: ex.template.language.code,
      ...(ex.template.language.policy ? { languagePolicy: ex.template.language.policy } : {}),
      ...(ex.template.components ? { components: ex.template.components as TemplateComponent[] } : {}),
    },
    o,
  );
const list: Helper = (wa, ex, o) =>
  wa.messages.list(
    {
      ...common(ex),
      ...headerOf(ex.interactive),
      ...footerOf(ex.interactive),
      body: ex.interactive.body.text,
      button: ex.interactive.action.button,
      sections: ex.interactive.action.sections as ListSection[],
    },
    o,
  );
const flow: Helper = (wa, ex, o) => {
  const p = ex.interactive.action.parameters;
  return wa.messages.flow(
    {
      ...common(ex),
      ...headerOf(ex.interactive),
      ...footerOf(ex.interactive),
      body: ex.interactive.body.text,
      flowCta: p.flow_cta,
      ...(p.flow_id ? { flowId: p.flow_id } : { flowName: p.flow_name }),
      ...(p.flow_token ? { flowToken: p.flow_token } : {}),
      ...(p.mode ? { mode: p.mode } : {}),
      ...(p.flow_action ? { flowAction: p.flow_action } : {}),
      ...(p.flow_action_payload ? { flowActionPayload: p.flow_action_payload } : {}),
    },
    o,
  );
};

/** Which helper builds which example. Examples not listed have no typed helper (order details / status). */
const HELPERS: Record<string, Helper> = {
  'Send Audio Message by ID': audio,
  'Send Audio Message by URL': audio,
  'Send Reply to Audio Message by ID': audio,
  'Send Reply to Audio Message by URL': audio,
  'Send Image Message by ID': image,
  'Send Image Message by URL': image,
  'Send Reply to Image Message by ID': image,
  'Send Reply to Image Message by URL': image,
  'Send Video Message by ID': video,
  'Send Video Message by URL': video,
  'Send Reply to Video Message by ID': video,
  'Send Reply to Video Message by URL': video,
  'Send Document Message by ID': document,
  'Send Document Message by URL': document,
  'Send Reply to Document Message by ID': document,
  'Send Reply to Document Message by URL': document,
  'Send Sticker Message by ID': sticker,
  'Send Sticker Message by URL': sticker,
  'Send Reply to Sticker Message by ID': sticker,
  'Send Reply to Sticker Message by URL': sticker,
  'Send Text Message': text,
  'Send Text Message with Preview URL': text,
  'Send Reply to Text Message': text,
  'Send Location Message': location,
  'Send Reply to Location Message': location,
  'Send Contact Message': contacts,
  'Send Reply to Contact Message': contacts,
  'Send Reply with Reaction Message': (wa, ex, o) =>
    wa.messages.reaction({ ...common(ex), messageId: ex.reaction.message_id, emoji: ex.reaction.emoji }, o),
  'Send Test Message': template,
  'Send Message Template Text': template,
  'Send Message Template Media': template,
  'Send Message Template Interactive': template,
  'Send Catalog Template Message': template,
  'Send Flow Template Message': template,
  'Send Sample Issue Resolution Template': template,
  'Send Sample Shipping Confirmation Template': template,
  'Send Sample Text Message': template,
  'Send Reply Button': (wa, ex, o) =>
    wa.messages.buttons(
      {
        ...common(ex),
        body: ex.interactive.body.text,
        buttons: (ex.interactive.action.buttons as Example[]).map((b) => ({
          id: b.reply.id,
          title: b.reply.title,
        })),
      },
      o,
    ),
  'Send List Message': list,
  'Send Reply to List Message': list,
  'Send Draft Flow by ID': flow,
  'Send Draft Flow by Name': flow,
  'Send Published Flow by ID': flow,
  'Send Published Flow by Name': flow,
  'Send Single Product Message': (wa, ex, o) =>
    wa.messages.product(
      {
        ...common(ex),
        ...footerOf(ex.interactive),
        ...(ex.interactive.body ? { body: ex.interactive.body.text } : {}),
        catalogId: ex.interactive.action.catalog_id,
        productRetailerId: ex.interactive.action.product_retailer_id,
      },
      o,
    ),
  'Send Multi-Product Message': (wa, ex, o) =>
    wa.messages.productList(
      {
        ...common(ex),
        header: ex.interactive.header,
        ...footerOf(ex.interactive),
        body: ex.interactive.body.text,
        catalogId: ex.interactive.action.catalog_id,
        sections: ex.interactive.action.sections as ListSection[],
      },
      o,
    ),
  'Send Catalog Message': (wa, ex, o) =>
    wa.messages.catalog(
      {
        ...common(ex),
        ...footerOf(ex.interactive),
        body: ex.interactive.body.text,
        thumbnailProductRetailerId: ex.interactive.action.parameters.thumbnail_product_retailer_id,
      },
      o,
    ),
  'Send typing indicator and read receipt': (wa, ex, o) =>
    wa.messages.markRead({ messageId: ex.message_id, typing: ex.typing_indicator?.type === 'text' }, o),
};
const WITHOUT_HELPER = ['Send Order Details Message', 'Send Order Status Message'];

describe("Meta's /messages request examples", () => {
  it('are all loaded (50 in the v23.0 spec) and fully substituted', () => {
    expect(EXAMPLES.size).toBe(50);
    for (const [name, ex] of EXAMPLES) {
      expect(JSON.stringify(ex), name).not.toMatch(/\{\{|<[A-Z]|http\(s\)/);
    }
  });

  it('every example is either built by a helper or listed as helper-less', () => {
    expect([...Object.keys(HELPERS), ...WITHOUT_HELPER].sort()).toEqual([...EXAMPLES.keys()].sort());
  });

  it.each([...EXAMPLES.keys()])('validateMessage accepts "%s"', (name) => {
    const ex = EXAMPLES.get(name)!;
    expect(validateMessage(structuredClone(ex) as MessagesRequest)).toEqual(ex);
  });

  it.each(Object.keys(HELPERS))('the helper produces "%s" exactly', async (name) => {
    const ex = EXAMPLES.get(name)!;
    const { wa, bodies } = capture();
    await HELPERS[name]!(wa, ex, optionsFor(ex));
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toEqual(ex);
  });

  it('messages.send passes each example through unchanged', async () => {
    for (const [name, ex] of EXAMPLES) {
      const { wa, bodies } = capture();
      await wa.messages.send(structuredClone(ex) as never, optionsFor(ex));
      expect(bodies[0], name).toEqual(ex);
    }
  });
});
