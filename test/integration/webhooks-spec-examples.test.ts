// Every webhook example in Meta's OpenAPI spec (POST /whatsapp/webhooks) parses to the right typed event, also
// after a signed round trip through the handler core.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  createWebhookHandler,
  parseWebhook,
  signPayload,
  type WebhookEvent,
} from '../../src/webhooks/index.js';
import { sharedUrl } from '../support/shared.js';

const spec = parse(readFileSync(sharedUrl('spec/business-messaging-api_v23.0.yaml'), 'utf8')) as {
  paths: Record<
    string,
    { post: { requestBody: { content: Record<string, { examples: Record<string, { value: unknown }> }> } } }
  >;
};
const examples = spec.paths['/whatsapp/webhooks']!.post.requestBody.content['application/json']!.examples;

/** What each example must become; a new example in the spec fails the "all covered" test until it is added here. */
const EXPECTED: Record<string, (events: WebhookEvent[]) => void> = {
  'Text Message': (events) => {
    const e = onlyMessage(events, 'text');
    expect(e.message.text.body).toBe('Does it come in another color?');
    expect(e.message.from).toBe('16505551234');
    expect(e.message.timestampSec).toBe(1749416383);
    expect(e.contact).toEqual({ waId: '16505551234', name: 'Sheena Nelson', userId: undefined });
    expect(e.phoneNumberId).toBe('106540352242922');
    expect(e.displayPhoneNumber).toBe('15550783881');
    expect(e.wabaId).toBe('419561257915477');
  },
  'Text Message with Context (Product Inquiry)': (events) => {
    const e = onlyMessage(events, 'text');
    expect(e.message.context?.referredProduct).toEqual({
      catalogId: '194836987003835',
      productRetailerId: 'di9ozbzfi4',
    });
    expect(e.message.context?.id).toMatch(/^wamid\./);
  },
  'Text Message from Click to WhatsApp Ad': (events) => {
    const e = onlyMessage(events, 'text');
    expect(e.message.referral?.sourceType).toBe('ad');
    expect(e.message.referral?.ctwaClid).toBeTruthy();
    expect(e.message.referral?.welcomeMessageText).toBe('Hi there! Let us know how we can help!');
  },
  'Reaction Message': (events) => {
    const e = onlyMessage(events, 'reaction');
    expect(e.message.reaction.messageId).toMatch(/^wamid\./);
    expect(e.message.reaction.emoji).toBeTruthy();
  },
  'Image Message': (events) => {
    const e = onlyMessage(events, 'image');
    expect(e.message.media.id).toBeTruthy();
    expect(e.message.media.mimeType).toBe('image/jpeg');
    expect(e.message.media.sha256).toBeTruthy();
  },
  'Location Message': (events) => {
    const e = onlyMessage(events, 'location');
    expect(typeof e.message.location.latitude).toBe('number');
    expect(typeof e.message.location.longitude).toBe('number');
  },
  'Contact Sharing Message': (events) => {
    const e = onlyMessage(events, 'contacts');
    expect(e.message.contacts.length).toBeGreaterThan(0);
    expect(e.message.contacts[0]!.name.formattedName).toBeTruthy();
    expect(e.message.contacts[0]!.phones.length).toBeGreaterThan(0);
  },
  'Unsupported Message': (events) => {
    const e = onlyMessage(events, 'unsupported');
    expect(e.message.originalType).toBe('unsupported');
    expect(e.message.errors[0]).toMatchObject({
      code: 131051,
      details: 'Message type is currently not supported.',
    });
  },
  'Button Message': (events) => {
    const e = onlyMessage(events, 'button');
    expect(e.message.button.text).toBeTruthy();
    expect(e.message.button.payload).toBeTruthy();
    expect(e.message.context?.id).toMatch(/^wamid\./);
  },
  'Interactive List Reply Message': (events) => {
    const e = onlyMessage(events, 'interactive');
    expect(e.message.interactive).toEqual({
      kind: 'list_reply',
      id: 'priority_express',
      title: 'Priority Mail Express',
      description: 'Next Day to 2 Days',
    });
  },
  'Interactive Button Reply Message': (events) => {
    const e = onlyMessage(events, 'interactive');
    expect(e.message.interactive).toEqual({ kind: 'button_reply', id: 'cancel-button', title: 'Cancel' });
  },
  'Order Message': (events) => {
    const e = onlyMessage(events, 'order');
    expect(e.message.order.catalogId).toBe('194836987003835');
    expect(e.message.order.productItems).toEqual([
      { productRetailerId: 'di9ozbzfi4', quantity: 2, itemPrice: 30, currency: 'USD' },
      { productRetailerId: 'nqryix03ez', quantity: 1, itemPrice: 25, currency: 'USD' },
    ]);
  },
  'System Message': (events) => {
    const e = onlyMessage(events, 'system');
    expect(e.message.system.kind).toBe('user_changed_number');
    expect(e.message.system.newWaId).toBe('12195555358');
    expect(e.contact).toBeUndefined();
  },
  'Group Create Message': (events) => {
    const e = onlyGroup(events, 'group_lifecycle_update');
    expect(e.groupEventType).toBe('group_create');
    expect(e.groupId).toBeTruthy();
  },
  'Group Settings Update': (events) => {
    const e = onlyGroup(events, 'group_settings_update');
    expect(e.groupEventType).toBe('group_settings_update');
  },
  'Group Remove Participants': (events) => {
    const e = onlyGroup(events, 'group_participants_update');
    // The spec sends participant ids as JSON numbers: they come out as strings.
    expect(e.removedParticipants).toEqual([
      { input: '16505551234', waId: '16505551234' },
      { input: '16505551235', waId: '16505551235' },
    ]);
  },
};

/** The message variant(s) whose `type` includes T (`image` is one of MediaMessage's types). */
type MessageOfType<M, T extends string> = M extends { type: infer K } ? (T extends K ? M : never) : never;

function onlyMessage<T extends string>(events: WebhookEvent[], type: T) {
  expect(events).toHaveLength(1);
  const e = events[0]!;
  if (e.type !== 'message') throw new Error(`expected a message event, got ${e.type}`);
  expect(e.message.type).toBe(type);
  return e as Extract<WebhookEvent, { type: 'message' }> & {
    message: MessageOfType<typeof e.message, T>;
  };
}

function onlyGroup(events: WebhookEvent[], field: string) {
  expect(events).toHaveLength(1);
  const e = events[0]!;
  if (e.type !== 'group') throw new Error(`expected a group event, got ${e.type}`);
  expect(e.field).toBe(field);
  return e;
}

describe("Meta's OpenAPI webhook examples", () => {
  it('are all covered by this test', () => {
    expect(Object.keys(examples).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, example] of Object.entries(examples)) {
    it(`${name} → the right typed event`, () => {
      const events = parseWebhook(example.value);
      expect(events.every((e) => e.type !== 'unknown')).toBe(true);
      EXPECTED[name]!(events);
    });
  }

  it('every example verifies and parses through the handler core when signed', async () => {
    const secret = 'spec-example-secret';
    const seen: WebhookEvent[] = [];
    const handler = createWebhookHandler({
      appSecret: secret,
      onEvent: (e) => void seen.push(e),
      dedupe: false,
    });
    for (const example of Object.values(examples)) {
      const body = JSON.stringify(example.value);
      const res = await handler.handle({
        method: 'POST',
        url: '/webhook',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(body, secret) },
        body,
      });
      expect(res.status).toBe(200);
      await res.done;
    }
    expect(seen).toHaveLength(Object.keys(examples).length);
  });
});
