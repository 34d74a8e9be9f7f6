import type {
  ContactProfile,
  EventBase,
  EventPosition,
  GroupParticipant,
  UnknownEvent,
  WebhookEvent,
  WireObject,
} from './events.js';
import { parseMessage } from './parse-message.js';
import { contactFor, contactList, userOf } from './webhook-user.js';
import {
  bool,
  eachObject,
  errorDetail,
  errorList,
  isObject,
  num,
  obj,
  objects,
  str,
  strings,
} from './wire.js';

export { parseMessage } from './parse-message.js';

/**
 * Turns a webhook payload (already JSON-parsed) into typed events: every entry, every change, every message, status,
 * call, preference, … in order. Never throws: anything it does not recognise, including a payload that is not a
 * webhook at all, becomes an `unknown` event holding what arrived.
 *
 * @example
 * for (const event of parseWebhook(JSON.parse(rawBody))) {
 *   if (event.type === 'message' && event.message.type === 'text') console.log(event.message.text.body);
 * }
 * @see https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/overview
 */
export function parseWebhook(payload: unknown): WebhookEvent[] {
  const events: WebhookEvent[] = [];
  if (!isObject(payload)) {
    events.push(unknown(topBase(), 'the payload is not a JSON object', payload));
    return events;
  }
  const entries = payload.entry;
  if (!Array.isArray(entries)) {
    events.push(unknown(topBase(), 'the payload has no entry array', payload));
    return events;
  }
  for (let e = 0; e < entries.length; e++) {
    const entry: unknown = entries[e];
    if (!isObject(entry)) {
      events.push(unknown(topBase(e), 'an entry is not an object', entry));
      continue;
    }
    const wabaId = str(entry.id) ?? '';
    const entryTimeSec = num(entry.time);
    const changes = entry.changes;
    if (!Array.isArray(changes)) {
      events.push(unknown({ ...topBase(e), wabaId, entryTimeSec }, 'the entry has no changes array', entry));
      continue;
    }
    for (let c = 0; c < changes.length; c++) {
      const change: unknown = changes[c];
      const base: Base = {
        field: '',
        wabaId,
        phoneNumberId: undefined,
        displayPhoneNumber: undefined,
        entryTimeSec,
        position: { entry: e, change: c, item: 0 },
        user: undefined,
      };
      if (!isObject(change)) {
        events.push(unknown(base, 'a change is not an object', change));
        continue;
      }
      base.field = str(change.field) ?? '';
      const before = events.length;
      const value = change.value;
      if (isObject(value)) {
        const metadata = value.metadata;
        if (isObject(metadata)) {
          base.phoneNumberId = str(metadata.phone_number_id);
          base.displayPhoneNumber = str(metadata.display_phone_number);
        }
        // A Map, not an object lookup: a field named "valueOf" or "__proto__" must not find a prototype member.
        const parser = PARSERS.get(base.field);
        if (parser) parser(value, base, events);
        else events.push(unknown(base, `unknown webhook field "${base.field}"`, change));
      } else {
        events.push(unknown(base, 'the change has no value object', change));
      }
      if (events.length === before) {
        events.push(unknown(base, `a "${base.field}" change with nothing recognisable in it`, change));
      }
    }
  }
  return events;
}

type Base = Omit<EventBase<string>, 'type'>;
type FieldParser = (value: WireObject, base: Base, out: WebhookEvent[]) => void;

const at = (base: Base, item: number): Base => ({ ...base, position: { ...base.position, item } });

