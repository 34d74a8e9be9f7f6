import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  api,
  control,
  type InProcessBroker,
  setUpTenant,
  startInProcessBroker,
  type TenantWorld,
} from '../support/broker.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { until } from '../support/poll.js';
import { rawQuery } from '../support/store.js';

announcePgSkip('broker-content-at-rest (runs on SQLite instead)');
const engine = pgTestUrl ? 'postgres' : 'sqlite';
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A customer's message on its way through the broker: the subscriber gets it in clear, the store holds it sealed
 * (webhook body and delivery payload under the data keys), routing metadata stays plain SQL, and after the retention
 * (30 days by default, on the sandbox's clock here) the content is gone while phone numbers and object owners stay.
 */
describe(`customer content at rest on ${engine}: encrypted, then deleted after the retention`, () => {
  let h: InProcessBroker;
  let subscriber: Server;
  let A: TenantWorld;
  const received: string[] = [];
  const text = `my account number is ${randomBytes(9).toString('hex')}`;

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    h = await startInProcessBroker({ engine });
    A = await setUpTenant(
      h,
      'Alpha',
      `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}`,
      false,
    );
  }, 90_000);
  afterAll(async () => {
    await h?.close();
    await new Promise((r) => subscriber?.close(r));
  });

  it('the subscriber gets the text; the store holds no plaintext of it, only sealed bytes and plain metadata', async () => {
    await control(h, 'webhooks/inbound', {
      phone_number_id: A.phoneNumberId,
      type: 'text',
      text: { body: text },
    });
    await until('the message delivered to the subscriber', async () =>
      received.some((b) => b.includes(text)) ? true : undefined,
    );
    const inbox = await rawQuery<{
      body: Buffer;
      key_id: string | null;
      tenant_id: string | null;
      status: string;
    }>(h.home, 'SELECT body, key_id, tenant_id, status FROM webhook_inbox');
    expect(inbox.length).toBeGreaterThan(3);
    for (const row of inbox) {
      expect(row.key_id).toMatch(/^dk_/);
      expect(Buffer.from(row.body).toString('latin1')).not.toContain(text);
      expect(Buffer.from(row.body).toString('latin1')).not.toContain('messaging_product');
    }
    // Routing metadata is plain: which rows are the tenant's, and their state, in plain SQL.
    expect(inbox.filter((r) => r.tenant_id === A.tenantId && r.status === 'done').length).toBeGreaterThan(3);
    const deliveries = await rawQuery<{ payload: string; payload_ct: Buffer | null; key_id: string | null }>(
      h.home,
      'SELECT payload, payload_ct, key_id FROM deliveries',
    );
    for (const d of deliveries) {
      expect(d.payload).toBe('');
      expect(d.key_id).toMatch(/^dk_/);
      expect(Buffer.from(d.payload_ct as Buffer).toString('latin1')).not.toContain(text);
    }
    // The broker still reads them: the webhooks list summarises the row, the key status counts it.
    const hooks = await api(h.base, h.adminKey)<{ data: Array<{ tenantId: string | null }> }>('/webhooks');
    expect(hooks.data.some((w) => w.tenantId === A.tenantId)).toBe(true);
    const status = await h.broker.context.store.inbox.recent(50, A.tenantId);
    expect(status.some((r) => Buffer.from(r.body).toString('utf8').includes(text))).toBe(true);
  });

  it('after the retention the content is deleted; phone numbers and object owners stay', async () => {
    const store = h.broker.context.store;
    expect((await store.deliveries.listByTenant(A.tenantId, 100)).length).toBeGreaterThan(0);
    // 29 days: nothing goes.
    await control(h, 'clock/advance', { seconds: (29 * DAY_MS) / 1000 });
    await h.broker.runWorkersOnce();
    expect((await store.inbox.recent(100, A.tenantId)).length).toBeGreaterThan(0);
    // Past 30 days: all of it goes (the background sweeper may get there first).
    await control(h, 'clock/advance', { seconds: (2 * DAY_MS) / 1000 });
    await h.broker.runWorkersOnce();
    await until('the content swept', async () =>
      (await rawQuery(h.home, 'SELECT id FROM webhook_inbox')).length === 0 &&
      (await rawQuery(h.home, 'SELECT id FROM deliveries')).length === 0
        ? true
        : undefined,
    );
    expect((await store.phoneNumbers.listByTenant(A.tenantId)).map((n) => n.id)).toContain(A.phoneNumberId);
    expect(await store.objects.ownerOf(A.templateId)).toBe(A.tenantId);
    const logged = h.logs.filter((l) => l.includes('retention: customer content deleted'));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.join('')).not.toContain(text);
  });

  it('WACLOUD_CONTENT_RETENTION_DAYS: default 30, a whole number of days, else a ConfigError naming it', () => {
    const at = (value?: string) =>
      loadConfig(
        {},
        { env: value === undefined ? {} : { WACLOUD_CONTENT_RETENTION_DAYS: value }, envFile: false },
      );
    expect(at().contentRetentionDays).toBe(30);
    expect(at('7').contentRetentionDays).toBe(7);
    for (const bad of ['0', '-1', 'x', '1.5']) {
      expect(() => at(bad), bad).toThrow(ConfigError);
      expect(() => at(bad), bad).toThrow(/WACLOUD_CONTENT_RETENTION_DAYS/);
    }
  });
});
