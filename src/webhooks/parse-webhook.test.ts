import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedUrl } from '../../test/support/shared.js';
import type { EventOfType, WebhookEvent, WebhookEventType } from './events.js';
import { parseJsonBody } from './parse-json-body.js';
import { parseWebhook } from './parse-webhook.js';

const WABA = '102290129340398';
const PHONE = '106540352242922';
const metadata = { display_phone_number: '15550783881', phone_number_id: PHONE };

function delivery(field: string, value: unknown, entry: Record<string, unknown> = {}): unknown {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: WABA, ...entry, changes: [{ field, value }] }],
  };
}

function one<T extends WebhookEventType>(events: WebhookEvent[], type: T): EventOfType<T> {
  expect(events.map((e) => e.type)).toEqual([type]);
  return events[0] as EventOfType<T>;
}

function inbound(
  message: Record<string, unknown>,
  contacts = [{ profile: { name: 'Zoë' }, wa_id: '16505551234' }],
) {
  const events = parseWebhook(
    delivery('messages', {
      messaging_product: 'whatsapp',
      metadata,
      contacts,
      messages: [{ from: '16505551234', id: 'wamid.IN1', timestamp: '1750000000', ...message }],
    }),
  );
  return one(events, 'message');
}

describe('parseWebhook: messages of every type', () => {
  it('media messages carry their media fields under `media`', () => {
    const audio = inbound({
      type: 'audio',
      audio: { id: 'm1', mime_type: 'audio/ogg; codecs=opus', sha256: 'h', voice: true },
    });
    expect(audio.message).toMatchObject({
      type: 'audio',
      media: { id: 'm1', voice: true, mimeType: 'audio/ogg; codecs=opus' },
    });
    const doc = inbound({
      type: 'document',
      document: { id: 'm2', filename: 'a.pdf', caption: 'invoice', mime_type: 'application/pdf' },
    });
    expect(doc.message).toMatchObject({ type: 'document', media: { filename: 'a.pdf', caption: 'invoice' } });
    const video = inbound({ type: 'video', video: { id: 'm3', caption: 'clip' } });
    expect(video.message).toMatchObject({ type: 'video', media: { id: 'm3', caption: 'clip' } });
    const sticker = inbound({
      type: 'sticker',
      sticker: { id: 'm4', animated: false, mime_type: 'image/webp' },
    });
    expect(sticker.message).toMatchObject({ type: 'sticker', media: { id: 'm4', animated: false } });
  });

  it('interactive Flow replies parse response_json; call permission replies are typed', () => {
    const nfm = inbound({
      type: 'interactive',
      context: { from: '15550783881', id: 'wamid.OUT' },
      interactive: {
        type: 'nfm_reply',
        nfm_reply: { name: 'flow', body: 'Sent', response_json: '{"flow_token":"t","a":1}' },
      },
    });
    expect(nfm.message).toMatchObject({
      type: 'interactive',
      interactive: { kind: 'nfm_reply', name: 'flow', response: { flow_token: 't', a: 1 } },
    });
    const bad = inbound({
      type: 'interactive',
      interactive: { type: 'nfm_reply', nfm_reply: { response_json: '{oops' } },
    });
    expect(bad.message).toMatchObject({
      interactive: { kind: 'nfm_reply', responseJson: '{oops', response: undefined },
    });
    const call = inbound({
      type: 'interactive',
      interactive: {
        type: 'call_permission_reply',
        call_permission_reply: {
          response: 'accept',
          is_permanent: false,
          expiration_timestamp: 1750600000,
          response_source: 'user_action',
        },
      },
    });
    expect(call.message).toMatchObject({
      interactive: {
        kind: 'call_permission_reply',
        response: 'accept',
        isPermanent: false,
        expirationTimestampSec: 1750600000,
      },
    });
    const other = inbound({ type: 'interactive', interactive: { type: 'something_new', something_new: {} } });
    expect(other.message).toMatchObject({ interactive: { kind: 'other', interactiveType: 'something_new' } });
  });

  it('reactions: an empty emoji means the reaction was removed', () => {
    const removed = inbound({ type: 'reaction', reaction: { message_id: 'wamid.OUT', emoji: '' } });
    expect(removed.message).toMatchObject({
      type: 'reaction',
      reaction: { messageId: 'wamid.OUT', emoji: undefined },
    });
  });

  it('edits carry the new content as a parsed message; revokes carry the original id', () => {
    const edit = inbound({
      type: 'edit',
      edit: { original_message_id: 'wamid.ORIG', message: { type: 'text', text: { body: 'fixed typo' } } },
    });
    if (edit.message.type !== 'edit') throw new Error('not an edit');
    expect(edit.message.edit.originalMessageId).toBe('wamid.ORIG');
    expect(edit.message.edit.message).toMatchObject({
      type: 'text',
      text: { body: 'fixed typo' },
      id: 'wamid.IN1',
    });
    const revoke = inbound({ type: 'revoke', revoke: { original_message_id: 'wamid.ORIG' } });
    expect(revoke.message).toMatchObject({ type: 'revoke', revoke: { originalMessageId: 'wamid.ORIG' } });
  });

  it('request_welcome, identity changes and forwarded context', () => {
    expect(inbound({ type: 'request_welcome' }).message.type).toBe('request_welcome');
    const identity = inbound({
      type: 'system',
      system: { body: 'identity changed', type: 'customer_identity_changed', customer: '16505551234' },
      identity: { acknowledged: 'true', created_timestamp: 1750000000, hash: 'abc' },
    });
    expect(identity.message).toMatchObject({
      system: { kind: 'customer_identity_changed', customer: '16505551234' },
      identity: { acknowledged: true, createdTimestampSec: 1750000000, hash: 'abc' },
    });
    const fwd = inbound({
      type: 'text',
      text: { body: 'fw' },
      context: { forwarded: true, frequently_forwarded: true },
    });
    expect(fwd.message.context).toMatchObject({ forwarded: true, frequentlyForwarded: true });
  });

  it('unknown message types become `unsupported` with the original type, never a crash', () => {
    const future = inbound({ type: 'hologram', hologram: { id: 'x' } });
    expect(future.message).toMatchObject({ type: 'unsupported', originalType: 'hologram' });
    const untyped = inbound({});
    expect(untyped.message).toMatchObject({ type: 'unsupported', originalType: '' });
  });

  it('ids and timestamps given as numbers become strings and numbers', () => {
    const e = inbound(
      { id: 12345, from: 16505551234, timestamp: 1750000000, type: 'text', text: { body: 'n' } },
      [{ profile: { name: 'N' }, wa_id: 16505551234 as unknown as string }],
    );
    expect(e.message.id).toBe('12345');
    expect(e.message.from).toBe('16505551234');
    expect(e.message.timestampSec).toBe(1750000000);
    expect(e.contact?.name).toBe('N');
  });

  it('matches each message of a batch to its own contact', () => {
    const events = parseWebhook(
      delivery('messages', {
        messaging_product: 'whatsapp',
        metadata,
        contacts: [
          { profile: { name: 'A' }, wa_id: '1' },
          { profile: { name: 'B' }, wa_id: '2' },
        ],
        messages: [
          { from: '2', id: 'wamid.B', timestamp: '1', type: 'text', text: { body: 'b' } },
          { from: '1', id: 'wamid.A', timestamp: '2', type: 'text', text: { body: 'a' } },
        ],
      }),
    );
    expect(events.map((e) => (e.type === 'message' ? [e.message.id, e.contact?.name] : e.type))).toEqual([
      ['wamid.B', 'B'],
      ['wamid.A', 'A'],
    ]);
  });
});

