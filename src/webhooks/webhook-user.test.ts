import { describe, expect, it } from 'vitest';
import fixtures from '../../test/fixtures/webhooks-2026.json' with { type: 'json' };
import { unreadFields } from '../../test/support/unread-fields.js';
import examples from '../emulator/spec/webhook-examples.json' with { type: 'json' };
import type { EventOfType, WebhookEvent, WebhookEventType } from './events.js';
import { parseWebhook } from './parse-webhook.js';

const BSUID = 'US.13491208655302741918';
const PARENT = 'US.ENT.11815799212886844830';

function fixture(name: string): unknown {
  const f = fixtures.fixtures.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return f.body;
}

function only<T extends WebhookEventType>(events: WebhookEvent[], type: T): EventOfType<T> {
  const matching = events.filter((e) => e.type === type);
  expect(matching).toHaveLength(1);
  return matching[0] as EventOfType<T>;
}

/**
 * Fields that reach handlers only in `raw`, on purpose: the envelope's constants (`object` is always
 * `whatsapp_business_account`, `messaging_product` always `whatsapp`).
 */
const RAW_ON_PURPOSE = new Set(['object', 'entry[].changes[].value.messaging_product']);

describe("Meta's 2026 identities (BSUIDs, parent BSUIDs, usernames) in parsed webhooks", () => {
  it('a username user without a phone number: the user object carries the BSUID and username', () => {
    const e = only(parseWebhook(fixture('inbound text from a username user (no phone number)')), 'message');
    expect(e.message.from).toBeUndefined();
    expect(e.message.fromUserId).toBe(BSUID);
    expect(e.user).toEqual({
      phone: undefined,
      bsuid: BSUID,
      parentBsuid: undefined,
      username: 'sheena.nelson',
      name: 'Sheena Nelson',
    });
    expect(e.contact).toMatchObject({ userId: BSUID, waId: undefined, username: 'sheena.nelson' });
  });

  it('phone, BSUID and parent BSUID together', () => {
    const e = only(
      parseWebhook(fixture('inbound text with phone number, BSUID and parent BSUID')),
      'message',
    );
    expect(e.user).toEqual({
      phone: '16505551234',
      bsuid: BSUID,
      parentBsuid: PARENT,
      username: undefined,
      name: 'Sheena Nelson',
    });
    expect(e.message.fromParentUserId).toBe(PARENT);
  });

  it('statuses: recipient_user_id, contacts on statuses, none on failed, group recipients', () => {
    const delivered = only(
      parseWebhook(fixture('delivered status of a send to a BSUID (username user: no recipient_id)')),
      'status',
    );
    expect(delivered).toMatchObject({
      recipientId: undefined,
      recipientUserId: BSUID,
      recipientParentUserId: PARENT,
    });
    expect(delivered.user).toMatchObject({ phone: undefined, bsuid: BSUID, username: 'sheena.nelson' });
    const sent = only(parseWebhook(fixture('sent status of a send to a phone number')), 'status');
    expect(sent.user).toMatchObject({ phone: '16505551234', bsuid: BSUID });
    expect(sent.bizOpaqueCallbackData).toBe('order-42');
    const failed = only(
      parseWebhook(fixture('failed status of a send to a phone number (no contacts, no recipient_user_id)')),
      'status',
    );
    expect(failed.user).toEqual({
      phone: '16505551234',
      bsuid: undefined,
      parentBsuid: undefined,
      username: undefined,
      name: undefined,
    });
    expect(failed.contact).toBeUndefined();
    const group = only(parseWebhook(fixture('status of a group send')), 'status');
    expect(group).toMatchObject({
      groupId: 'Y2FwaV9ncm91cDoxODA1NTU1MDE3Mjo',
      recipientType: 'group',
      recipientParticipantId: '16505551234',
    });
    expect(group.user?.phone).toBe('16505551234');
  });

  it('user_id_update, user_preferences, echoes and calls name the user', () => {
    const update = only(parseWebhook(fixture('user_id_update')), 'user_id_update');
    expect(update).toMatchObject({
      previousUserId: BSUID,
      userId: 'US.88800012345678901234',
      previousParentUserId: PARENT,
      parentUserId: 'US.ENT.88800012345678901234',
      timestampSec: 1750000020,
    });
    expect(update.user).toMatchObject({ phone: '16505551234', bsuid: 'US.88800012345678901234' });
    const pref = only(parseWebhook(fixture('user_preferences with a BSUID')), 'user_preference');
    expect(pref.user).toMatchObject({ bsuid: BSUID, phone: '16505551234', name: 'Sheena Nelson' });
    const echo = only(parseWebhook(fixture('smb_message_echoes to a username user')), 'message_echo');
    expect(echo).toMatchObject({ to: undefined, toUserId: BSUID });
    expect(echo.user).toMatchObject({ bsuid: BSUID, username: 'sheena.nelson' });
    const calls = parseWebhook(
      fixture("calls: user-initiated connect with BSUIDs, and a business-initiated call's status"),
    );
    const call = only(calls, 'call');
    expect(call.user).toMatchObject({ phone: '16505551234', bsuid: BSUID, name: 'Sheena Nelson' });
    const callStatus = only(calls, 'call_status');
    expect(callStatus).toMatchObject({ recipientUserId: BSUID, bizOpaqueCallbackData: 'campaign-7' });
    expect(callStatus.user.bsuid).toBe(BSUID);
  });

  it('account_update details, rejection_info, unsupported.type, request-contact-info contacts and entry time', () => {
    const violation = only(
      parseWebhook(fixture('account_update: violation, ban and restrictions')),
      'account_update',
    );
    expect(violation).toMatchObject({
      event: 'ACCOUNT_RESTRICTION',
      entryTimeSec: 1750000060,
      violationType: 'SCAM',
      banInfo: { state: 'SCHEDULE_FOR_DISABLE', date: '2026-05-01' },
      restrictions: [{ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: '2026-04-19T13:59:20+0000' }],
      lockExpiration: '2026-04-20T00:00:00+0000',
      user: undefined,
    });
    const partner = only(
      parseWebhook(fixture('account_update: partner added (Embedded Signup)')),
      'account_update',
    );
    expect(partner).toMatchObject({
      signupId: '7b1d9f3c-0001',
      wabaInfo: { wabaId: '102290129340398', solutionPartnerBusinessIds: ['111', '222'] },
    });
    const intl = only(
      parseWebhook(fixture('account_update: authentication-international rates and volume tier')),
      'account_update',
    );
    expect(intl.authInternationalRateEligibility?.exceptionCountries).toEqual([
      { countryCode: 'ID', startTimeSec: 1751000000 },
    ]);
    expect(intl.volumeTierInfo).toEqual({
      tier: 'TIER_2',
      effectiveMonth: '2026-06',
      updateTimeSec: 1750000070,
    });
    const verification = only(
      parseWebhook(fixture('account_update: partner-led business verification rejected')),
      'account_update',
    );
    expect(verification).toMatchObject({
      businessVerificationStatus: 'REJECTED',
      rejectionReasons: ['LEGAL_NAME_NOT_FOUND_IN_DOCUMENTS'],
      country: 'US',
    });
    const template = only(parseWebhook(fixture('template rejected with rejection_info')), 'template_status');
    expect(template.rejectionInfo?.recommendation).toBe('Move the variable after some text.');
    const unsupported = only(
      parseWebhook(fixture('unsupported message naming what the user sent')),
      'message',
    );
    expect(unsupported.message).toMatchObject({ type: 'unsupported', unsupportedType: 'edit' });
    const shared = only(
      parseWebhook(fixture('contact shared in answer to a REQUEST_CONTACT_INFO button')),
      'message',
    );
    expect(shared.message).toMatchObject({ type: 'contacts', origin: 'contact_request' });
    if (shared.message.type === 'contacts')
      expect(shared.message.contacts[0]?.vcard).toContain('BEGIN:VCARD');
  });

  it('no field of a documented payload reaches handlers only in raw (Meta spec examples and 2026 fixtures)', () => {
    const all = [
      ...fixtures.fixtures.map((f) => ({ name: f.name, body: f.body as unknown })),
      ...examples.examples.map((e) => ({ name: e.name, body: e.body as unknown })),
    ];
    const leftInRaw = all
      .map((f) => ({
        name: f.name,
        fields: unreadFields(f.body, parseWebhook).filter((p) => !RAW_ON_PURPOSE.has(p)),
      }))
      .filter((f) => f.fields.length > 0);
    expect(leftInRaw).toEqual([]);
    // And nothing is unknown to the parser.
    for (const f of all) expect(parseWebhook(f.body).filter((e) => e.type === 'unknown')).toEqual([]);
  });

  it('the unread-field check can fail: a field the parser does not read is reported', () => {
    const body = fixture('sent status of a send to a phone number') as {
      entry: { changes: { value: object }[] }[];
    };
    const copy = structuredClone(body);
    Object.assign(copy.entry[0]!.changes[0]!.value, { brand_new_field: 1 });
    expect(unreadFields(copy, parseWebhook)).toContain('entry[].changes[].value.brand_new_field');
  });
});
