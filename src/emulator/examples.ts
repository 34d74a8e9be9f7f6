import messageExamplesJson from './spec/message-examples.json' with { type: 'json' };
import webhookExamplesJson from './spec/webhook-examples.json' with { type: 'json' };

/** One request example of `POST /{Phone-Number-ID}/messages` from Meta's OpenAPI spec. */
export interface MessageExample {
  /** The spec's example name, e.g. "Send Text Message". */
  name: string;
  /** The request body, ready to send. */
  body: Record<string, unknown>;
}

/** One webhook payload example from the spec (`POST /whatsapp/webhooks`). */
export interface WebhookExample {
  name: string;
  body: Record<string, unknown>;
}

/** Where the examples come from (facebook/openapi, MIT; version and sha256 of the spec file). */
export const specProvenance = messageExamplesJson.provenance;

/**
 * The spec's 50 send examples with their placeholders filled in: `{{Recipient-Phone-Number}}` and
 * `{{Recipient-WA-Phone-Number}}` become `recipient`, `<HEADER_TYPE>` becomes `text` (the only placeholder sitting
 * in an enumerated field). Other placeholders (`<AUDIO_OBJECT_ID>`, ...) are plain strings Meta accepts at send time.
 * Template examples name templates that must exist (and be approved) in the sender's WABA: see `exampleTemplates`.
 *
 * @example
 * for (const { name, body } of messageExamples(emu.seed!.recipient)) await send(body);
 */
export function messageExamples(recipient = '16505551234'): MessageExample[] {
  return messageExamplesJson.examples.map((ex) => ({
    name: ex.name,
    body: JSON.parse(
      JSON.stringify(ex.body)
        .replaceAll('{{Recipient-Phone-Number}}', recipient)
        .replaceAll('{{Recipient-WA-Phone-Number}}', recipient)
        .replaceAll('<HEADER_TYPE>', 'text'),
    ) as Record<string, unknown>,
  }));
}

/**
 * The templates the send examples use, with as many body parameters as each example sends: create them (e.g.
 * `emu.world.createTemplate`) before sending the examples to a WABA.
 */
export function exampleTemplates(): Array<{ name: string; language: string; bodyParams: number }> {
  const out = new Map<string, { name: string; language: string; bodyParams: number }>();
  for (const { body } of messageExamples()) {
    const t = body.template as
      | {
          name: string;
          language: { code: string };
          components?: Array<{ type: string; parameters?: unknown[] }>;
        }
      | undefined;
    if (!t) continue;
    const params = t.components?.find((c) => c.type.toLowerCase() === 'body')?.parameters?.length ?? 0;
    out.set(`${t.name}:${t.language.code}`, { name: t.name, language: t.language.code, bodyParams: params });
  }
  return [...out.values()];
}

/** The spec's webhook payload examples (inbound messages of several types, group events), unchanged. */
export function webhookExamples(): WebhookExample[] {
  return webhookExamplesJson.examples.map((ex) => ({
    name: ex.name,
    body: structuredClone(ex.body) as Record<string, unknown>,
  }));
}