describe('parseWebhook: statuses', () => {
  it('sent / delivered / read / failed with errors, pricing and conversation', () => {
    const events = parseWebhook(
      delivery('messages', {
        messaging_product: 'whatsapp',
        metadata,
        statuses: [
          {
            id: 'wamid.OUT',
            status: 'sent',
            timestamp: '1750000001',
            recipient_id: '16505551234',
            conversation: { id: 'c1', expiration_timestamp: '1750086400', origin: { type: 'utility' } },
            pricing: { billable: true, pricing_model: 'PMP', category: 'utility', type: 'regular' },
            biz_opaque_callback_data: 'order-7',
          },
          { id: 'wamid.OUT', status: 'delivered', timestamp: 1750000002, recipient_id: '16505551234' },
          { id: 'wamid.OUT', status: 'read', timestamp: '1750000003', recipient_id: '16505551234' },
          {
            id: 'wamid.OUT2',
            status: 'failed',
            timestamp: '1750000004',
            recipient_id: '16505551234',
            errors: [
              {
                code: 131047,
                title: 'Re-engagement message',
                message: 'Re-engagement message',
                error_data: { details: 'Message failed to send because more than 24 hours have passed' },
                href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
              },
            ],
          },
        ],
      }),
    );
    expect(events.map((e) => (e.type === 'status' ? e.status : e.type))).toEqual([
      'sent',
      'delivered',
      'read',
      'failed',
    ]);
    const [sent, delivered, , failed] = events as EventOfType<'status'>[];
    expect(sent).toMatchObject({
      id: 'wamid.OUT',
      recipientId: '16505551234',
      timestampSec: 1750000001,
      conversation: { id: 'c1', expirationTimestampSec: 1750086400, originType: 'utility' },
      pricing: { billable: true, pricingModel: 'PMP', category: 'utility', type: 'regular' },
      bizOpaqueCallbackData: 'order-7',
      phoneNumberId: PHONE,
      position: { entry: 0, change: 0, item: 0 },
    });
    expect(delivered!.timestampSec).toBe(1750000002);
    expect(delivered!.position.item).toBe(1);
    expect(failed!.errors).toEqual([
      {
        code: 131047,
        title: 'Re-engagement message',
        message: 'Re-engagement message',
        details: 'Message failed to send because more than 24 hours have passed',
        href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
      },
    ]);
  });

  it('the secreto status mock (status "3", timestamp "TIMESTAMP") parses without guessing', () => {
    const mock = JSON.parse(
      readFileSync(sharedUrl('fixtures/webhooks/secreto-valid-status-mock.json'), 'utf8'),
    );
    const s = one(parseWebhook(mock), 'status');
    expect(s).toMatchObject({ id: '4', status: '3', recipientId: '2', bizOpaqueCallbackData: '5' });
    expect(s.conversation).toEqual({
      id: 'CONVERSATION_ID',
      expirationTimestampSec: undefined,
      originType: 'user_initiated',
    });
  });

  it('change-level errors become `error` events', () => {
    const events = parseWebhook(
      delivery('messages', {
        messaging_product: 'whatsapp',
        metadata,
        errors: [
          {
            code: 131000,
            title: 'Something went wrong',
            message: 'Something went wrong',
            error_data: { details: 'x' },
          },
        ],
      }),
    );
    expect(one(events, 'error').error).toMatchObject({ code: 131000, details: 'x' });
  });
});

