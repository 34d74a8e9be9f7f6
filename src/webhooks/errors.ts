import { WacloudError } from '../core/errors.js';

/**
 * Why a webhook request was refused. Each maps to one HTTP status (see {@link WEBHOOK_REJECTION_STATUS}) so the
 * core and every adapter answer the same way.
 */
export type WebhookRejection =
  | 'not_found'
  | 'method_not_allowed'
  | 'handshake_failed'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'missing_signature'
  | 'bad_signature'
  | 'bad_json'
  | 'raw_body_unavailable'
  | 'not_acknowledged';

export const WEBHOOK_REJECTION_STATUS: Readonly<Record<WebhookRejection, number>> = {
  not_found: 404,
  method_not_allowed: 405,
  handshake_failed: 403,
  unsupported_media_type: 415,
  payload_too_large: 413,
  missing_signature: 401,
  bad_signature: 401,
  bad_json: 400,
  raw_body_unavailable: 500,
  not_acknowledged: 500,
};

/**
 * A webhook request that was refused, with the HTTP status to answer. Messages are fixed texts that name the likely
 * mistake; they never include a secret, a signature or the body.
 */
export class WebhookError extends WacloudError {
  readonly reason: WebhookRejection;
  readonly status: number;

  constructor(reason: WebhookRejection, message: string, options: { cause?: unknown } = {}) {
    super(
      reason === 'missing_signature' || reason === 'bad_signature' ? 'SIGNATURE' : 'VALIDATION',
      message,
      options,
    );
    this.name = 'WebhookError';
    this.reason = reason;
    this.status = WEBHOOK_REJECTION_STATUS[reason];
  }
}
