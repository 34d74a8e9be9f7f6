import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signStandardWebhook } from './standard-webhooks.js';

describe('Standard Webhooks signing', () => {
  it('produces signatures the reference library verifies', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'message.received', data: { text: 'olá 👋' } });
    const ts = Math.floor(Date.now() / 1000);
    const headers = signStandardWebhook(secret, 'msg_1', ts, body);
    const verified = new Webhook(secret.reveal()).verify(body, headers);
    expect(verified).toEqual(JSON.parse(body));
  });

  it('fails verification for another body or secret', () => {
    const secret = generateWebhookSecret();
    const ts = Math.floor(Date.now() / 1000);
    const headers = signStandardWebhook(secret, 'msg_2', ts, '{"a":1}');
    expect(() => new Webhook(secret.reveal()).verify('{"a":2}', headers)).toThrow();
    expect(() => new Webhook(generateWebhookSecret().reveal()).verify('{"a":1}', headers)).toThrow();
  });
});
