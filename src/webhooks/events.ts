/**
 * Typed webhook events. Every entry, change and array item of a delivery becomes one event; wire payloads keep
 * Graph's snake_case in `raw`, the typed fields are camelCase. Ids are always strings (Meta sends some as numbers)
 * and timestamps are Unix seconds as numbers (Meta sends most as strings), `undefined` when absent or unparsable.
 *
 * @see https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/overview
 */

import type { InboundMessage } from './inbound-messages.js';

export * from './inbound-messages.js';

/** A JSON object as received. */
export type WireObject = Record<string, unknown>;

/** Where in the delivery an event was found (indexes into `entry`, `changes` and the item array). */
export interface EventPosition {
  entry: number;
  change: number;
  item: number;
}

/** Fields every event carries. */
export interface EventBase<T extends string> {
  type: T;
  /** The webhook field of the change (`messages`, `message_template_status_update`, …). */
  field: string;
  /** `entry[].id`: the WhatsApp Business Account id (or the app/business id for account-level fields). */
  wabaId: string;
  /** `value.metadata.phone_number_id`, when the field carries it: the key for routing to a tenant. */
  phoneNumberId: string | undefined;
  displayPhoneNumber: string | undefined;
  /** `entry[].time` when Meta includes it (account-level fields). */
  entryTimeSec: number | undefined;
  position: EventPosition;
  /**
   * The WhatsApp user the event is about (sender, recipient, caller, the user whose id changed), whichever
   * identifiers Meta sent; undefined for events about the account, templates or numbers.
   */
  user: WebhookUser | undefined;
}

/**
 * One WhatsApp user, however Meta identified them. Since April 2026 Meta adds a business-scoped user id (BSUID) to
 * every messages webhook; a user who adopted a username may come with no phone number at all, so handlers should
 * key users by `bsuid` (or `parentBsuid`) and treat `phone` as optional.
 *
 * @see https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
 */
export interface WebhookUser {
  /** Phone number digits (`wa_id`, `from`, `recipient_id`); undefined when Meta withholds it (username users). */
  phone: string | undefined;
  /** Business-scoped user id (`user_id`, like `US.13491208655302741918`): stable per user and business portfolio. */
  bsuid: string | undefined;
  /** Parent BSUID (`parent_user_id`, like `US.ENT.11815799212886844830`), for linked portfolios that enabled it. */
  parentBsuid: string | undefined;
  /** The user's username, when they adopted one (`profile.username`). */
  username: string | undefined;
  /** Profile name (`profile.name`). */
  name: string | undefined;
}

/** An error object as Meta attaches it to messages, statuses, calls or a whole change. */
export interface WebhookErrorDetail {
  code: number | undefined;
  title: string | undefined;
  message: string | undefined;
  /** `error_data.details`. */
  details: string | undefined;
  href: string | undefined;
}

/** One entry of `value.contacts` (the sender of messages; the recipient on statuses). */
export interface ContactProfile {
  /** Phone number digits; Meta omits it for a username user whose number it withholds. */
  waId: string | undefined;
  name: string | undefined;
  /** Business-scoped user id (`user_id`). */
  userId: string | undefined;
  /** Parent BSUID (`parent_user_id`). */
  parentUserId: string | undefined;
  /** `profile.username`, when the user adopted a username. */
  username: string | undefined;
}

/** An incoming message (`messages` field, `value.messages[]`). */
export interface MessageEvent extends EventBase<'message'> {
  message: InboundMessage;
  /** The sender's entry of `value.contacts`, matched by `wa_id` or `user_id`. */
  contact: ContactProfile | undefined;
  user: WebhookUser;
}

/** A message sent from the WhatsApp Business app by a coexistence number (`smb_message_echoes`). */
export interface MessageEchoEvent extends EventBase<'message_echo'> {
  message: InboundMessage;
  /** The recipient's phone number digits (`to`), when Meta shares it. */
  to: string | undefined;
  /** The recipient's business-scoped user id (`to_user_id`). */
  toUserId: string | undefined;
  toParentUserId: string | undefined;
  /** The recipient's entry of `value.contacts`. */
  contact: ContactProfile | undefined;
  /** The recipient. */
  user: WebhookUser;
}

export type MessageStatus = 'sent' | 'delivered' | 'read' | 'failed' | 'deleted' | 'warning' | 'played';

