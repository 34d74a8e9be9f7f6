import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import type { SendMessageResponse, TemplateComponent } from './message-types.js';
import { isPhoneNumber } from './validate-message.js';

/**
 * `wa.marketingMessages`: marketing templates through the Marketing Messages API (`POST /{phone}/marketing_messages`),
 * with its pacing fields: `productPolicy` (`CLOUD_API_FALLBACK` lets Meta fall back to the Cloud API, `STRICT`
 * doesn't) and `messageActivitySharing`.
 */
export class MarketingMessagesApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly sender: () => string,
  ) {}

  async send(input: {
    to: string;
    name: string;
    language?: string;
    components?: TemplateComponent[];
    productPolicy?: 'CLOUD_API_FALLBACK' | 'STRICT';
    messageActivitySharing?: boolean;
  }): Promise<SendMessageResponse> {
    if (!isPhoneNumber(input.to)) throw new ValidationError('is not an E.164 phone number', 'to');
    if (!input.name) throw new ValidationError('is required', 'name');
    if (input.productPolicy && !['CLOUD_API_FALLBACK', 'STRICT'].includes(input.productPolicy)) {
      throw new ValidationError('must be CLOUD_API_FALLBACK or STRICT', 'productPolicy');
    }
    return this.graph.post(`${this.sender()}/marketing_messages`, {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: input.to,
      type: 'template',
      template: {
        name: input.name,
        language: { code: input.language ?? 'en_US' },
        ...(input.components ? { components: input.components } : {}),
      },
      ...(input.productPolicy ? { product_policy: input.productPolicy } : {}),
      ...(input.messageActivitySharing !== undefined
        ? { message_activity_sharing: input.messageActivitySharing }
        : {}),
    });
  }
}
