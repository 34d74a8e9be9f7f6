import { describe, expect, it } from 'vitest';
import { EmulatorGraphError, expiredMessage, metaDate } from './graph-errors.js';
import { inferMessageType, paramPath, validateSendBody } from './validate.js';

function errorOf(body: unknown): { code: number; message: string; details?: string } {
  try {
    validateSendBody(body);
  } catch (err) {
    if (err instanceof EmulatorGraphError)
      return err.spec as { code: number; message: string; details?: string };
    throw err;
  }
  throw new Error('expected a validation error');
}

describe('send body validation', () => {
  it('accepts a minimal text message and infers a missing type', () => {
    expect(
      validateSendBody({ messaging_product: 'whatsapp', to: '1', type: 'text', text: { body: 'hi' } }),
    ).toEqual({
      kind: 'message',
      type: 'text',
    });
    expect(inferMessageType({ to: '1', interactive: {} })).toBe('interactive');
    expect(inferMessageType({ to: '1' })).toBe('text');
    expect(
      validateSendBody({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.X' }),
    ).toEqual({ kind: 'read' });
  });

  it('names the field in Meta style', () => {
    expect(paramPath('/interactive/action/buttons/0/reply', 'title')).toBe(
      "interactive['action']['buttons'][0]['reply']['title']",
    );
    expect(errorOf({ messaging_product: 'whatsapp', to: '1', type: 'text', text: {} }).message).toBe(
      "(#100) The parameter text['body'] is required.",
    );
    expect(errorOf({ to: '1', type: 'text', text: { body: 'x' } }).message).toBe(
      '(#100) The parameter messaging_product is required.',
    );
    const unexpected = errorOf({
      messaging_product: 'whatsapp',
      to: '1',
      type: 'text',
      text: { body: 'x', bodyx: 1 },
    });
    expect(unexpected.details).toBe('Unexpected key "bodyx" on param "text".');
    expect(errorOf({ messaging_product: 'whatsapp', to: '1', type: 'fax' }).message).toMatch(
      /Param type must be one of \{.*TEXT.*\} - got "fax"/,
    );
    expect(
      errorOf({ messaging_product: 'whatsapp', to: '1', type: 'text', text: { body: 'x'.repeat(4097) } })
        .message,
    ).toBe("(#100) Param text['body'] must be at most 4096 characters long.");
    expect(errorOf([1, 2]).code).toBe(100);
  });
});

describe('Meta date wording', () => {
  it('formats like the 463 message Meta sends', () => {
    expect(metaDate(Date.UTC(2024, 3, 26, 13, 0, 0))).toBe('Friday, 26-Apr-24 06:00:00 PDT');
    expect(metaDate(Date.UTC(2024, 0, 5, 8, 3, 9))).toBe('Friday, 05-Jan-24 00:03:09 PST');
    expect(expiredMessage(Date.UTC(2024, 3, 26, 13, 0, 0), Date.UTC(2024, 3, 28, 10, 40, 10))).toBe(
      'Error validating access token: Session has expired on Friday, 26-Apr-24 06:00:00 PDT. The current time is Sunday, 28-Apr-24 03:40:10 PDT.',
    );
  });
});