/** Delivery status of a message the business sent (`messages` field, `value.statuses[]`). */
export interface StatusEvent extends EventBase<'status'> {
  /** The `wamid.…` of the message the status is about. */
  id: string;
  /** One of {@link MessageStatus}, or a newer value passed through as sent. */
  status: MessageStatus | (string & {});
  /** Phone number digits (or the group id for a group send); Meta omits it when it withholds the number. */
  recipientId: string | undefined;
  /** `recipient_user_id`: the recipient's BSUID (omitted on a `failed` status of a send to a phone number). */
  recipientUserId: string | undefined;
  recipientParentUserId: string | undefined;
  /** `individual` or `group`. */
  recipientType: string | undefined;
  /** For a group send: the participant the status is about (`recipient_participant_id`). */
  recipientParticipantId: string | undefined;
  timestampSec: number | undefined;
  /** `group_id`, or `recipient_id` when `recipient_type` is `group`. */
  groupId: string | undefined;
  /** The recipient's entry of `value.contacts` (Meta omits contacts on `failed`). */
  contact: ContactProfile | undefined;
  user: WebhookUser;
  conversation:
    | { id: string | undefined; expirationTimestampSec: number | undefined; originType: string | undefined }
    | undefined;
  pricing:
    | {
        billable: boolean | undefined;
        pricingModel: string | undefined;
        category: string | undefined;
        type: string | undefined;
      }
    | undefined;
  errors: WebhookErrorDetail[];
  bizOpaqueCallbackData: string | undefined;
  raw: WireObject;
}

/** An error reported for a whole change (`value.errors[]`), not tied to one message. */
export interface ChangeErrorEvent extends EventBase<'error'> {
  error: WebhookErrorDetail;
  raw: WireObject;
}

interface TemplateRef {
  templateId: string | undefined;
  templateName: string | undefined;
  language: string | undefined;
}

