import type { TenantObjectKind } from '../store/tenant-objects.js';
import type { WebhookEvent } from '../webhooks/events.js';

/** The kind of object a proxied POST created, from its edge (`/{waba}/message_templates`, `/{number}/media`). */
export function createdObjectKind(edge: string | undefined): TenantObjectKind {
  switch (edge) {
    case 'media':
      return 'media';
    case 'message_templates':
      return 'template';
    case 'flows':
      return 'flow';
    default:
      return 'object';
  }
}

/**
 * The media ids a webhook event carries (a customer's image, video, voice note, document or sticker, in a message or
 * an echo): they become the routed tenant's, so it can read and download them through the proxy.
 */
export function mediaIdsOf(event: WebhookEvent): string[] {
  if (event.type !== 'message' && event.type !== 'message_echo') return [];
  const message = event.message as { media?: { id?: string } };
  const id = message.media?.id;
  return typeof id === 'string' && /^\d{1,32}$/.test(id) ? [id] : [];
}
