import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BodySchema } from '../../src/broker/openapi.js';
import {
  type InProcessBroker,
  sandboxSecrets,
  setUpTenant,
  startInProcessBroker,
  type TenantWorld,
  Transcript,
} from '../support/broker.js';
import { rawRequest as raw } from '../support/raw-http.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

/**
 * Bad input on every route: oversize bodies, malformed JSON, wrong types, unknown fields, bad ids, wrong content types
 * and traversal-looking ids. Each gets a clear 4xx, changes nothing in the store, and the server stays up. The API
 * operations come from the OpenAPI document, so a new operation is covered without being listed here.
 */

type Op = { requestBody?: { content: { 'application/json': { schema: BodySchema } } } };
type Doc = { paths: Record<string, Record<string, Op>> };

const BAD_IDS = [
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e',
  '..%5c..%5cwindows',
  'x'.repeat(3000),
  '%00',
  '%F0%9F%92%A5',
  "1'%20OR%20'1'%3D'1",
  '-1',
  '99999999999999999999999',
  '%7B%7D',
];

describe('malformed and oversize requests on every route', () => {
  let h: InProcessBroker;
  let subscriber: Server;
  let A: TenantWorld;
  let doc: Doc;
  const transcript = new Transcript();

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    h = await startInProcessBroker();
    A = await setUpTenant(
      h,
      'Alpha',
      `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}`,
      false,
    );
    doc = (await (await fetch(`${h.base}/api/v1/openapi.json`)).json()) as Doc;
    let before = '';
    for (let i = 0; i < 50; i++) {
      const now = await snapshot();
      if (now === before) break;
      before = now;
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await new Promise((r) => subscriber?.close(r));
  });

  /** The whole store, as far as requests can change it, and what the emulator was asked to do. */
  async function snapshot(): Promise<string> {
    const s = h.broker.context.store;
    const tenants = await s.tenants.list();
    const per = async (t: { id: string }) => ({
      numbers: await s.phoneNumbers.listByTenant(t.id),
      subscriptions: (await s.subscriptions.listByTenant(t.id)).map((x) => [x.id, x.url, x.events]),
      deliveries: (await s.deliveries.listByTenant(t.id, 1000)).map((d) => [d.id, d.status, d.attempts]),
    });
    return JSON.stringify({
      tenants,
      perTenant: await Promise.all(tenants.map(per)),
      keys: (await s.apiKeys.list()).map((k) => [k.keyId, k.revokedAtMs]),
      credentials: (await s.credentials.list()).map((c) => [c.id, c.version, c.status]),
      inbox: (await s.inbox.recent(1000)).map((r) => [r.id, r.status, r.attempts]),
      // Refusals are audited on purpose (failed logins and connects); anything else in the log is a change.
      audit: (await s.audit.list({ limit: 1000 }))
        .filter((e) => !/^dashboard\.login|[._]failed$|\.denied$/.test(e.event))
        .map((e) => [e.id, e.event]),
      sent: h.sandbox.emulator.sentMessages().length,
    });
  }

  /** A's ids for path parameters (the admin key is used: only the body or the id can be wrong). */
  function fill(path: string, bad?: string): string {
    const ids: Record<string, string> = {
      tenantId: A.tenantId,
      credentialId: A.credentialId,
      subscriptionId: A.subscriptionId,
      deliveryId: A.deliveryId,
      inboxId: A.inboxId,
      keyId: A.keyId,
    };
    return `/api/v1${path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      if (bad !== undefined) return bad;
      const id = ids[name];
      if (!id) throw new Error(`no id for {${name}}: add one to the malformed-request test`);
      return encodeURIComponent(id);
    })}`;
  }

  function validBody(schema: BodySchema): Record<string, unknown> {
    const body: Record<string, unknown> = {};
    for (const f of schema.required) body[f] = 'x';
    return body;
  }

  /** Wrong-typed values for a property, whatever its declared type. */
  function wrongValues(rule: Record<string, unknown>): unknown[] {
    const types = Array.isArray(rule.type) ? rule.type : [rule.type];
    const out: unknown[] = [];
    if (!types.includes('string')) out.push('text');
    out.push(42, { nested: 1 });
    if (!types.includes('boolean')) out.push(true);
    else out.push('true', 0);
    if (!types.includes('array')) out.push(['a']);
    else out.push([1, 2], [{}]);
    if (!types.includes('null')) out.push(null);
    if (typeof rule.maxLength === 'number') out.push('y'.repeat(rule.maxLength + 1));
    return out;
  }

  async function expectRefused(
    what: string,
    res: { status: number; headers: Headers; text: string },
    before: string,
    statuses: number[],
  ) {
    transcript.add(what, res, res.text);
    expect(statuses, `${what}: ${res.status} ${res.text.slice(0, 200)}`).toContain(res.status);
    expect(res.headers.get('content-type') ?? '', what).toContain('application/json');
    const body = JSON.parse(res.text) as { error?: { code?: string; message?: string } };
    expect(typeof body.error?.message, what).toBe('string');
    const after = await snapshot();
    if (after !== before) console.log(`${what}\nbefore ${before}\nafter  ${after}`);
    expect(after, `${what} changed the store`).toBe(before);
  }

  it('every API operation: oversize, malformed JSON, wrong types, unknown fields, content types, stray bodies', async () => {
    const before = await snapshot();
    const auth = { authorization: `Bearer ${h.adminKey}` };
    let cases = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(methods)) {
        const method = m.toUpperCase();
        const url = fill(path);
        const name = `${method} ${path}`;
        const json = { ...auth, 'content-type': 'application/json' };
        // Over the 1 MiB limit: refused before anything reads it.
        const big = `{"name":"${'x'.repeat(1024 * 1024)}"}`;
        const over = await raw(h.base, method, url, json, big);
        if (method === 'GET') {
          // A GET's body means nothing: the adapter drains and ignores it (fetch clients cannot even send one).
          transcript.add(`${name} oversize`, over, over.text);
          expect(over.status, `${name} oversize`).toBeLessThan(500);
          expect(await snapshot()).toBe(before);
          continue;
        }
        await expectRefused(`${name} oversize`, over, before, [413]);
        cases++;
        const schema = op.requestBody?.content['application/json'].schema;
        if (!schema) {
          await expectRefused(
            `${name} stray body`,
            await raw(h.base, method, url, json, '{"unexpected":'),
            before,
            [400],
          );
          cases++;
          continue;
        }
        const send = (body: string, headers: Record<string, string> = json) =>
          raw(h.base, method, url, headers, body);
        const valid = validBody(schema);
        const malformed: Array<[string, string, Record<string, string>, number[]]> = [
          ['invalid JSON', '{"name": "x",', json, [400]],
          ['empty body', '', json, [400]],
          ['a JSON array', '[]', json, [400]],
          ['a JSON string', '"x"', json, [400]],
          ['JSON null', 'null', json, [400]],
          ['text/plain', JSON.stringify(valid), { ...auth, 'content-type': 'text/plain' }, [415]],
          ['a form', 'name=x', { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, [415]],
          ['no content type', JSON.stringify(valid), auth, [415]],
          ['missing required fields', '{}', json, schema.required.length > 0 ? [422] : []],
        ];
        if (!schema.additionalProperties)
          malformed.push(['an unknown field', JSON.stringify({ ...valid, admin: true }), json, [422]]);
        for (const [field, rule] of Object.entries(schema.properties)) {
          for (const v of wrongValues(rule))
            malformed.push([
              `${field}=${JSON.stringify(v).slice(0, 20)}`,
              JSON.stringify({ ...valid, [field]: v }),
              json,
              [422],
            ]);
        }
        for (const [label, body, headers, statuses] of malformed) {
          if (statuses.length === 0) continue;
          await expectRefused(`${name} ${label}`, await send(body, headers), before, statuses);
          cases++;
        }
      }
    }
    expect(cases).toBeGreaterThan(100);
    expect((await fetch(`${h.base}/healthz`)).status).toBe(200);
  });

  it('every API operation with a path id: bad and traversal-looking ids answer 404 (or 400) and change nothing', async () => {
    const before = await snapshot();
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!path.includes('{')) continue;
      for (const [m, op] of Object.entries(methods)) {
        const method = m.toUpperCase();
        const schema = op.requestBody?.content['application/json'].schema;
        for (const bad of BAD_IDS) {
          const res = await raw(
            h.base,
            method,
            fill(path, bad),
            { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' },
            schema ? JSON.stringify(validBody(schema)) : undefined,
          );
          await expectRefused(`${method} ${path} id=${bad.slice(0, 30)}`, res, before, [400, 404, 422]);
        }
      }
    }
    expect((await fetch(`${h.base}/healthz`)).status).toBe(200);
  });

  it('the Graph proxy: oversize, bad versions, bad keys, no key', async () => {
    const before = await snapshot();
    const upstream = JSON.stringify(h.sandbox.emulator.counters());
    const key = { authorization: `Bearer ${A.key}`, 'content-type': 'application/json' };
    const cases: Array<
      [string, string, string, Record<string, string | number>, string | undefined, number[]]
    > = [
      // Declares 200 MiB (over the 100 MiB cap): refused before the body is read or anything forwarded.
      [
        'oversize',
        'POST',
        `/graph/v26.0/${A.phoneNumberId}/media`,
        { ...key, 'content-length': 200 * 1024 * 1024 },
        'x',
        [413],
      ],
      ['bad version', 'GET', `/graph/26.0/${A.phoneNumberId}`, key, undefined, [400]],
      ['no object', 'GET', '/graph/v26.0/', key, undefined, [400]],
      ['traversal version', 'GET', `/graph/..%2fv26.0/${A.phoneNumberId}`, key, undefined, [400]],
      ['no key', 'GET', `/graph/v26.0/${A.phoneNumberId}`, {}, undefined, [401]],
      [
        'malformed key',
        'GET',
        `/graph/v26.0/${A.phoneNumberId}`,
        { authorization: 'Bearer wck_x' },
        undefined,
        [401],
      ],
      [
        'basic auth',
        'GET',
        `/graph/v26.0/${A.phoneNumberId}`,
        { authorization: 'Basic eDp5' },
        undefined,
        [401],
      ],
      [
        'revoked-looking key',
        'GET',
        `/graph/v26.0/${A.phoneNumberId}`,
        { authorization: `Bearer ${A.key.slice(0, -2)}zz` },
        undefined,
        [401],
      ],
    ];
    for (const [label, method, path, headers, body, statuses] of cases) {
      await expectRefused(`proxy ${label}`, await raw(h.base, method, path, headers, body), before, statuses);
    }
    expect(JSON.stringify(h.sandbox.emulator.counters()), 'a refused request reached Graph').toBe(upstream);
  });

  it('the webhook endpoint: oversize, bad or missing signatures, wrong verify token; nothing stored', async () => {
    const before = await snapshot();
    const secret = h.sandbox.appSecret;
    const body = whatsappDelivery({
      wabaId: A.wabaId,
      phoneNumberId: A.phoneNumberId,
      contactName: 'Bad',
      messages: [textMessage('wamid.BAD1', 'bad', '1767225600')],
    });
    const sign = (b: string | Buffer) => `sha256=${createHmac('sha256', secret).update(b).digest('hex')}`;
    const big = Buffer.alloc(3 * 1024 * 1024 + 10, 'x');
    const cases: Array<
      [string, string, string, Record<string, string | number>, string | Buffer | undefined]
    > = [
      [
        'oversize, signed',
        'POST',
        '/webhook',
        { 'content-type': 'application/json', 'x-hub-signature-256': sign(big) },
        big,
      ],
      ['no signature', 'POST', '/webhook', { 'content-type': 'application/json' }, body],
      [
        'wrong signature',
        'POST',
        '/webhook',
        { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
        body,
      ],
      [
        'short signature',
        'POST',
        '/webhook',
        { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=abc' },
        body,
      ],
      [
        'signature of other bytes',
        'POST',
        '/webhook',
        { 'content-type': 'application/json', 'x-hub-signature-256': sign(`${body} `) },
        body,
      ],
      [
        'handshake, wrong token',
        'GET',
        '/webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=123',
        {},
        undefined,
      ],
      ['handshake, no token', 'GET', '/webhook?hub.mode=subscribe&hub.challenge=123', {}, undefined],
    ];
    for (const [label, method, path, headers, b] of cases) {
      const res = await raw(h.base, method, path, headers, b);
      transcript.add(`webhook ${label}`, res, res.text);
      expect(res.status, `${label}: ${res.status} ${res.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(res.status, label).toBeLessThan(500);
      expect(res.text, label).not.toContain('123');
      expect(await snapshot(), `${label} changed the store`).toBe(before);
    }
    // Control: the same body, correctly signed, is accepted.
    const ok = await raw(
      h.base,
      'POST',
      '/webhook',
      { 'content-type': 'application/json', 'x-hub-signature-256': sign(body) },
      body,
    );
    expect(ok.status).toBe(200);
  });

  it('the dashboard: oversize, malformed forms, missing CSRF and bad ids answer 4xx and change nothing', async () => {
    const login = await fetch(`${h.base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: h.adminKey }).toString(),
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get('set-cookie') as string).split(';')[0] as string;
    const page = await (await fetch(`${h.base}/`, { headers: { cookie } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] as string;
    expect(csrf).toBeTruthy();
    const before = await snapshot();
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie };
    const t = encodeURIComponent(A.tenantId);
    const cases: Array<
      [string, string, string, Record<string, string>, string | Buffer | undefined, number[]]
    > = [
      ['oversize', 'POST', '/tenants', form, `csrf=${csrf}&name=${'x'.repeat(70 * 1024)}`, [413]],
      [
        'broken multipart',
        'POST',
        '/tenants',
        { ...form, 'content-type': 'multipart/form-data; boundary=zz' },
        '--zz\r\nbroken',
        [400],
      ],
      [
        'multipart without boundary',
        'POST',
        `/tenants/${t}/credentials`,
        { ...form, 'content-type': 'multipart/form-data' },
        'x',
        [400],
      ],
      ['no CSRF token', 'POST', '/tenants', form, 'name=Nope', [403]],
      [
        'wrong CSRF token',
        'POST',
        `/tenants/${t}/send-test`,
        form,
        `csrf=${csrf.slice(1)}x&from=${A.phoneNumberId}&to=1`,
        [403],
      ],
      ['CSRF in the query only', 'POST', `/tenants?csrf=${csrf}`, form, 'name=Nope', [403]],
      [
        'JSON instead of a form',
        'POST',
        '/tenants',
        { ...form, 'content-type': 'application/json' },
        JSON.stringify({ csrf, name: 'Nope' }),
        [403],
      ],
    ];
    for (const bad of BAD_IDS) {
      cases.push([
        `tenant page id=${bad.slice(0, 20)}`,
        'GET',
        `/tenants/${bad}`,
        { cookie },
        undefined,
        [400, 404],
      ]);
      cases.push([
        `paste into id=${bad.slice(0, 20)}`,
        'POST',
        `/tenants/${bad}/credentials`,
        form,
        `csrf=${csrf}&token=EAAnothing`,
        [400, 404],
      ]);
      cases.push([
        `send-test id=${bad.slice(0, 20)}`,
        'POST',
        `/tenants/${bad}/send-test`,
        form,
        `csrf=${csrf}&from=${A.phoneNumberId}&to=1`,
        [400, 404],
      ]);
      cases.push([
        `replay id=${bad.slice(0, 20)}`,
        'POST',
        `/webhooks/${bad}/replay`,
        form,
        `csrf=${csrf}`,
        [400, 404],
      ]);
      cases.push([
        `connect id=${bad.slice(0, 20)}`,
        'GET',
        `/connect/start?tenant=${bad}`,
        { cookie },
        undefined,
        [400, 404],
      ]);
    }
    cases.push([
      'send-test from a number that is not the tenant’s',
      'POST',
      `/tenants/${t}/send-test`,
      form,
      `csrf=${csrf}&from=12345&to=1`,
      [404],
    ]);
    cases.push([
      'callback with a forged state',
      'GET',
      '/connect/callback?code=abc&state=forged',
      { cookie },
      undefined,
      [400],
    ]);
    for (const [label, method, path, headers, body, statuses] of cases) {
      const res = await raw(h.base, method, path, headers, body);
      transcript.add(`dashboard ${label}`, res, res.text);
      // `/tenants/%2e%2e` is `/` by URL rules: a read of another page is fine, as long as nothing changes.
      const folded = new URL(path, h.base).pathname !== path.split('?')[0];
      const ok = statuses.includes(res.status) || (folded && method === 'GET' && res.status === 200);
      expect(ok, `${label}: ${res.status} ${res.text.slice(0, 200)}`).toBe(true);
      expect(await snapshot(), `${label} changed the store`).toBe(before);
    }
    expect((await fetch(`${h.base}/healthz`)).status).toBe(200);
  });

  it('no key, token or secret in any answer or log line', () => {
    const secrets = [A.key, h.adminKey, A.subscriptionSecret, ...sandboxSecrets(h)];
    const everything = `${transcript.text()}\n${h.logs.join('')}`;
    expect(transcript.parts.length).toBeGreaterThan(150);
    expectNoSecrets(everything, secrets, 'answers and logs');
    expect(everything).not.toMatch(/EAA[A-Za-z0-9]{20,}/);
  });
});

describe('dashboard login rate limit over HTTP', () => {
  let h: InProcessBroker;
  beforeAll(async () => {
    h = await startInProcessBroker();
  }, 30_000);
  afterAll(async () => {
    await h?.close();
  });

  const login = (key: string) =>
    fetch(`${h.base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key }).toString(),
    });

  it('wrong admin keys: 403 up to the burst, then 429 with Retry-After; the right key still logs in; no key echoed', async () => {
    const wrong = Array.from(
      { length: 22 },
      (_, i) => `wck_${'abcdefgh'}_${String(i).padStart(2, '0')}${'Q'.repeat(41)}`,
    );
    const answers: Array<{ status: number; retryAfter: string | null; text: string; cookie: string | null }> =
      [];
    for (const key of wrong) {
      const res = await login(key);
      answers.push({
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        text: await res.text(),
        cookie: res.headers.get('set-cookie'),
      });
    }
    const statuses = answers.map((a) => a.status);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(403));
    expect(statuses.slice(20)).toEqual([429, 429]);
    for (const a of answers.slice(20)) {
      expect(Number(a.retryAfter)).toBeGreaterThan(0);
      expect(Number(a.retryAfter)).toBeLessThanOrEqual(60);
      expect(a.text).toMatch(/Too many failed attempts/);
    }
    for (const [i, a] of answers.entries()) {
      expect(a.cookie).toBeNull();
      expect(a.text.includes(wrong[i] as string), `attempt ${i} echoes the key`).toBe(false);
    }
    // The right key while the address is limited: it logs in (an attacker's noise must not lock the admin out).
    const right = await login(h.adminKey);
    const text = await right.text();
    expect(right.status).toBe(303);
    expect(right.headers.get('set-cookie')).toContain('wacloud_session=');
    expectNoSecrets(text, [h.adminKey], 'the login answer');
    // Failed logins are audited with the address, never the key.
    const audit = JSON.stringify(await h.broker.context.store.audit.list({ limit: 100 }));
    expect(audit).toContain('dashboard.login_failed');
    for (const k of [...wrong, h.adminKey]) expect(audit.includes(k)).toBe(false);
    expect(h.logs.join('').includes(h.adminKey)).toBe(false);
  });
});
