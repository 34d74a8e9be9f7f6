import type { WebhookEvent } from './events.js';

/** A one-line summary of an event: what it is, which phone number, which message/status/call/template id. */
export interface EventSummary {
  /** `message.text`, `status.delivered`, `template_status.APPROVED`, `call.connect`, `unknown`, … */
  kind: string;
  phoneNumberId: string | undefined;
  /** The message id for messages and statuses; the call, template, flow or group id otherwise. */
  id: string | undefined;
}

/**
 * Summarises an event for logs and the `wacloud webhook listen` output. Never includes message content.
 *
 * @example
 * const { kind, phoneNumberId, id } = describeEvent(event); // "message.text", "106540352242922", "wamid.…"
 */
export function describeEvent(event: WebhookEvent): EventSummary {
  const phoneNumberId = event.phoneNumberId;
  const sub = (kind: string, detail: string | undefined, id: string | undefined): EventSummary => ({
    kind: detail ? `${kind}.${detail}` : kind,
    phoneNumberId,
    id: id === '' ? undefined : id,
  });
  switch (event.type) {
    case 'message':
    case 'message_echo':
      return sub(event.type, event.message.type, event.message.id);
    case 'status':
      return sub('status', event.status, event.id);
    case 'error':
      return sub('error', event.error.code === undefined ? undefined : String(event.error.code), undefined);
    case 'template_status':
      return sub(event.type, event.event, event.templateId);
    case 'template_quality':
      return sub(event.type, event.newQualityScore, event.templateId);
    case 'template_category':
      return sub(event.type, event.newCategory, event.templateId);
    case 'template_components':
      return sub(event.type, undefined, event.templateId);
    case 'phone_number_name':
    case 'account_review':
      return sub(event.type, event.decision, undefined);
    case 'phone_number_quality':
    case 'account_update':
    case 'security':
      return sub(event.type, event.event, undefined);
    case 'account_alert':
      return sub(event.type, event.alertType, event.entityId);
    case 'business_capability':
      return sub(event.type, undefined, undefined);
    case 'user_preference':
      return sub(event.type, event.value, event.waId);
    case 'user_id_update':
      return sub(event.type, undefined, undefined);
    case 'call':
      return sub('call', event.event, event.id);
    case 'call_status':
      return sub('call_status', event.status, event.id);
    case 'flow':
      return sub('flow', event.event, event.flowId);
    case 'group':
      return sub('group', event.groupEventType, event.groupId);
    case 'history':
      return sub('history', undefined, undefined);
    case 'app_state_sync':
      return sub('app_state_sync', event.action, undefined);
    case 'unknown':
      return sub('unknown', event.field || undefined, undefined);
  }
}

/** `describeEvent` as one line: `kind phone_number_id id` (a `-` for what is missing). */
export function formatEventLine(event: WebhookEvent): string {
  const { kind, phoneNumberId, id } = describeEvent(event);
  return `${kind} ${phoneNumberId ?? '-'} ${id ?? '-'}`;
}