/** One parser per webhook field; fields that carry arrays emit one event per item. */
const FIELD_PARSERS: Record<string, FieldParser> = {
  messages(value, base, out) {
    const contacts = contactList(value.contacts);
    // The hot path (most deliveries are messages and statuses): literals with every field, no spreads.
    eachObject(value.messages, (m, i) => {
      const message = parseMessage(m);
      const contact = contactFor(contacts, message.from, message.fromUserId);
      out.push({
        type: 'message',
        field: base.field,
        wabaId: base.wabaId,
        phoneNumberId: base.phoneNumberId,
        displayPhoneNumber: base.displayPhoneNumber,
        entryTimeSec: base.entryTimeSec,
        position: { entry: base.position.entry, change: base.position.change, item: i },
        user: userOf(contact, message.from, message.fromUserId, message.fromParentUserId),
        message,
        contact,
      });
    });
    eachObject(value.statuses, (s, i) => out.push(parseStatus(s, contacts, base, i)));
    pushChangeErrors(value, base, out);
  },
  smb_message_echoes: echoes,
  message_echoes: echoes,
  message_template_status_update(value, base, out) {
    const other = obj(value.other_info);
    const rejection = obj(value.rejection_info);
    out.push({
      type: 'template_status',
      ...base,
      ...templateRef(value),
      event: str(value.event),
      reason: str(value.reason),
      category: str(value.message_template_category),
      otherInfo: other ? { title: str(other.title), description: str(other.description) } : undefined,
      rejectionInfo: rejection
        ? { reason: str(rejection.reason), recommendation: str(rejection.recommendation) }
        : undefined,
      raw: value,
    });
  },
  message_template_quality_update(value, base, out) {
    out.push({
      type: 'template_quality',
      ...base,
      ...templateRef(value),
      previousQualityScore: str(value.previous_quality_score),
      newQualityScore: str(value.new_quality_score),
      raw: value,
    });
  },
  template_category_update(value, base, out) {
    out.push({
      type: 'template_category',
      ...base,
      ...templateRef(value),
      previousCategory: str(value.previous_category),
      newCategory: str(value.new_category),
      correctCategory: str(value.correct_category),
      raw: value,
    });
  },
  message_template_components_update(value, base, out) {
    out.push({
      type: 'template_components',
      ...base,
      ...templateRef(value),
      element: str(value.message_template_element),
      title: str(value.message_template_title),
      footer: str(value.message_template_footer),
      raw: value,
    });
  },
  phone_number_name_update(value, base, out) {
    out.push({
      type: 'phone_number_name',
      ...withDisplay(base, value),
      decision: str(value.decision),
      requestedVerifiedName: str(value.requested_verified_name),
      rejectionReason: str(value.rejection_reason),
      raw: value,
    });
  },
  phone_number_quality_update(value, base, out) {
    out.push({
      type: 'phone_number_quality',
      ...withDisplay(base, value),
      event: str(value.event),
      currentLimit: str(value.current_limit),
      oldLimit: str(value.old_limit),
      raw: value,
    });
  },
  account_update: accountUpdate,
  account_review_update(value, base, out) {
    out.push({ type: 'account_review', ...base, decision: str(value.decision), raw: value });
  },
  account_alerts(value, base, out) {
    out.push({
      type: 'account_alert',
      ...base,
      entityType: str(value.entity_type),
      entityId: str(value.entity_id),
      severity: str(value.alert_severity),
      status: str(value.alert_status),
      alertType: str(value.alert_type),
      description: str(value.alert_description),
      raw: value,
    });
  },
  business_capability_update(value, base, out) {
    out.push({
      type: 'business_capability',
      ...base,
      maxDailyConversationPerPhone: num(value.max_daily_conversation_per_phone),
      maxPhoneNumbersPerBusiness: num(value.max_phone_numbers_per_business),
      maxPhoneNumbersPerWaba: num(value.max_phone_numbers_per_waba),
      raw: value,
    });
  },
  security(value, base, out) {
    out.push({
      type: 'security',
      ...withDisplay(base, value),
      event: str(value.event),
      requester: str(value.requester),
      raw: value,
    });
  },
  user_preferences(value, base, out) {
    const contacts = contactList(value.contacts);
    eachObject(value.user_preferences, (p, i) => {
      const waId = str(p.wa_id);
      const userId = str(p.user_id);
      const contact = contactFor(contacts, waId, userId);
      out.push({
        type: 'user_preference',
        ...at(base, i),
        user: userOf(contact, waId, userId, str(p.parent_user_id)),
        waId,
        userId,
        category: str(p.category),
        value: str(p.value),
        detail: str(p.detail),
        timestampSec: num(p.timestamp),
        contact,
        raw: p,
      });
    });
  },
  user_id_update: userIdUpdates,
  calls(value, base, out) {
    const contacts = contactList(value.contacts);
    eachObject(value.calls, (call, i) => {
      const session = obj(call.session);
      const from = str(call.from);
      const to = str(call.to);
      const fromUserId = str(call.from_user_id);
      const toUserId = str(call.to_user_id);
      // The user is the caller of a user-initiated call and the callee of a business-initiated one.
      const outbound = str(call.direction) === 'BUSINESS_INITIATED';
      const contact = outbound ? contactFor(contacts, to, toUserId) : contactFor(contacts, from, fromUserId);
      out.push({
        type: 'call',
        ...at(base, i),
        id: str(call.id) ?? '',
        event: str(call.event),
        from,
        to,
        fromUserId,
        toUserId,
        direction: str(call.direction),
        timestampSec: num(call.timestamp),
        session: session ? { sdpType: str(session.sdp_type), sdp: str(session.sdp) } : undefined,
        status: str(call.status),
        startTimeSec: num(call.start_time),
        endTimeSec: num(call.end_time),
        durationSec: num(call.duration),
        bizOpaqueCallbackData: str(call.biz_opaque_callback_data),
        errors: errorList(call.errors),
        contact,
        user: outbound ? userOf(contact, to, toUserId) : userOf(contact, from, fromUserId),
        raw: call,
      });
    });
    eachObject(value.statuses, (s, i) => {
      const recipientId = str(s.recipient_id);
      const recipientUserId = str(s.recipient_user_id);
      const contact = contactFor(contacts, recipientId, recipientUserId);
      out.push({
        type: 'call_status',
        ...at(base, i),
        user: userOf(contact, recipientId, recipientUserId),
        id: str(s.id) ?? '',
        status: str(s.status),
        statusType: str(s.type),
        recipientId,
        recipientUserId,
        timestampSec: num(s.timestamp),
        errors: errorList(s.errors),
        bizOpaqueCallbackData: str(s.biz_opaque_callback_data),
        contact,
        raw: s,
      });
    });
    pushChangeErrors(value, base, out);
  },
  flows(value, base, out) {
    out.push({
      type: 'flow',
      ...base,
      event: str(value.event),
      flowId: str(value.flow_id),
      message: str(value.message),
      oldStatus: str(value.old_status),
      newStatus: str(value.new_status),
      raw: value,
    });
  },
  group_lifecycle_update: groups,
  group_settings_update: groups,
  group_participants_update: groups,
  group_participant_update: groups,
  group_status_update: groups,
  history(value, base, out) {
    eachObject(value.history, (h, i) => {
      const meta = obj(h.metadata);
      out.push({
        type: 'history',
        ...at(base, i),
        phase: num(meta?.phase),
        chunkOrder: num(meta?.chunk_order),
        progress: num(meta?.progress),
        threads: Array.isArray(h.threads) ? h.threads.filter(isObject) : [],
        raw: h,
      });
    });
    pushChangeErrors(value, base, out);
  },
  smb_app_state_sync(value, base, out) {
    eachObject(value.state_sync, (s, i) => {
      out.push({
        type: 'app_state_sync',
        ...at(base, i),
        syncType: str(s.type),
        action: str(s.action),
        raw: s,
      });
    });
  },
};