describe('parseWebhook: every other field', () => {
  it('message_template_status_update', () => {
    const e = one(
      parseWebhook(
        delivery(
          'message_template_status_update',
          {
            event: 'REJECTED',
            message_template_id: 1689556908129832,
            message_template_name: 'order_confirmation',
            message_template_language: 'en_US',
            reason: 'INCORRECT_CATEGORY',
            message_template_category: 'UTILITY',
            other_info: { title: 'FIRST_PAUSE', description: 'paused for low quality' },
          },
          { time: 1750000000 },
        ),
      ),
      'template_status',
    );
    expect(e).toMatchObject({
      event: 'REJECTED',
      templateId: '1689556908129832',
      templateName: 'order_confirmation',
      language: 'en_US',
      reason: 'INCORRECT_CATEGORY',
      category: 'UTILITY',
      otherInfo: { title: 'FIRST_PAUSE', description: 'paused for low quality' },
      entryTimeSec: 1750000000,
      phoneNumberId: undefined,
    });
  });

  it('message_template_quality_update, template_category_update, message_template_components_update', () => {
    expect(
      one(
        parseWebhook(
          delivery('message_template_quality_update', {
            previous_quality_score: 'GREEN',
            new_quality_score: 'YELLOW',
            message_template_id: '806312974732579',
            message_template_name: 'welcome',
            message_template_language: 'en',
          }),
        ),
        'template_quality',
      ),
    ).toMatchObject({
      previousQualityScore: 'GREEN',
      newQualityScore: 'YELLOW',
      templateId: '806312974732579',
    });
    expect(
      one(
        parseWebhook(
          delivery('template_category_update', {
            message_template_id: 1,
            message_template_name: 'promo',
            message_template_language: 'en_US',
            previous_category: 'UTILITY',
            new_category: 'MARKETING',
          }),
        ),
        'template_category',
      ),
    ).toMatchObject({ templateId: '1', previousCategory: 'UTILITY', newCategory: 'MARKETING' });
    expect(
      one(
        parseWebhook(
          delivery('message_template_components_update', {
            message_template_id: 2,
            message_template_name: 'c',
            message_template_language: 'en',
            message_template_element: 'Body text',
            message_template_title: 'Title',
            message_template_footer: 'Footer',
          }),
        ),
        'template_components',
      ),
    ).toMatchObject({ templateId: '2', element: 'Body text', title: 'Title', footer: 'Footer' });
  });

  it('phone_number_name_update and phone_number_quality_update', () => {
    expect(
      one(
        parseWebhook(
          delivery('phone_number_name_update', {
            display_phone_number: '15550783881',
            decision: 'APPROVED',
            requested_verified_name: 'Lucky Shrub',
            rejection_reason: 'NONE',
          }),
        ),
        'phone_number_name',
      ),
    ).toMatchObject({
      decision: 'APPROVED',
      requestedVerifiedName: 'Lucky Shrub',
      displayPhoneNumber: '15550783881',
    });
    expect(
      one(
        parseWebhook(
          delivery('phone_number_quality_update', {
            display_phone_number: '15550783881',
            event: 'UPGRADE',
            current_limit: 'TIER_10K',
            old_limit: 'TIER_1K',
          }),
        ),
        'phone_number_quality',
      ),
    ).toMatchObject({ event: 'UPGRADE', currentLimit: 'TIER_10K', oldLimit: 'TIER_1K' });
  });

  it('account_update, account_review_update, account_alerts, business_capability_update', () => {
    expect(
      one(
        parseWebhook(
          delivery('account_update', {
            phone_number: '15550783881',
            event: 'ACCOUNT_VIOLATION',
            violation_info: { violation_type: 'SCAM' },
          }),
        ),
        'account_update',
      ),
    ).toMatchObject({
      event: 'ACCOUNT_VIOLATION',
      phoneNumber: '15550783881',
      raw: { violation_info: { violation_type: 'SCAM' } },
    });
    expect(
      one(parseWebhook(delivery('account_review_update', { decision: 'APPROVED' })), 'account_review')
        .decision,
    ).toBe('APPROVED');
    expect(
      one(
        parseWebhook(
          delivery('account_alerts', {
            entity_type: 'WABA',
            entity_id: 123,
            alert_severity: 'CRITICAL',
            alert_status: 'ACTIVE',
            alert_type: 'OBA_APPROVED',
            alert_description: 'desc',
          }),
        ),
        'account_alert',
      ),
    ).toMatchObject({ entityType: 'WABA', entityId: '123', severity: 'CRITICAL', alertType: 'OBA_APPROVED' });
    expect(
      one(
        parseWebhook(
          delivery('business_capability_update', {
            max_daily_conversation_per_phone: '1000',
            max_phone_numbers_per_business: 2,
          }),
        ),
        'business_capability',
      ),
    ).toMatchObject({
      maxDailyConversationPerPhone: 1000,
      maxPhoneNumbersPerBusiness: 2,
      maxPhoneNumbersPerWaba: undefined,
    });
  });

  it('security, user_preferences, flows', () => {
    expect(
      one(
        parseWebhook(
          delivery('security', { display_phone_number: '1555', event: 'PIN_CHANGED', requester: '99' }),
        ),
        'security',
      ),
    ).toMatchObject({ event: 'PIN_CHANGED', requester: '99', displayPhoneNumber: '1555' });
    const prefs = parseWebhook(
      delivery('user_preferences', {
        messaging_product: 'whatsapp',
        metadata,
        contacts: [{ profile: { name: 'Pat' }, wa_id: '16505551234' }],
        user_preferences: [
          {
            wa_id: '16505551234',
            detail: 'User requested to stop marketing messages',
            category: 'marketing_messages',
            value: 'stop',
            timestamp: 1731705721,
          },
          { wa_id: '16505551234', category: 'marketing_messages', value: 'resume', timestamp: '1731705799' },
        ],
      }),
    ) as EventOfType<'user_preference'>[];
    expect(prefs.map((p) => [p.type, p.value, p.timestampSec, p.contact?.name, p.phoneNumberId])).toEqual([
      ['user_preference', 'stop', 1731705721, 'Pat', PHONE],
      ['user_preference', 'resume', 1731705799, 'Pat', PHONE],
    ]);
    expect(
      one(
        parseWebhook(
          delivery('flows', {
            event: 'FLOW_STATUS_CHANGE',
            message: 'Flow Webhook Testing changed status from DRAFT to PUBLISHED',
            flow_id: 931752938732371,
            old_status: 'DRAFT',
            new_status: 'PUBLISHED',
          }),
        ),
        'flow',
      ),
    ).toMatchObject({
      event: 'FLOW_STATUS_CHANGE',
      flowId: '931752938732371',
      oldStatus: 'DRAFT',
      newStatus: 'PUBLISHED',
    });
  });

  it('calls: connect and terminate calls, call statuses and errors', () => {
    const events = parseWebhook(
      delivery('calls', {
        messaging_product: 'whatsapp',
        metadata,
        contacts: [{ profile: { name: 'Caller' }, wa_id: '16505551234' }],
        calls: [
          {
            id: 'wacid.1',
            to: '15550783881',
            from: '16505551234',
            event: 'connect',
            timestamp: '1750000000',
            direction: 'USER_INITIATED',
            session: { sdp_type: 'offer', sdp: 'v=0' },
          },
          {
            id: 'wacid.1',
            to: '15550783881',
            from: '16505551234',
            event: 'terminate',
            timestamp: '1750000090',
            status: 'COMPLETED',
            start_time: '1750000005',
            end_time: '1750000090',
            duration: 85,
            biz_opaque_callback_data: 'tracking',
          },
        ],
        statuses: [
          {
            id: 'wacid.2',
            type: 'call',
            status: 'RINGING',
            timestamp: '1750000100',
            recipient_id: '16505551234',
          },
        ],
        errors: [{ code: 138006, title: 'no permission', message: 'no permission' }],
      }),
    );
    expect(events.map((e) => e.type)).toEqual(['call', 'call', 'call_status', 'error']);
    const [connect, terminate, ringing] = events as [
      EventOfType<'call'>,
      EventOfType<'call'>,
      EventOfType<'call_status'>,
    ];
    expect(connect).toMatchObject({
      id: 'wacid.1',
      event: 'connect',
      session: { sdpType: 'offer', sdp: 'v=0' },
      contact: { name: 'Caller' },
    });
    expect(terminate).toMatchObject({
      event: 'terminate',
      status: 'COMPLETED',
      durationSec: 85,
      startTimeSec: 1750000005,
    });
    expect(ringing).toMatchObject({ id: 'wacid.2', status: 'RINGING', recipientId: '16505551234' });
  });

  it('smb_message_echoes, history and smb_app_state_sync (coexistence)', () => {
    const echo = one(
      parseWebhook(
        delivery('smb_message_echoes', {
          messaging_product: 'whatsapp',
          metadata,
          message_echoes: [
            {
              from: '15550783881',
              to: '16505551234',
              id: 'wamid.E',
              timestamp: '1',
              type: 'text',
              text: { body: 'hi from the app' },
            },
          ],
        }),
      ),
      'message_echo',
    );
    expect(echo).toMatchObject({
      to: '16505551234',
      message: { type: 'text', id: 'wamid.E', text: { body: 'hi from the app' } },
    });
    const history = one(
      parseWebhook(
        delivery('history', {
          messaging_product: 'whatsapp',
          metadata,
          history: [
            { metadata: { phase: 0, chunk_order: 1, progress: 55 }, threads: [{ id: '1650', messages: [] }] },
          ],
        }),
      ),
      'history',
    );
    expect(history).toMatchObject({ phase: 0, chunkOrder: 1, progress: 55, threads: [{ id: '1650' }] });
    const sync = one(
      parseWebhook(
        delivery('smb_app_state_sync', {
          messaging_product: 'whatsapp',
          metadata,
          state_sync: [
            {
              type: 'contact',
              contact: { full_name: 'A B', phone_number: '1650' },
              action: 'add',
              metadata: { timestamp: '1' },
            },
          ],
        }),
      ),
      'app_state_sync',
    );
    expect(sync).toMatchObject({ syncType: 'contact', action: 'add' });
  });
});