/** `message_template_status_update`: APPROVED, REJECTED, PAUSED, DISABLED, … */
export interface TemplateStatusEvent extends EventBase<'template_status'>, TemplateRef {
  event: string | undefined;
  reason: string | undefined;
  category: string | undefined;
  otherInfo: { title: string | undefined; description: string | undefined } | undefined;
  /** `rejection_info` of a rejected template. */
  rejectionInfo: { reason: string | undefined; recommendation: string | undefined } | undefined;
  raw: WireObject;
}
/** `message_template_quality_update`. */
export interface TemplateQualityEvent extends EventBase<'template_quality'>, TemplateRef {
  previousQualityScore: string | undefined;
  newQualityScore: string | undefined;
  raw: WireObject;
}
/** `template_category_update`. */
export interface TemplateCategoryEvent extends EventBase<'template_category'>, TemplateRef {
  previousCategory: string | undefined;
  newCategory: string | undefined;
  correctCategory: string | undefined;
  raw: WireObject;
}
/** `message_template_components_update`. */
export interface TemplateComponentsEvent extends EventBase<'template_components'>, TemplateRef {
  element: string | undefined;
  title: string | undefined;
  footer: string | undefined;
  raw: WireObject;
}
/** `phone_number_name_update`: the display name review decision. */
export interface PhoneNumberNameEvent extends EventBase<'phone_number_name'> {
  decision: string | undefined;
  requestedVerifiedName: string | undefined;
  rejectionReason: string | undefined;
  raw: WireObject;
}
/** `phone_number_quality_update`: quality flag and messaging limit changes. */
export interface PhoneNumberQualityEvent extends EventBase<'phone_number_quality'> {
  event: string | undefined;
  currentLimit: string | undefined;
  oldLimit: string | undefined;
  raw: WireObject;
}
/** `account_update`: verification, bans, violations, restrictions, partner changes, … */
export interface AccountUpdateEvent extends EventBase<'account_update'> {
  event: string | undefined;
  phoneNumber: string | undefined;
  /** `ban_info`: `waba_ban_state` and `waba_ban_date`. */
  banInfo: { state: string | undefined; date: string | undefined } | undefined;
  /** `violation_info.violation_type`. */
  violationType: string | undefined;
  /** `restriction_info[]`. */
  restrictions: { type: string | undefined; expiration: string | undefined }[];
  /** `lock_info.expiration`, when the account is locked. */
  lockExpiration: string | undefined;
  /** `waba_info` of partner events (PARTNER_ADDED, PARTNER_APP_INSTALLED, …). */
  wabaInfo:
    | {
        wabaId: string | undefined;
        ownerBusinessId: string | undefined;
        partnerAppId: string | undefined;
        solutionId: string | undefined;
        solutionPartnerBusinessIds: string[];
      }
    | undefined;
  /** `auth_international_rate_eligibility`. */
  authInternationalRateEligibility:
    | {
        startTimeSec: number | undefined;
        exceptionCountries: { countryCode: string | undefined; startTimeSec: number | undefined }[];
      }
    | undefined;
  /** Partner-led business verification submission (`business_verification_status`) and its `rejection_reasons`. */
  businessVerificationStatus: string | undefined;
  rejectionReasons: string[];
  /** `country` of a primary business location update. */
  country: string | undefined;
  /** `signup_id` of an Embedded Signup session that produced the event. */
  signupId: string | undefined;
  /** `volume_tier_info` (volume-based pricing tier changes). */
  volumeTierInfo:
    | { tier: string | undefined; effectiveMonth: string | undefined; updateTimeSec: number | undefined }
    | undefined;
  raw: WireObject;
}
/** `account_review_update`. */
export interface AccountReviewEvent extends EventBase<'account_review'> {
  decision: string | undefined;
  raw: WireObject;
}
/** `account_alerts`. */
export interface AccountAlertEvent extends EventBase<'account_alert'> {
  entityType: string | undefined;
  entityId: string | undefined;
  severity: string | undefined;
  status: string | undefined;
  alertType: string | undefined;
  description: string | undefined;
  raw: WireObject;
}
/** `business_capability_update`: messaging limits and number caps. */
export interface BusinessCapabilityEvent extends EventBase<'business_capability'> {
  maxDailyConversationPerPhone: number | undefined;
  maxPhoneNumbersPerBusiness: number | undefined;
  maxPhoneNumbersPerWaba: number | undefined;
  raw: WireObject;
}
/** `security`: two-step verification PIN changes and reset requests. */
export interface SecurityEvent extends EventBase<'security'> {
  event: string | undefined;
  requester: string | undefined;
  raw: WireObject;
}
/** `user_preferences`: a user stopped or resumed marketing messages. */
export interface UserPreferenceEvent extends EventBase<'user_preference'> {
  waId: string | undefined;
  /** `user_id`: the user's BSUID. */
  userId: string | undefined;
  category: string | undefined;
  /** `stop` or `resume`. */
  value: string | undefined;
  detail: string | undefined;
  timestampSec: number | undefined;
  contact: ContactProfile | undefined;
  user: WebhookUser;
  raw: WireObject;
}
/**
 * `user_id_update`: a user's business-scoped user id changed (for example after a new phone number). Replace the
 * stored BSUID `previousUserId` with `userId`.
 */