const PARSERS: ReadonlyMap<string, FieldParser> = new Map(Object.entries(FIELD_PARSERS));

function echoes(value: WireObject, base: Base, out: WebhookEvent[]): void {
  const contacts = contactList(value.contacts);
  eachObject(value.message_echoes, (m, i) => {
    const to = str(m.to);
    const toUserId = str(m.to_user_id);
    const toParentUserId = str(m.to_parent_user_id);
    const contact = contactFor(contacts, to, toUserId);
    out.push({
      type: 'message_echo',
      ...at(base, i),
      user: userOf(contact, to, toUserId, toParentUserId),
      message: parseMessage(m),
      to,
      toUserId,
      toParentUserId,
      contact,
    });
  });
  pushChangeErrors(value, base, out);
}

/**
 * `user_id_update` (2026): a user's BSUID changed. UNVERIFIED shape (Meta's page shows `user_id` and
 * `parent_user_id` as `{previous, current}` pairs next to `wa_id`, `detail` and `timestamp`); flat
 * `previous_user_id` is read too, so either form types.
 */
function userIdUpdates(value: WireObject, base: Base, out: WebhookEvent[]): void {
  const contacts = contactList(value.contacts);
  eachObject(value.user_id_update, (u, i) => {
    const ids = pair(u.user_id, u.previous_user_id);
    const parents = pair(u.parent_user_id, u.previous_parent_user_id);
    const waId = str(u.wa_id);
    const contact = contactFor(contacts, waId, ids.current);
    out.push({
      type: 'user_id_update',
      ...at(base, i),
      user: userOf(contact, waId, ids.current, parents.current),
      waId,
      previousUserId: ids.previous,
      userId: ids.current,
      previousParentUserId: parents.previous,
      parentUserId: parents.current,
      detail: str(u.detail),
      timestampSec: num(u.timestamp),
      contact,
      raw: u,
    });
  });
  pushChangeErrors(value, base, out);
}

