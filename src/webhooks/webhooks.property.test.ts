// Property-based tests: random bodies, headers and secrets thrown at the verifier, the parser and the handler core.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonBody } from './parse-json-body.js';
import { parseWebhook } from './parse-webhook.js';
import { signPayload, verifySignature } from './verify-signature.js';
import { createWebhookHandler } from './webhook-handler.js';

const secretArb = fc.string({ minLength: 1, maxLength: 64 });
const bytesArb = fc.uint8Array({ maxLength: 2048 });
const headerArb = fc.oneof(
  fc.string(),
  fc.string().map((s) => `sha256=${s}`),
  fc.stringMatching(/^sha256=[0-9a-f]{64}$/),
  fc.stringMatching(/^[a-zA-Z0-9]{0,8}=[0-9a-fA-F]{60,68}$/),
  fc.constant(undefined),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
);

describe('verifySignature properties', () => {
  it('never throws on any body, header or secrets, and answers a well-formed result', () => {
    fc.assert(
      fc.property(
        bytesArb,
        headerArb,
        fc.array(fc.string({ maxLength: 40 }), { maxLength: 3 }),
        (body, header, secrets) => {
          const r = verifySignature(body, header as string, secrets);
          expect(typeof r.valid).toBe('boolean');
          if (r.valid) expect(r.secretIndex).toBeGreaterThanOrEqual(0);
          else expect(['missing', 'malformed', 'mismatch', 'no_secret']).toContain(r.reason);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a signature made with any secret over any bytes verifies, with that secret at its index', () => {
    fc.assert(
      fc.property(bytesArb, secretArb, fc.array(secretArb, { maxLength: 3 }), (body, secret, others) => {
        const secrets = [...others.filter((o) => o !== secret), secret];
        const r = verifySignature(body, signPayload(body, secret), secrets);
        expect(r).toEqual({ valid: true, secretIndex: secrets.length - 1, method: 'raw' });
      }),
      { numRuns: 300 },
    );
  });

  it('changing any one byte of an ASCII body, or signing with another secret, fails', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 512 }).map((s) => Buffer.from(s.replace(/[^\x20-\x7e]/g, 'a'))),
        fc.nat(),
        fc.integer({ min: 1, max: 0x7e }),
        secretArb,
        (body, pos, delta, secret) => {
          const header = signPayload(body, secret);
          const tampered = Buffer.from(body);
          const i = pos % tampered.length;
          tampered[i] = ((tampered[i]! + delta) % 0x5f) + 0x20;
          fc.pre(!tampered.equals(body));
          expect(verifySignature(tampered, header, secret).valid).toBe(false);
          expect(verifySignature(body, header, `${secret}x`).valid).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a decoded (UTF-8) body verifies against the signature of its escaped form, for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), secretArb, (text, secret) => {
        const escaped = text.replace(
          /[^\0-~]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
        );
        const r = verifySignature(Buffer.from(text, 'utf8'), signPayload(escaped, secret), secret);
        expect(r.valid).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseWebhook properties', () => {
  it('never throws on any JSON value and always returns an array of typed events', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const events = parseWebhook(value);
        expect(Array.isArray(events)).toBe(true);
        for (const e of events) expect(typeof e.type).toBe('string');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on webhook-shaped payloads filled with anything', () => {
    const anything = fc.anything({ maxDepth: 3 });
    const change = fc.record({
      field: fc.oneof(
        fc.constantFrom(
          'messages',
          'calls',
          'flows',
          'user_preferences',
          'smb_message_echoes',
          'history',
          'valueOf',
          '__proto__',
        ),
        fc.string(),
      ),
      value: fc.oneof(
        anything,
        fc.record({
          metadata: anything,
          contacts: fc.array(anything, { maxLength: 3 }),
          messages: fc.array(
            fc.dictionary(
              fc.constantFrom('id', 'from', 'type', 'text', 'timestamp', 'context', 'interactive', 'edit'),
              anything,
            ),
            { maxLength: 3 },
          ),
          statuses: fc.array(anything, { maxLength: 3 }),
          calls: fc.array(anything, { maxLength: 3 }),
          errors: fc.array(anything, { maxLength: 2 }),
        }),
      ),
    });
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: anything, changes: fc.array(change, { maxLength: 3 }) }), { maxLength: 3 }),
        (entry) => {
          expect(() => parseWebhook({ object: 'whatsapp_business_account', entry })).not.toThrow();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('emits exactly one event per message and per status across any batch, in order', () => {
    const idArb = fc.oneof(fc.stringMatching(/^wamid\.[A-Za-z0-9]{1,12}$/), fc.integer({ min: 1 }));
    const value = fc.record({
      messages: fc.array(idArb, { maxLength: 5 }),
      statuses: fc.array(idArb, { maxLength: 5 }),
    });
    fc.assert(
      fc.property(fc.array(fc.array(value, { minLength: 1, maxLength: 3 }), { maxLength: 4 }), (entries) => {
        const payload = {
          object: 'whatsapp_business_account',
          entry: entries.map((changes, e) => ({
            id: `W${e}`,
            changes: changes.map((v) => ({
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { phone_number_id: 'P', display_phone_number: '1' },
                messages: v.messages.map((id) => ({
                  id,
                  from: '1',
                  timestamp: 1,
                  type: 'text',
                  text: { body: 'x' },
                })),
                statuses: v.statuses.map((id) => ({ id, status: 'read', timestamp: '1', recipient_id: '1' })),
              },
            })),
          })),
        };
        const events = parseWebhook(payload).filter((ev) => ev.type !== 'unknown');
        const expected = entries.flatMap((changes) =>
          changes.flatMap((v) => [...v.messages.map((id) => `m${id}`), ...v.statuses.map((id) => `s${id}`)]),
        );
        expect(
          events.map((ev) =>
            ev.type === 'message' ? `m${ev.message.id}` : ev.type === 'status' ? `s${ev.id}` : ev.type,
          ),
        ).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('parseJsonBody properties', () => {
  it('agrees with JSON.parse on any JSON text without long digit runs', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        fc.pre(!/\d{16}/.test(text));
        expect(parseJsonBody(text)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps any integer id exactly, as a string when a number cannot hold it', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
        fc.string({ maxLength: 20 }),
        (n, s) => {
          const parsed = parseJsonBody(`{"s":${JSON.stringify(s)},"id":${n}}`) as { id: unknown; s: string };
          expect(parsed.s).toBe(s);
          if (Number.isSafeInteger(Number(n))) expect(parsed.id).toBe(Number(n));
          else expect(parsed.id).toBe(n.toString());
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('handler core properties', () => {
  const SECRET = 'property-secret-8c1d2e3f4a5b6c7d';
  const handler = createWebhookHandler({
    appSecret: SECRET,
    verifyToken: 'property-verify-token',
    dedupe: false,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    maxBodyBytes: 4096,
  });

  it('answers one of the documented statuses for any method, headers and body, never echoing the secret', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'post', 'BREW'),
        fc.string({ maxLength: 80 }),
        fc.dictionary(
          fc.constantFrom(
            'content-type',
            'x-hub-signature-256',
            'Content-Type',
            'X-Hub-Signature-256',
            'x-other',
          ),
          fc.oneof(fc.string({ maxLength: 80 }), fc.constant('application/json')),
        ),
        fc.oneof(fc.uint8Array({ maxLength: 5000 }), fc.json(), fc.constant(undefined)),
        async (method, query, headers, body) => {
          const res = await handler.handle({ method, url: `/webhook?${query}`, headers, body });
          expect([200, 400, 401, 403, 404, 405, 413, 415]).toContain(res.status);
          expect(res.body).not.toContain(SECRET);
          const report = await res.done;
          expect(report.failures).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('accepts any correctly signed JSON body', async () => {
    await fc.assert(
      fc.asyncProperty(fc.json({ maxDepth: 3 }), async (text) => {
        fc.pre(Buffer.byteLength(text) <= 4096);
        const res = await handler.handle({
          method: 'POST',
          url: '/webhook',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(text, SECRET) },
          body: text,
        });
        expect(res.status).toBe(200);
      }),
      { numRuns: 200 },
    );
  });
});