export interface UserIdUpdateEvent extends EventBase<'user_id_update'> {
  waId: string | undefined;
  previousUserId: string | undefined;
  userId: string | undefined;
  previousParentUserId: string | undefined;
  parentUserId: string | undefined;
  detail: string | undefined;
  timestampSec: number | undefined;
  contact: ContactProfile | undefined;
  /** The user as they are now (the new ids). */
  user: WebhookUser;
  raw: WireObject;
}
/** `calls`: a call connected or terminated (`value.calls[]`). */
export interface CallEvent extends EventBase<'call'> {
  id: string;
  /** `connect`, `terminate`, … */
  event: string | undefined;
  from: string | undefined;
  to: string | undefined;
  /** BSUIDs of the caller and callee (`from_user_id`, `to_user_id`), the user's side being the one Meta knows. */
  fromUserId: string | undefined;
  toUserId: string | undefined;
  direction: string | undefined;
  timestampSec: number | undefined;
  session: { sdpType: string | undefined; sdp: string | undefined } | undefined;
  /** Terminate events: `COMPLETED`, `FAILED`, … */
  status: string | undefined;
  startTimeSec: number | undefined;
  endTimeSec: number | undefined;
  durationSec: number | undefined;
  bizOpaqueCallbackData: string | undefined;
  errors: WebhookErrorDetail[];
  contact: ContactProfile | undefined;
  /** The WhatsApp user on the call (the caller of a user-initiated call, the callee otherwise). */
  user: WebhookUser;
  raw: WireObject;
}
/** `calls`: status of a business-initiated call (`value.statuses[]`: RINGING, ACCEPTED, REJECTED). */
export interface CallStatusEvent extends EventBase<'call_status'> {
  id: string;
  status: string | undefined;
  /** `type` of the status object (`call`). */
  statusType: string | undefined;
  recipientId: string | undefined;
  recipientUserId: string | undefined;
  timestampSec: number | undefined;
  errors: WebhookErrorDetail[];
  bizOpaqueCallbackData: string | undefined;
  contact: ContactProfile | undefined;
  user: WebhookUser;
  raw: WireObject;
}
/** `flows`: status changes and health alerts of a WhatsApp Flow. */
export interface FlowEvent extends EventBase<'flow'> {
  event: string | undefined;
  flowId: string | undefined;
  message: string | undefined;
  oldStatus: string | undefined;
  newStatus: string | undefined;
  raw: WireObject;
}
/** `group_lifecycle_update`, `group_settings_update`, `group_participants_update`, `group_status_update`. */
export interface GroupEvent extends EventBase<'group'> {
  groupId: string | undefined;
  /** `group_create`, `group_delete`, `group_settings_update`, `group_add_participants`, … */
  groupEventType: string | undefined;
  requestId: string | undefined;
  timestampSec: number | undefined;
  subject: string | undefined;
  description: string | undefined;
  /** A new group picture (`profile_picture`). */
  profilePicture:
    | { mimeType: string | undefined; sha256: string | undefined; id: string | undefined }
    | undefined;
  /** `added_participants` / `removed_participants` (ids coerced to strings; Meta sends some as numbers). */
  addedParticipants: GroupParticipant[];
  removedParticipants: GroupParticipant[];
  raw: WireObject;
}
export interface GroupParticipant {
  input: string | undefined;
  waId: string | undefined;
  /** The participant's BSUID (`user_id`), when Meta sends one. */
  userId: string | undefined;
}
/** `history`: a chunk of chat history shared when a coexistence number onboards. */
export interface HistoryEvent extends EventBase<'history'> {
  phase: number | undefined;
  chunkOrder: number | undefined;
  progress: number | undefined;
  threads: WireObject[];
  raw: WireObject;
}
/** `smb_app_state_sync`: contact changes in a coexistence number's WhatsApp Business app. */
export interface AppStateSyncEvent extends EventBase<'app_state_sync'> {
  syncType: string | undefined;
  action: string | undefined;
  raw: WireObject;
}
/**
 * Anything this version does not recognise: an unknown field, a change without recognisable content, or a
 * payload that is not a webhook at all. Nothing is dropped: `raw` holds what arrived.
 */
export interface UnknownEvent extends EventBase<'unknown'> {
  reason: string;
  raw: unknown;
}

export type WebhookEvent =
  | MessageEvent
  | MessageEchoEvent
  | StatusEvent
  | ChangeErrorEvent
  | TemplateStatusEvent
  | TemplateQualityEvent
  | TemplateCategoryEvent
  | TemplateComponentsEvent
  | PhoneNumberNameEvent
  | PhoneNumberQualityEvent
  | AccountUpdateEvent
  | AccountReviewEvent
  | AccountAlertEvent
  | BusinessCapabilityEvent
  | SecurityEvent
  | UserPreferenceEvent
  | UserIdUpdateEvent
  | CallEvent
  | CallStatusEvent
  | FlowEvent
  | GroupEvent
  | HistoryEvent
  | AppStateSyncEvent
  | UnknownEvent;

export type WebhookEventType = WebhookEvent['type'];

/** The event with type `T`. */
export type EventOfType<T extends WebhookEventType> = Extract<WebhookEvent, { type: T }>;

/** Every event type, for exhaustive tables and tests. */
export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = [
  'message',
  'message_echo',
  'status',
  'error',
  'template_status',
  'template_quality',
  'template_category',
  'template_components',
  'phone_number_name',
  'phone_number_quality',
  'account_update',
  'account_review',
  'account_alert',
  'business_capability',
  'security',
  'user_preference',
  'user_id_update',
  'call',
  'call_status',
  'flow',
  'group',
  'history',
  'app_state_sync',
  'unknown',
];
