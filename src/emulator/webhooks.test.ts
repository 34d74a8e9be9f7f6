import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedUrl } from '../../test/support/shared.js';
import { payloadOf, serializeLikeMeta, signatureFor } from './webhooks.js';

interface SignatureVector {
  id: string;
  app_secret: string;
  raw_body_base64: string;
  x_hub_signature_256: string;
}

const vectors = (
  JSON.parse(readFileSync(sharedUrl('fixtures/signatures.json'), 'utf8')) as {
    vectors: SignatureVector[];
  }
).vectors;

describe('webhook serialisation and signatures', () => {
  it('re-serialising the decoded payload reproduces the exact wire bytes and signature of the derived vector', () => {
    const wire = vectors.find((v) => v.id === 'wire-escaped-valid') as SignatureVector;
    const decoded = vectors.find((v) => v.id === 'decoded-utf8-body-valid-by-escape-rule') as SignatureVector;
    const wireText = Buffer.from(wire.raw_body_base64, 'base64').toString('utf8');
    const value = JSON.parse(Buffer.from(decoded.raw_body_base64, 'base64').toString('utf8'));
    const ours = serializeLikeMeta(value, wireText.includes('\\/'));
    expect(ours).toBe(wireText);
    expect(signatureFor(ours, wire.app_secret)).toBe(wire.x_hub_signature_256);
  });

  it('escapes every non-ASCII character as lowercase \\uXXXX (surrogate pairs for emoji) and / as \\/', () => {
    const out = serializeLikeMeta({ t: 'Grüße 👋 — ok', u: 'https://x/y' });
    expect(out).toBe('{"t":"Gr\\u00fc\\u00dfe \\ud83d\\udc4b \\u2014 ok","u":"https:\\/\\/x\\/y"}');
    expect(/^[\x20-\x7e]*$/.test(out)).toBe(true);
    expect(JSON.parse(out)).toEqual({ t: 'Grüße 👋 — ok', u: 'https://x/y' });
    expect(serializeLikeMeta({ u: 'a/b' }, false)).toBe('{"u":"a/b"}');
  });

  it('groups events into one entry per WABA with one change per event', () => {
    const p = payloadOf([
      { wabaId: '1', field: 'messages', value: { a: 1 } },
      { wabaId: '2', field: 'messages', value: { b: 2 } },
      { wabaId: '1', field: 'account_update', value: { c: 3 } },
    ]);
    expect(p).toEqual({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '1',
          changes: [
            { value: { a: 1 }, field: 'messages' },
            { value: { c: 3 }, field: 'account_update' },
          ],
        },
        { id: '2', changes: [{ value: { b: 2 }, field: 'messages' }] },
      ],
    });
  });
});