describe('parseWebhook: batches and the unknown', () => {
  it('processes every entry, change, message and status of a batch, in order', () => {
    const payload = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'W1',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '1', phone_number_id: 'P1' },
                messages: [
                  { from: '9', id: 'wamid.1', timestamp: '1', type: 'text', text: { body: '1' } },
                  { from: '9', id: 'wamid.2', timestamp: '2', type: 'text', text: { body: '2' } },
                ],
                statuses: [{ id: 'wamid.S1', status: 'read', timestamp: '3', recipient_id: '9' }],
              },
            },
            { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 5 } },
          ],
        },
        {
          id: 'W2',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '2', phone_number_id: 'P2' },
                statuses: [{ id: 'wamid.S2', status: 'delivered', timestamp: '4', recipient_id: '8' }],
              },
            },
          ],
        },
      ],
    };
    const events = parseWebhook(payload);
    expect(
      events.map((e) => [
        e.type,
        e.wabaId,
        e.phoneNumberId,
        e.position.entry,
        e.position.change,
        e.position.item,
      ]),
    ).toEqual([
      ['message', 'W1', 'P1', 0, 0, 0],
      ['message', 'W1', 'P1', 0, 0, 1],
      ['status', 'W1', 'P1', 0, 0, 0],
      ['template_status', 'W1', undefined, 0, 1, 0],
      ['status', 'W2', 'P2', 1, 0, 0],
    ]);
  });

  it('never throws, and turns anything unrecognised into `unknown` events that keep what arrived', () => {
    for (const payload of [
      null,
      42,
      'text',
      [],
      {},
      { entry: 'x' },
      { entry: [1] },
      { entry: [{ id: 1 }] },
      { entry: [{ changes: [null] }] },
    ]) {
      const events = parseWebhook(payload);
      expect(events.length).toBeGreaterThan(0);
      expect(events.every((e) => e.type === 'unknown')).toBe(true);
    }
    const unknownField = one(parseWebhook(delivery('payment_configuration_update', { x: 1 })), 'unknown');
    expect(unknownField).toMatchObject({
      field: 'payment_configuration_update',
      wabaId: WABA,
      reason: expect.stringContaining('unknown webhook field'),
    });
    expect(unknownField.raw).toEqual({ field: 'payment_configuration_update', value: { x: 1 } });
    expect(one(parseWebhook(delivery('messages', 'not an object')), 'unknown').reason).toContain(
      'no value object',
    );
    expect(parseWebhook({ object: 'whatsapp_business_account', entry: [] })).toEqual([]);
  });

  it('regression (found by fast-check): fields named like Object.prototype members are unknown, not a crash', () => {
    for (const field of ['valueOf', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(one(parseWebhook(delivery(field, {})), 'unknown').field).toBe(field);
    }
  });

  it("the secreto 'invalid' mocks (empty arrays, missing metadata) yield an unknown event each, not a crash", () => {
    const dir = sharedUrl('fixtures/webhooks/');
    const invalid = readdirSync(dir).filter((f) => f.startsWith('secreto-invalid'));
    expect(invalid.length).toBeGreaterThanOrEqual(5);
    for (const file of invalid) {
      const events = parseWebhook(JSON.parse(readFileSync(new URL(file, dir), 'utf8')));
      expect(
        events.map((e) => e.type),
        file,
      ).toEqual(['unknown']);
    }
    const valid = JSON.parse(readFileSync(new URL('secreto-valid-message-mock.json', dir), 'utf8'));
    const m = one(parseWebhook(valid), 'message');
    expect(m).toMatchObject({
      phoneNumberId: '1',
      message: { type: 'text', id: 'wamid.ID', from: '2', timestampSec: 0, text: { body: 'message' } },
      contact: { waId: '2', name: 'name' },
    });
  });
});

