/** The WhatsApp user every test delivery comes from. */
export const TEST_WA_ID = '16505551234';

export interface DeliveryOptions {
  wabaId?: string;
  phoneNumberId?: string;
  /** Profile name in `contacts`; default "Sheena". */
  contactName?: string;
  /** Message objects without `from` (always the test user); `timestamp` defaults to 1750000000. */
  messages?: Array<Record<string, unknown>>;
  /** Statuses of outgoing messages; `timestamp` defaults to 1750000001. */
  statuses?: Array<{ id: string; status: string; timestamp?: string }>;
}

/** A text message object for {@link whatsappDelivery}. */
export function textMessage(id: string, body: string, timestamp = '1750000000'): Record<string, unknown> {
  return { id, timestamp, type: 'text', text: { body } };
}

/**
 * A webhook body shaped like Meta's `messages` field (one entry, one change), as JSON text ready to sign. Tests sign
 * and send these themselves; the emulator's deliveries are tested separately.
 */
export function whatsappDelivery(o: DeliveryOptions = {}): string {
  const value: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '15550783881', phone_number_id: o.phoneNumberId ?? '106540352242922' },
    contacts: [{ profile: { name: o.contactName ?? 'Sheena' }, wa_id: TEST_WA_ID }],
  };
  if (o.messages) {
    value.messages = o.messages.map((m) => ({ from: TEST_WA_ID, timestamp: '1750000000', ...m }));
  }
  if (o.statuses) {
    value.statuses = o.statuses.map((s) => ({ timestamp: '1750000001', recipient_id: TEST_WA_ID, ...s }));
  }
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: o.wabaId ?? '102290129340398', changes: [{ field: 'messages', value }] }],
  });
}
