import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { createDeduplicator, createMemoryDedupeStore, dedupeKey } from './dedupe.js';
import type { WebhookEvent } from './events.js';
import { parseWebhook } from './parse-webhook.js';
import { createWebhookRouter } from './router.js';

function batch(): WebhookEvent[] {
  const value = (phone: string, messages: unknown[], statuses: unknown[] = []) => ({
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '1', phone_number_id: phone },
    messages,
    statuses,
  });
  return parseWebhook({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'W',
        changes: [
          {
            field: 'messages',
            value: value(
              'P1',
              [
                { id: 'wamid.t', from: '9', timestamp: '1', type: 'text', text: { body: 'hi' } },
                { id: 'wamid.i', from: '9', timestamp: '1', type: 'image', image: { id: 'm' } },
              ],
              [{ id: 'wamid.o', status: 'read', timestamp: '2', recipient_id: '9' }],
            ),
          },
          {
            field: 'messages',
            value: value('P2', [
              { id: 'wamid.u', from: '8', timestamp: '1', type: 'text', text: { body: 'yo' } },
            ]),
          },
        ],
      },
    ],
  });
}

describe('createWebhookRouter', () => {
  it('routes by event type, message type and wildcard, in registration order', async () => {
    const calls: string[] = [];
    const router = createWebhookRouter()
      .on('message', (e) => void calls.push(`message ${e.message.id}`))
      .on('message:text', (e) => void calls.push(`text ${e.message.text.body}`))
      .on('status', (e) => void calls.push(`status ${e.status}`))
      .on('*', (e) => void calls.push(`* ${e.type}`));
    const report = await router.dispatch(batch());
    expect(calls).toEqual([
      'message wamid.t',
      'text hi',
      '* message',
      'message wamid.i',
      '* message',
      'status read',
      '* status',
      'message wamid.u',
      'text yo',
      '* message',
    ]);
    expect(report).toEqual({ events: 4, handled: 10, unhandled: 0, failures: [] });
  });

  it('routes by phone number id and by tenant', async () => {
    const seen: string[] = [];
    const router = createWebhookRouter({ tenants: { P1: 'acme', P2: 'globex' } });
    router.phoneNumber('P2').on('message', (e, ctx) => void seen.push(`P2 ${e.message.id} ${ctx.tenant}`));
    router.tenant('acme').on('*', (e, ctx) => void seen.push(`acme ${e.type} ${ctx.tenant}`));
    router
      .tenant('acme')
      .phoneNumber('P2')
      .on('*', () => void seen.push('never'));
    const report = await router.dispatch(batch());
    expect(seen).toEqual(['acme message acme', 'acme message acme', 'acme status acme', 'P2 wamid.u globex']);
    expect(report.unhandled).toBe(0);
    expect(router.size).toBe(3);
  });

  it('resolves tenants with a function (async) and reports a failing resolver', async () => {
    const router = createWebhookRouter({
      tenants: async (phone) => {
        if (phone === 'P2') throw new Error('lookup failed');
        return `tenant-of-${phone}`;
      },
    });
    const tenants: (string | undefined)[] = [];
    router.on('message', (_e, ctx) => void tenants.push(ctx.tenant));
    const report = await router.dispatch(batch());
    expect(tenants).toEqual(['tenant-of-P1', 'tenant-of-P1', undefined]);
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatchObject({ selector: 'tenant', error: new Error('lookup failed') });
  });

  it('a failing handler is reported and does not stop the other handlers or events', async () => {
    const ran: string[] = [];
    const router = createWebhookRouter()
      .on('message:image', async () => {
        throw new Error('image handler broke');
      })
      .on('message', (e) => void ran.push(e.message.id));
    const report = await router.dispatch(batch());
    expect(ran).toEqual(['wamid.t', 'wamid.i', 'wamid.u']);
    expect(report.failures.map((f) => [f.selector, (f.error as Error).message])).toEqual([
      ['message:image', 'image handler broke'],
    ]);
    expect(report.unhandled).toBe(1); // the status
  });

  it('rejects a non-function handler at registration', () => {
    expect(() => createWebhookRouter().on('message', 'nope' as never)).toThrow(/not a function/);
  });
});

describe('de-duplication', () => {
  it('keys messages by id, statuses by id + status, and leaves other events alone', () => {
    const [text, , status] = batch();
    expect(dedupeKey(text!)).toBe('m:P1:wamid.t');
    expect(dedupeKey(status!)).toBe('s:wamid.o:read');
    expect(
      dedupeKey(parseWebhook({ entry: [{ id: 'W', changes: [{ field: 'flows', value: {} }] }] })[0]!),
    ).toBeUndefined();
  });

  it('claims once, forgets on release, expires after the TTL on the injected clock', async () => {
    const clock = new ManualClock();
    const dedupe = createDeduplicator({ store: createMemoryDedupeStore({ clock }), ttlMs: 1000 });
    const [text] = batch();
    expect(await dedupe.claim(text!)).toBe(true);
    expect(await dedupe.claim(text!)).toBe(false);
    await dedupe.release(text!);
    expect(await dedupe.claim(text!)).toBe(true);
    await clock.advance(999);
    expect(await dedupe.claim(text!)).toBe(false);
    await clock.advance(2);
    expect(await dedupe.claim(text!)).toBe(true);
  });

  it('the memory store stays within maxEntries, forgetting the oldest', () => {
    const store = createMemoryDedupeStore({ maxEntries: 3 });
    for (const k of ['a', 'b', 'c', 'd']) expect(store.claim(k, 60_000)).toBe(true);
    expect(store.size).toBe(3);
    expect(store.claim('a', 60_000)).toBe(true); // evicted, so new again
    expect(store.claim('d', 60_000)).toBe(false);
  });

  it('works with a pluggable async store', async () => {
    const keys = new Set<string>();
    const dedupe = createDeduplicator({
      store: {
        claim: async (key) => {
          if (keys.has(key)) return false;
          keys.add(key);
          return true;
        },
        release: async (key) => void keys.delete(key),
      },
    });
    const events = [...batch(), ...batch()];
    const fresh = [];
    for (const e of events) if (await dedupe.claim(e)) fresh.push(e);
    expect(fresh).toHaveLength(4);
    expect([...keys].sort()).toEqual(['m:P1:wamid.i', 'm:P1:wamid.t', 'm:P2:wamid.u', 's:wamid.o:read']);
  });
});
