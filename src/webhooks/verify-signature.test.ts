import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedUrl } from '../../test/support/shared.js';
import { Secret } from '../core/secret.js';
import { escapeUnicode, signPayload, verifySignature } from './verify-signature.js';

interface Vector {
  id: string;
  expected_valid: boolean;
  app_secret: string;
  raw_body_base64: string;
  x_hub_signature_256: string;
  fallback_app_secrets?: string[];
  hmac_input_after_escape?: string;
  x_hub_signature_256_if_hmac_over_raw_utf8?: string;
}

const { vectors } = JSON.parse(readFileSync(sharedUrl('fixtures/signatures.json'), 'utf8')) as {
  vectors: Vector[];
};

describe('verifySignature: shared/fixtures/signatures.json', () => {
  it('has the vectors we expect to exercise', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(16);
    expect(vectors.some((v) => v.expected_valid)).toBe(true);
    expect(vectors.some((v) => !v.expected_valid)).toBe(true);
  });

  for (const v of vectors) {
    it(`${v.id} → ${v.expected_valid ? 'valid' : 'invalid'}`, () => {
      const body = Buffer.from(v.raw_body_base64, 'base64');
      const secrets = [v.app_secret, ...(v.fallback_app_secrets ?? [])];
      const result = verifySignature(body, v.x_hub_signature_256, secrets);
      expect(result.valid).toBe(v.expected_valid);
      // Same answer when secrets are Secret values and when the body is given as a Uint8Array view.
      const again = verifySignature(
        new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
        v.x_hub_signature_256,
        secrets.map((s) => new Secret(s)),
      );
      expect(again.valid).toBe(v.expected_valid);
    });
  }

  it('rotated-secret vector is valid only with the fallback secret, and reports which secret matched', () => {
    const v = vectors.find((x) => x.id === 'rotated-secret-fallback-valid')!;
    const body = Buffer.from(v.raw_body_base64, 'base64');
    expect(verifySignature(body, v.x_hub_signature_256, v.app_secret).valid).toBe(false);
    expect(verifySignature(body, v.x_hub_signature_256, [v.app_secret, ...v.fallback_app_secrets!])).toEqual({
      valid: true,
      secretIndex: 1,
      method: 'raw',
    });
  });

  it('decoded UTF-8 bodies verify only through the escaped-unicode rule, and only when it is enabled', () => {
    for (const id of ['decoded-utf8-body-valid-by-escape-rule', 'secreto-unicode-escaped']) {
      const v = vectors.find((x) => x.id === id)!;
      const body = Buffer.from(v.raw_body_base64, 'base64');
      expect(verifySignature(body, v.x_hub_signature_256, v.app_secret)).toEqual({
        valid: true,
        secretIndex: 0,
        method: 'escaped-unicode',
      });
      expect(
        verifySignature(body, v.x_hub_signature_256, v.app_secret, { escapedUnicodeFallback: false }),
      ).toEqual({ valid: false, reason: 'mismatch' });
    }
    const secreto = vectors.find((x) => x.id === 'secreto-unicode-escaped')!;
    const raw = Buffer.from(secreto.raw_body_base64, 'base64').toString('utf8');
    expect(escapeUnicode(raw)).toBe(secreto.hmac_input_after_escape);
    // The raw-UTF-8 HMAC the fixture documents is what a raw-bytes check would need.
    expect(signPayload(raw, secreto.app_secret)).toBe(secreto.x_hub_signature_256_if_hmac_over_raw_utf8);
  });

  it('wire-escaped bodies verify on the raw bytes', () => {
    const v = vectors.find((x) => x.id === 'wire-escaped-valid')!;
    expect(
      verifySignature(Buffer.from(v.raw_body_base64, 'base64'), v.x_hub_signature_256, v.app_secret),
    ).toEqual({ valid: true, secretIndex: 0, method: 'raw' });
  });
});

describe('verifySignature: header shapes', () => {
  const secret = 'app-secret';
  const body = '{"object":"whatsapp_business_account","entry":[]}';
  const good = signPayload(body, secret);

  it('reports missing, malformed and mismatched signatures without throwing', () => {
    expect(verifySignature(body, undefined, secret)).toEqual({ valid: false, reason: 'missing' });
    expect(verifySignature(body, null, secret)).toEqual({ valid: false, reason: 'missing' });
    expect(verifySignature(body, '   ', secret)).toEqual({ valid: false, reason: 'missing' });
    expect(verifySignature(body, good.slice(0, -1), secret)).toEqual({ valid: false, reason: 'malformed' });
    expect(verifySignature(body, `${good}0`, secret)).toEqual({ valid: false, reason: 'malformed' });
    expect(verifySignature(body, good.replace('sha256=', 'sha1='), secret)).toEqual({
      valid: false,
      reason: 'malformed',
    });
    expect(verifySignature(body, [good, good], secret)).toEqual({ valid: false, reason: 'malformed' });
    expect(verifySignature(`${body} `, good, secret)).toEqual({ valid: false, reason: 'mismatch' });
  });

  it('accepts the header as a one-element array (node collects some headers that way)', () => {
    expect(verifySignature(body, [good], secret).valid).toBe(true);
  });

  it('treats hex case and surrounding whitespace as the same digest', () => {
    expect(verifySignature(body, ` ${good.toUpperCase().replace('SHA256=', 'sha256=')} `, secret).valid).toBe(
      true,
    );
  });

  it('never verifies with an empty secret list or an empty secret', () => {
    expect(verifySignature(body, good, [])).toEqual({ valid: false, reason: 'no_secret' });
    expect(verifySignature(body, signPayload(body, ''), '')).toEqual({ valid: false, reason: 'no_secret' });
    expect(verifySignature(body, signPayload(body, ''), ['', secret]).valid).toBe(false);
  });

  it('does not try the escape rule on bodies that are not UTF-8', () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    expect(verifySignature(bytes, signPayload(bytes, secret), secret).valid).toBe(true);
    expect(verifySignature(bytes, signPayload('{\\u00ff}', secret), secret).valid).toBe(false);
  });
});

describe('escapeUnicode', () => {
  it('escapes every UTF-16 code unit above 0x7E as lowercase \\uXXXX and leaves ASCII alone', () => {
    expect(escapeUnicode('plain ascii ~')).toBe('plain ascii ~');
    expect(escapeUnicode('é')).toBe('\\u00e9');
    expect(escapeUnicode('\u007f')).toBe('\\u007f');
    expect(escapeUnicode('👋')).toBe('\\ud83d\\udc4b');
    expect(escapeUnicode('a—b')).toBe('a\\u2014b');
  });
});
