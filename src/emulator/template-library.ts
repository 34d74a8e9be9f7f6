/**
 * The emulator's template library: a few pre-written utility templates in the shape Meta's
 * `GET /message_template_library` returns (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/template-library).
 * The texts are the emulator's own; what matters is the shape and that creating from one gives a real template.
 */
export interface LibraryEntry {
  id: string;
  name: string;
  language: string;
  category: 'UTILITY' | 'AUTHENTICATION';
  topic: string;
  usecase: string;
  industry: string[];
  body: string;
  body_params: string[];
  buttons?: Array<{ type: 'URL' | 'QUICK_REPLY' | 'PHONE_NUMBER'; text: string; url?: string }>;
}

export const TEMPLATE_LIBRARY: LibraryEntry[] = [
  {
    id: '7498127156912101',
    name: 'delivery_update_1',
    language: 'en_US',
    category: 'UTILITY',
    topic: 'ORDER_MANAGEMENT',
    usecase: 'SHIPMENT_UPDATE',
    industry: ['E_COMMERCE'],
    body: 'Good news, {{1}}: your order {{2}} is on its way and should arrive by {{3}}.',
    body_params: ['Jim', '#12345', 'Friday'],
    buttons: [{ type: 'URL', text: 'Track order', url: 'https://www.example.com/track/{{1}}' }],
  },
  {
    id: '7498127156912102',
    name: 'appointment_reminder_1',
    language: 'en_US',
    category: 'UTILITY',
    topic: 'APPOINTMENTS',
    usecase: 'APPOINTMENT_REMINDER',
    industry: ['HEALTH'],
    body: 'Hi {{1}}, this is a reminder of your appointment on {{2}} at {{3}}.',
    body_params: ['Ana', 'May 3', '10:00'],
    buttons: [{ type: 'QUICK_REPLY', text: 'Reschedule' }],
  },
  {
    id: '7498127156912103',
    name: 'payment_received_1',
    language: 'en_US',
    category: 'UTILITY',
    topic: 'PAYMENTS',
    usecase: 'PAYMENT_CONFIRMATION',
    industry: ['FINANCIAL_SERVICES', 'E_COMMERCE'],
    body: 'We received your payment of {{1}} for invoice {{2}}. Thank you.',
    body_params: ['$25.00', 'INV-7'],
  },
];

/** The template components a library entry stands for, with Meta's button inputs applied (URLs, phone numbers). */
export function libraryComponents(entry: LibraryEntry, buttonInputs: unknown[] | undefined): unknown[] {
  const components: unknown[] = [
    { type: 'BODY', text: entry.body, example: { body_text: [entry.body_params] } },
  ];
  if (entry.buttons?.length) {
    const buttons = entry.buttons.map((b, i) => {
      const input = (buttonInputs?.[i] ?? {}) as { url?: { base_url?: string } };
      return b.type === 'URL' && input.url?.base_url ? { ...b, url: input.url.base_url } : { ...b };
    });
    components.push({ type: 'BUTTONS', buttons });
  }
  return components;
}
