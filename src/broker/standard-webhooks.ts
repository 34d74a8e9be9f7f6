import { createHmac, randomBytes } from 'node:crypto';
import { Secret } from '../core/secret.js';

/**
 * Outbound deliveries are signed the Standard Webhooks way (https://www.standardwebhooks.com): headers `webhook-id`,
 * `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, where
 * the key is the base64 after `whsec_`. Written on node:crypto (the reference library hashes in pure JS); a test
 * checks our signatures with the reference library.
 */
export function generateWebhookSecret(): Secret {
  return new Secret(`whsec_${randomBytes(24).toString('base64')}`, 'webhook-secret');
}

export function signStandardWebhook(
  secret: Secret,
  id: string,
  timestampSec: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const raw = secret.reveal();
  const key = Buffer.from(raw.startsWith('whsec_') ? raw.slice(6) : raw, 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': `v1,${signature}`,
  };
}
