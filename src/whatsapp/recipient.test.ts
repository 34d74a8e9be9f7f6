import { describe, expect, it } from 'vitest';
import { isBsuid, isParentBsuid } from '../core/bsuid.js';
import { ValidationError } from '../core/errors.js';
import type { MessagesRequest } from './message-types.js';
import { validateMessage } from './validate-message.js';

const text = (extra: Record<string, unknown>) =>
  ({
    messaging_product: 'whatsapp',
    type: 'text',
    text: { body: 'hi' },
    ...extra,
  }) as unknown as MessagesRequest;

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).field;
  }
  return undefined;
}

describe('business-scoped user ids as recipients', () => {
  it('recognises BSUIDs and parent BSUIDs by their documented format', () => {
    for (const ok of [
      'US.13491208655302741918',
      'BR.1502576394655843',
      'US.ENT.11815799212886844830',
      'IN.a1B2',
    ])
      expect(isBsuid(ok), ok).toBe(true);
    for (const bad of [
      '13491208655302741918',
      'us.123',
      'USA.123',
      'US.',
      'US.12-34',
      `US.${'1'.repeat(129)}`,
      'US.ENT.',
    ])
      expect(isBsuid(bad), bad).toBe(false);
    expect(isParentBsuid('US.ENT.11815799212886844830')).toBe(true);
    expect(isParentBsuid('US.13491208655302741918')).toBe(false);
  });

  it('accepts `recipient` instead of `to`, both together, and refuses neither or a malformed one', () => {
    expect(() => validateMessage(text({ recipient: 'US.13491208655302741918' }))).not.toThrow();
    expect(() =>
      validateMessage(text({ to: '+16505551234', recipient: 'US.13491208655302741918' })),
    ).not.toThrow();
    expect(fieldOf(() => validateMessage(text({})))).toBe('to');
    expect(fieldOf(() => validateMessage(text({ recipient: '+16505551234' })))).toBe('recipient');
    expect(fieldOf(() => validateMessage(text({ recipient: 42 })))).toBe('recipient');
    // `to` is still checked when a recipient is given too.
    expect(fieldOf(() => validateMessage(text({ to: 'sheena', recipient: 'US.1' })))).toBe('to');
    // A group send names the group in `to`.
    expect(fieldOf(() => validateMessage(text({ recipient_type: 'group', recipient: 'US.1' })))).toBe('to');
  });
});
