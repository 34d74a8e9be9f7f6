import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import { type ListOptions, type PageIterator, paginate } from './paginate.js';

export interface QrCode {
  code: string;
  prefilled_message: string;
  deep_link_url: string;
  qr_image_url?: string;
}

const MAX_MESSAGE = 140;

function message(text: string): string {
  if (typeof text !== 'string' || !text) throw new ValidationError('is required', 'prefilledMessage');
  if ([...text].length > MAX_MESSAGE)
    throw new ValidationError(`is over Meta's ${MAX_MESSAGE}-character limit`, 'prefilledMessage');
  return text;
}

function code(value: string): string {
  if (typeof value !== 'string' || !/^[A-Z0-9]{14}$/.test(value))
    throw new ValidationError('is not a 14-character QR code', 'code');
  return value;
}

/** `wa.qrCodes`: QR codes (and wa.me links) that open a chat with a prefilled message. */
export class QrCodesApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly sender: () => string,
  ) {}

  async create(input: { prefilledMessage: string; image?: 'PNG' | 'SVG' }): Promise<QrCode> {
    return this.graph.post(`${this.sender()}/message_qrdls`, {
      prefilled_message: message(input.prefilledMessage),
      ...(input.image ? { generate_qr_image: input.image } : {}),
    });
  }

  async update(qrCode: string, prefilledMessage: string): Promise<QrCode> {
    return this.graph.post(`${this.sender()}/message_qrdls`, {
      code: code(qrCode),
      prefilled_message: message(prefilledMessage),
    });
  }

  list(options: ListOptions & { code?: string } = {}): PageIterator<QrCode> {
    return paginate(this.graph, () => `${this.sender()}/message_qrdls`, options);
  }

  async get(qrCode: string, fields?: string): Promise<QrCode> {
    const res = await this.graph.get<{ data: QrCode[] }>(`${this.sender()}/message_qrdls/${code(qrCode)}`, {
      fields,
    });
    const first = res.data?.[0];
    if (!first) throw new ValidationError('was not returned by the API', 'code');
    return first;
  }

  async delete(qrCode: string): Promise<{ success: boolean }> {
    return this.graph.delete(`${this.sender()}/message_qrdls/${code(qrCode)}`);
  }
}