function pair(
  v: unknown,
  flatPrevious: unknown,
): { previous: string | undefined; current: string | undefined } {
  const o = obj(v);
  if (o) return { previous: str(o.previous), current: str(o.current) };
  return { previous: str(flatPrevious), current: str(v) };
}

/** `account_update`: the event and each detail block Meta documents for it. */
function accountUpdate(value: WireObject, base: Base, out: WebhookEvent[]): void {
  const ban = obj(value.ban_info);
  const waba = obj(value.waba_info);
  const intl = obj(value.auth_international_rate_eligibility);
  const tier = obj(value.volume_tier_info);
  const verification = obj(value.business_verification_status);
  out.push({
    type: 'account_update',
    ...base,
    event: str(value.event),
    phoneNumber: str(value.phone_number),
    banInfo: ban ? { state: str(ban.waba_ban_state), date: str(ban.waba_ban_date) } : undefined,
    violationType: str(obj(value.violation_info)?.violation_type),
    restrictions: objects(value.restriction_info).map((r) => ({
      type: str(r.restriction_type),
      expiration: str(r.expiration),
    })),
    lockExpiration: str(obj(value.lock_info)?.expiration),
    wabaInfo: waba
      ? {
          wabaId: str(waba.waba_id),
          ownerBusinessId: str(waba.owner_business_id),
          partnerAppId: str(waba.partner_app_id),
          solutionId: str(waba.solution_id),
          solutionPartnerBusinessIds: strings(waba.solution_partner_business_ids),
        }
      : undefined,
    authInternationalRateEligibility: intl
      ? {
          startTimeSec: num(intl.start_time),
          exceptionCountries: objects(intl.exception_countries).map((c) => ({
            countryCode: str(c.country_code),
            startTimeSec: num(c.start_time),
          })),
        }
      : undefined,
    businessVerificationStatus: str(verification?.status) ?? str(value.business_verification_status),
    rejectionReasons: strings(verification?.rejection_reasons ?? value.rejection_reasons),
    country: str(value.country),
    signupId: str(value.signup_id) ?? str(waba?.signup_id),
    volumeTierInfo: tier
      ? {
          tier: str(tier.volume_tier),
          effectiveMonth: str(tier.effective_month),
          updateTimeSec: num(tier.tier_update_time),
        }
      : undefined,
    raw: value,
  });
}