describe('parseJsonBody', () => {
  it('keeps integers beyond 2^53 exact, as strings, and leaves strings and safe numbers alone', () => {
    const text =
      '{"a":12345678901234567890,"b":"x 12345678901234567890","c":9007199254740991,"d":-98765432109876543210,"e":1.5e300,"f":[1234567890123456789.5]}';
    expect(parseJsonBody(Buffer.from(text))).toEqual({
      a: '12345678901234567890',
      b: 'x 12345678901234567890',
      c: 9007199254740991,
      d: '-98765432109876543210',
      e: 1.5e300,
      f: [Number('1234567890123456789.5')],
    });
    const escaped = '{"s":"quote \\" 12345678901234567890 \\\\","n":12345678901234567890}';
    expect(parseJsonBody(escaped)).toEqual({
      s: 'quote " 12345678901234567890 \\',
      n: '12345678901234567890',
    });
  });

  it('a template id sent as a huge number reaches the event exactly', () => {
    const body = `{"entry":[{"id":"1","changes":[{"field":"message_template_status_update","value":{"event":"APPROVED","message_template_id":123456789012345678901}}]}]}`;
    expect(one(parseWebhook(parseJsonBody(body)), 'template_status').templateId).toBe(
      '123456789012345678901',
    );
  });

  it('throws a 400 WebhookError for anything that is not JSON (including a leading-zero trick)', () => {
    for (const bad of ['', '{', 'nope', '{"a":01234567890123456789}', '\u0000']) {
      expect(() => parseJsonBody(bad)).toThrowError(
        expect.objectContaining({ reason: 'bad_json', status: 400 }),
      );
    }
  });
});
