import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_BODIES } from '../../src/broker/openapi.js';
import {
  control,
  type InProcessBroker,
  sandboxSecrets,
  setUpTenant,
  startInProcessBroker,
  type TenantWorld,
  Transcript,
} from '../support/broker.js';
import { rawRequest as raw } from '../support/raw-http.js';
import { expectNoSecrets } from '../support/secret-scan.js';

/**
 * Tenant isolation, swept over every route the broker serves. The routes come from the running router and the
 * OpenAPI document (which must agree), so a route added later is tried here without anyone listing it; a path
 * parameter the sweep has no tenant-B id for fails the test until one is added.
 */

type Doc = {
  paths: Record<string, Record<string, { 'x-wacloud-admin'?: boolean; requestBody?: unknown }>>;
};

/** Routes served without a key on purpose (operations tooling). Anything else must refuse a tenant key. */
const PUBLIC_ROUTES = new Set(['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/v1/openapi.json']);

describe('security sweep: tenant A’s key against tenant B’s ids on every route', () => {
  let h: InProcessBroker;
  let subscriber: Server;
  let A: TenantWorld;
  let B: TenantWorld;
  const transcript = new Transcript();
  let doc: Doc;

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    const subscriberBase = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}`;
    h = await startInProcessBroker();
    A = await setUpTenant(h, 'Alpha', subscriberBase, false);
    B = await setUpTenant(h, 'Bravo', subscriberBase, true);
    doc = (await (await fetch(`${h.base}/api/v1/openapi.json`)).json()) as Doc;
    // Let the emulator's last statuses settle, so "nothing changed" compares a still world.
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

  /** What tenant B has, as the store and the emulator see it; a refused request must leave it as it was. */
  async function snapshot(): Promise<string> {
    const s = h.broker.context.store;
    return JSON.stringify({
      tenants: await s.tenants.list(),
      keys: (await s.apiKeys.list()).map((k) => [k.keyId, k.tenantId, k.revokedAtMs]),
      credentials: (await s.credentials.list())
        .filter((c) => c.tenantId === B.tenantId)
        .map((c) => [c.id, c.version, c.status, c.kind]),
      numbers: await s.phoneNumbers.listByTenant(B.tenantId),
      subscriptions: (await s.subscriptions.listByTenant(B.tenantId)).map((x) => [x.id, x.url, x.active]),
      deliveries: (await s.deliveries.listByTenant(B.tenantId, 1000)).map((d) => [
        d.id,
        d.status,
        d.attempts,
      ]),
      inbox: (await s.inbox.recent(1000, B.tenantId)).map((r) => [r.id, r.status, r.attempts]),
      sentFromB: h.sandbox.emulator.sentMessages({ phoneNumberId: B.phoneNumberId }).length,
    });
  }

  /** Tenant B's identifiers and data that must never show up in an answer to A (unless A sent them itself). */
  function bMarkers(): string[] {
    return [
      B.tenantId,
      B.name,
      B.credentialId,
      B.phoneNumberId,
      B.displayNumber,
      B.wabaId,
      B.templateId,
      B.subscriptionId,
      B.subscriptionUrl,
      B.keyId,
      B.userId,
    ].filter((m) => m.length >= 6);
  }

  function expectNothingOfB(what: string, sent: string, answer: string): void {
    for (const m of bMarkers()) {
      if (sent.includes(m)) continue;
      expect(answer.includes(m), `${what}: the answer shows tenant B's ${m}`).toBe(false);
    }
  }

  /** B's id for a path parameter, chosen by the collection it follows (`/credentials/{x}` → B's credential). */
  function bIdAfter(segment: string): string {
    const ids: Record<string, string> = {
      tenants: B.tenantId,
      credentials: B.credentialId,
      subscriptions: B.subscriptionId,
      deliveries: B.deliveryId,
      webhooks: B.inboxId,
      'api-keys': B.keyId,
    };
    const id = ids[segment];
    if (!id) throw new Error(`the sweep has no tenant-B id for a parameter after /${segment}/: add one`);
    return id;
  }

  function fillPath(path: string, style: 'openapi' | 'router', who: 'A' | 'B' = 'B'): string {
    const parts = path.split('/');
    return parts
      .map((p, i) => {
        const isParam = style === 'openapi' ? /^\{.+\}$/.test(p) : p.startsWith(':');
        if (!isParam) return p;
        const id = bIdAfter(parts[i - 1] as string);
        if (who === 'B') return encodeURIComponent(id);
        const aIds: Record<string, string> = {
          [B.tenantId]: A.tenantId,
          [B.credentialId]: A.credentialId,
          [B.subscriptionId]: A.subscriptionId,
          [B.deliveryId]: A.deliveryId,
          [B.inboxId]: A.inboxId,
          [B.keyId]: A.keyId,
        };
        return encodeURIComponent(aIds[id] as string);
      })
      .join('/');
  }

  /** A body that would be valid for the operation, aimed at tenant B, so only the tenancy check can stop it. */
  async function bodyFor(operation: string): Promise<Record<string, unknown>> {
    const seed = h.sandbox.emulator.seed as NonNullable<typeof h.sandbox.emulator.seed>;
    switch (operation) {
      case 'POST /tenants':
        return { name: 'Sweep' };
      case 'POST /tenants/{tenantId}/credentials':
        return {
          token: (await control(h, 'tokens', { kind: 'system_user', target_ids: [B.wabaId] })).access_token,
        };
      case 'POST /tenants/{tenantId}/embedded-signup':
        return {
          code: (await control(h, 'oauth/codes', { user_id: B.userId, waba_ids: [B.wabaId] })).code,
        };
      case 'POST /api-keys':
        return { tenantId: B.tenantId, label: 'sweep' };
      case 'POST /tenants/{tenantId}/subscriptions':
        return { url: 'http://127.0.0.1:9/steal', events: [] };
      case 'PATCH /subscriptions/{subscriptionId}':
        return { active: false };
      case 'POST /tenants/{tenantId}/messages':
        return {
          from: B.phoneNumberId,
          messaging_product: 'whatsapp',
          to: seed.recipient,
          type: 'text',
          text: { body: 'as B' },
        };
      default: {
        // An operation added later: a body that satisfies its schema's required fields.
        const schema = REQUEST_BODIES[operation];
        const body: Record<string, unknown> = {};
        for (const f of schema?.required ?? []) body[f] = 'x';
        return body;
      }
    }
  }

  async function call(
    key: string,
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ) {
    const sent = `${path} ${body === undefined ? '' : JSON.stringify(body)}`;
    const res = await fetch(`${h.base}${path}`, {
      method,
      redirect: 'manual',
      headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
      body:
        body === undefined
          ? undefined
          : typeof body === 'string'
            ? body
            : contentType === 'application/json'
              ? JSON.stringify(body)
              : new URLSearchParams(body as Record<string, string>).toString(),
    });
    const text = await res.text();
    transcript.add(`${method} ${path}`, res, text);
    return { status: res.status, headers: res.headers, text, sent };
  }

  it('the router and the OpenAPI document list the same API operations', () => {
    const fromRouter = h.broker.app.routes
      .filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/v1/') && r.path !== '/api/v1/openapi.json')
      .map((r) => `${r.method} ${r.path.slice('/api/v1'.length).replace(/:([A-Za-z]+)/g, '{$1}')}`)
      .sort();
    const fromDoc = Object.entries(doc.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(fromRouter).toEqual(fromDoc);
    expect(fromDoc.length).toBeGreaterThanOrEqual(20);
  });

  it('every API operation: A’s key on B’s ids answers 403/404 with nothing of B, and changes nothing', async () => {
    const before = await snapshot();
    let tried = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(methods)) {
        const method = m.toUpperCase();
        const operation = `${method} ${path}`;
        const hasParams = path.includes('{');
        const url = `/api/v1${fillPath(path, 'openapi')}${method === 'GET' ? `?tenant=${B.tenantId}` : ''}`;
        const body = op.requestBody ? await bodyFor(operation) : undefined;
        const res = await call(A.key, method, url, body);
        tried++;
        if (op['x-wacloud-admin']) expect(res.status, operation).toBe(403);
        else if (hasParams) expect([403, 404], `${operation}: ${res.text}`).toContain(res.status);
        else expect(res.status, operation).toBeLessThan(300);
        expectNothingOfB(operation, res.sent, res.text);
        expect(await snapshot(), `${operation} changed tenant B's data`).toBe(before);

        if (method === 'GET' && hasParams) {
          // Controls: the same route works for A on A's ids, and B's ids are real (the admin key sees them).
          const own = await call(A.key, 'GET', `/api/v1${fillPath(path, 'openapi', 'A')}`);
          expect(own.status, `${operation} with A's own ids`).toBe(200);
          const admin = await call(h.adminKey, 'GET', `/api/v1${fillPath(path, 'openapi')}`);
          expect(admin.status, `${operation} as admin on B's ids`).toBe(200);
        }
      }
    }
    expect(tried).toBeGreaterThanOrEqual(20);
    // The collections A may list show A's rows (the sweep is not vacuous).
    const mine = await call(A.key, 'GET', '/api/v1/webhooks');
    expect(mine.text).toContain(`"id":"${A.inboxId}"`);
  });

  it('PATCH /subscriptions/{id}: B’s subscription is a 404 to A, malformed bodies are 400/422, A’s own works', async () => {
    const before = await snapshot();
    const active = async (id: string) => (await h.broker.context.store.subscriptions.get(id))?.active;
    const bPath = `/api/v1/subscriptions/${encodeURIComponent(B.subscriptionId)}`;
    const aPath = `/api/v1/subscriptions/${encodeURIComponent(A.subscriptionId)}`;
    for (const body of [{ active: false }, { active: true }]) {
      const res = await call(A.key, 'PATCH', bPath, body);
      expect(res.status, res.text).toBe(404);
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'not_found' } });
      expectNothingOfB('PATCH B subscription', res.sent, res.text);
    }
    const malformed: Array<[unknown, number]> = [
      ['{"active":', 400],
      ['[]', 400],
      ['null', 400],
      [{}, 422],
      [{ active: 'false' }, 422],
      [{ active: 0 }, 422],
      [{ active: null }, 422],
      [{ active: false, url: 'http://127.0.0.1:9/steal' }, 422],
    ];
    for (const [body, status] of malformed) {
      for (const [key, path] of [
        [A.key, aPath],
        [h.adminKey, bPath],
      ] as const) {
        const res = await call(key, 'PATCH', path, body);
        expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(status);
      }
    }
    expect(await snapshot()).toBe(before);
    expect(await active(A.subscriptionId)).toBe(true);

    // Control: A's key on A's own subscription deactivates and reactivates it (and shows no secret).
    const off = await call(A.key, 'PATCH', aPath, { active: false });
    expect(off.status, off.text).toBe(200);
    expect(JSON.parse(off.text)).toMatchObject({ id: A.subscriptionId, tenantId: A.tenantId, active: false });
    expect(off.text).not.toContain('secret');
    expect(await active(A.subscriptionId)).toBe(false);
    const on = await call(A.key, 'PATCH', aPath, { active: true });
    expect(JSON.parse(on.text)).toMatchObject({ id: A.subscriptionId, active: true });
    expect(await active(A.subscriptionId)).toBe(true);
    expect(await snapshot()).toBe(before);
  });

  it('admin-only operations refuse a tenant key with 403, even on its own tenant', async () => {
    const before = await snapshot();
    const adminOps = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, op]) => op['x-wacloud-admin'])
        .map(([m, op]) => ({ method: m.toUpperCase(), path, op })),
    );
    expect(adminOps.map((o) => `${o.method} ${o.path}`).sort()).toEqual([
      'DELETE /api-keys/{keyId}',
      'POST /api-keys',
      'POST /tenants',
      'POST /webhooks/{inboxId}/replay',
    ]);
    for (const { method, path, op } of adminOps) {
      const operation = `${method} ${path}`;
      const body = op.requestBody
        ? {
            ...(await bodyFor(operation)),
            ...(operation === 'POST /api-keys' ? { tenantId: A.tenantId } : {}),
          }
        : undefined;
      const res = await call(A.key, method, `/api/v1${fillPath(path, 'openapi', 'A')}`, body);
      expect(res.status, operation).toBe(403);
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'forbidden' } });
    }
    expect(await snapshot()).toBe(before);
    // A tenant key cannot mint an admin key (tenantId null) either.
    expect((await call(A.key, 'POST', '/api/v1/api-keys', { tenantId: null })).status).toBe(403);
  });

  it('the Graph proxy refuses every path to B’s objects, Meta-level objects and traversal tricks before Graph sees it', async () => {
    const seed = h.sandbox.emulator.seed as NonNullable<typeof h.sandbox.emulator.seed>;
    const counters = () => JSON.stringify(h.sandbox.emulator.counters());
    const before = await snapshot();
    const upstreamBefore = counters();
    const edges = [
      '',
      '/messages',
      '/media',
      '/message_templates',
      '/phone_numbers',
      '/subscribed_apps',
      '/whatsapp_business_profile',
      '/register',
      '/assigned_users',
    ];
    const paths: string[] = [];
    for (const id of [B.phoneNumberId, B.wabaId, B.templateId])
      for (const e of edges) paths.push(`${id}${e}`);
    paths.push(
      'debug_token?input_token=x',
      'me',
      'me/accounts',
      'oauth/access_token?grant_type=fb_exchange_token',
      `${seed.systemUserId}/access_tokens`,
      seed.appId,
      `${seed.appId}/subscriptions`,
      seed.businessId,
      `${seed.businessId}/owned_whatsapp_business_accounts`,
      B.userId,
      `?ids=${B.phoneNumberId}`,
      // Traversal and encoding tricks that start at A's own, allowed, objects.
      `${A.phoneNumberId}/../${B.phoneNumberId}/messages`,
      `${A.phoneNumberId}/./../${B.phoneNumberId}`,
      `${A.phoneNumberId}/%2e%2e/${B.phoneNumberId}/messages`,
      `${A.phoneNumberId}/..%2f${B.phoneNumberId}/messages`,
      `${A.phoneNumberId}%2f..%2f${B.phoneNumberId}`,
      `${A.phoneNumberId}/..%5c${B.phoneNumberId}`,
      `${A.wabaId}?ids=${B.phoneNumberId}`,
      `${A.wabaId}/phone_numbers?ids=${B.wabaId}`,
      `${B.phoneNumberId}%00`,
      `%20${B.phoneNumberId}`,
    );
    let tried = 0;
    for (const p of paths) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const path = `/graph/v26.0/${p}`;
        const body =
          method === 'POST' ? '{"messaging_product":"whatsapp","to":"1","type":"text"}' : undefined;
        const res = await raw(
          h.base,
          method,
          path,
          { authorization: `Bearer ${A.key}`, 'content-type': 'application/json' },
          body,
        );
        transcript.add(`${method} ${path}`, res, res.text);
        tried++;
        expect([400, 403], `${method} ${path}: ${res.status} ${res.text}`).toContain(res.status);
        expect(JSON.parse(res.text)).toHaveProperty('error.message');
        expectNothingOfB(`${method} ${path}`, path, res.text);
      }
    }
    expect(tried).toBeGreaterThan(100);
    expect(counters(), 'a refused proxy request reached Graph').toBe(upstreamBefore);
    expect(await snapshot()).toBe(before);
    // Control: A's own number through the same proxy works.
    const ok = await fetch(`${h.base}/graph/v26.0/${A.phoneNumberId}`, {
      headers: { authorization: `Bearer ${A.key}` },
    });
    expect(ok.status).toBe(200);
    // And the admin key (no tenant) is not a proxy key.
    const admin = await fetch(`${h.base}/graph/v26.0/${B.phoneNumberId}`, {
      headers: { authorization: `Bearer ${h.adminKey}` },
    });
    expect(admin.status).toBe(401);
  });

  it('every dashboard page and form refuses a tenant key (no session, no data), and so does its login', async () => {
    const before = await snapshot();
    const login = await call(A.key, 'POST', '/login', { key: A.key }, 'application/x-www-form-urlencoded');
    expect(login.status).toBe(403);
    expect(login.headers.get('set-cookie')).toBeNull();
    expect(login.text).not.toContain(A.key);

    const routes = h.broker.app.routes.filter(
      (r) =>
        r.method !== 'ALL' &&
        !r.path.startsWith('/api/v1/') &&
        !PUBLIC_ROUTES.has(`${r.method} ${r.path}`) &&
        !(r.method === 'POST' && r.path === '/login') &&
        r.path !== '/login',
    );
    expect(routes.length).toBeGreaterThanOrEqual(10);
    for (const r of routes) {
      const path = `${fillPath(r.path, 'router')}?tenant=${B.tenantId}&state=x&code=y`;
      const form = { csrf: 'x', name: 'Sweep', token: 'EAAsweep', from: B.phoneNumberId, to: '1' };
      const res = await call(
        A.key,
        r.method,
        path,
        r.method === 'POST' ? form : undefined,
        'application/x-www-form-urlencoded',
      );
      const refused =
        (res.status === 303 && res.headers.get('location') === '/login') || [401, 403].includes(res.status);
      expect(refused, `${r.method} ${r.path}: ${res.status} ${res.headers.get('location')}`).toBe(true);
      expectNothingOfB(`${r.method} ${r.path}`, path, res.text);
    }
    expect(await snapshot()).toBe(before);
  });

  it('the public operations endpoints answer without a key and carry no secret', async () => {
    // Every other non-API route is swept above and must refuse; these are the only open ones.
    for (const p of ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json']) {
      const res = await fetch(`${h.base}${p}`);
      expect(res.status, p).toBe(200);
      transcript.add(`GET ${p}`, res, await res.text());
    }
  });

  it('no key, token or secret in any answer, header or log line of the sweep', () => {
    const secrets = [
      A.key,
      B.key,
      h.adminKey,
      A.subscriptionSecret,
      B.subscriptionSecret,
      ...sandboxSecrets(h),
    ];
    expect(secrets.length).toBeGreaterThan(8);
    // Requests carried keys in their bodies on purpose (the login form): answers and logs only are scanned.
    const everything = `${transcript.text()}\n${h.logs.join('')}`;
    expect(transcript.parts.length).toBeGreaterThan(150);
    expectNoSecrets(everything, secrets, 'sweep answers and logs');
    expect(everything).not.toMatch(/EAA[A-Za-z0-9]{20,}/);
  });
});