function groups(value: WireObject, base: Base, out: WebhookEvent[]): void {
  eachObject(value.groups, (g, i) => {
    const picture = obj(g.profile_picture);
    out.push({
      type: 'group',
      ...at(base, i),
      groupId: str(g.group_id),
      groupEventType: str(g.type),
      requestId: str(g.request_id),
      timestampSec: num(g.timestamp),
      subject: str(g.subject),
      description: str(g.description),
      profilePicture: picture
        ? { mimeType: str(picture.mime_type), sha256: str(picture.sha256), id: str(picture.id) }
        : undefined,
      addedParticipants: participants(g.added_participants),
      removedParticipants: participants(g.removed_participants),
      raw: g,
    });
  });
  pushChangeErrors(value, base, out);
}

function participants(v: unknown): GroupParticipant[] {
  return objects(v).map((p) => ({ input: str(p.input), waId: str(p.wa_id), userId: str(p.user_id) }));
}

function pushChangeErrors(value: WireObject, base: Base, out: WebhookEvent[]): void {
  eachObject(value.errors, (err, i) => {
    out.push({ type: 'error', ...at(base, i), error: errorDetail(err), raw: err });
  });
}

function parseStatus(s: WireObject, contacts: ContactProfile[], base: Base, item: number): WebhookEvent {
  const conversation = obj(s.conversation);
  const origin = obj(conversation?.origin);
  const pricing = obj(s.pricing);
  const recipientId = str(s.recipient_id);
  const recipientUserId = str(s.recipient_user_id);
  const recipientParentUserId = str(s.recipient_parent_user_id);
  const recipientType = str(s.recipient_type);
  const group = recipientType === 'group';
  const contact = group ? undefined : contactFor(contacts, recipientId, recipientUserId);
  return {
    type: 'status',
    field: base.field,
    wabaId: base.wabaId,
    phoneNumberId: base.phoneNumberId,
    displayPhoneNumber: base.displayPhoneNumber,
    entryTimeSec: base.entryTimeSec,
    position: { entry: base.position.entry, change: base.position.change, item },
    // A group send's status names the group as recipient; the user is the participant, when Meta says which.
    user: group
      ? userOf(undefined, str(s.recipient_participant_id), undefined)
      : userOf(contact, recipientId, recipientUserId, recipientParentUserId),
    id: str(s.id) ?? '',
    status: str(s.status) ?? '',
    recipientId,
    recipientUserId,
    recipientParentUserId,
    recipientType,
    recipientParticipantId: str(s.recipient_participant_id),
    timestampSec: num(s.timestamp),
    groupId: str(s.group_id) ?? (group ? recipientId : undefined),
    contact,
    conversation: conversation
      ? {
          id: str(conversation.id),
          expirationTimestampSec: num(conversation.expiration_timestamp),
          originType: str(origin?.type),
        }
      : undefined,
    pricing: pricing
      ? {
          billable: bool(pricing.billable),
          pricingModel: str(pricing.pricing_model),
          category: str(pricing.category),
          type: str(pricing.type),
        }
      : undefined,
    errors: errorList(s.errors),
    bizOpaqueCallbackData: str(s.biz_opaque_callback_data),
    raw: s,
  };
}

function templateRef(value: WireObject): {
  templateId: string | undefined;
  templateName: string | undefined;
  language: string | undefined;
} {
  return {
    templateId: str(value.message_template_id),
    templateName: str(value.message_template_name),
    language: str(value.message_template_language),
  };
}

function withDisplay(base: Base, value: WireObject): Base {
  return { ...base, displayPhoneNumber: base.displayPhoneNumber ?? str(value.display_phone_number) };
}

function topBase(entry = 0): Base {
  return {
    field: '',
    wabaId: '',
    phoneNumberId: undefined,
    displayPhoneNumber: undefined,
    entryTimeSec: undefined,
    position: { entry, change: 0, item: 0 } satisfies EventPosition,
    user: undefined,
  };
}

function unknown(base: Base, reason: string, raw: unknown): UnknownEvent {
  return { type: 'unknown', ...base, reason, raw };
}
