import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  api,
  connectTenant,
  type RunningBroker,
  sandboxAppSecret,
  startBrokerProcess,
} from '../support/broker.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

/** A Meta-shaped inbound text webhook for one message. */
function inbound(wabaId: string, phoneNumberId: string, i: number): string {
  return whatsappDelivery({
    wabaId,
    phoneNumberId,
    contactName: 'Burst',
    messages: [textMessage(`wamid.CRASH${i}`, `burst ${i}`, '1767225600')],
  });
}

describe('broker crash safety: kill -9 during a webhook burst', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-crash-'));
  let broker: RunningBroker | undefined;
  let subscriber: Server;
  const received: Array<{ webhookId: string; messageId: string }> = [];

  afterAll(async () => {
    await broker?.proc.stop();
    await new Promise((r) => subscriber?.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('every delivery answered 200 is in the inbox after a restart and reaches the subscriber, once per event id', async () => {
    subscriber = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const messageId = (JSON.parse(body) as { data: { message: { id: string } } }).data.message.id;
        received.push({ webhookId: String(req.headers['webhook-id']), messageId });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}/in`;

    broker = await startBrokerProcess(dataDir);
    const adminKey = broker.adminKey as string;
    const { tenantId, phoneNumberId, wabaId } = await connectTenant(broker, adminKey, 'Crashy');
    await api(broker.base, adminKey)(`/tenants/${tenantId}/subscriptions`, {
      url: hookUrl,
      events: ['message'],
    });
    const secret = sandboxAppSecret(dataDir);

    // The burst: 400 signed deliveries, 16 at a time; the broker is killed once 150 were acknowledged.
    const acked = new Set<string>();
    let next = 0;
    let killed = false;
    const url = `${broker.base}/webhook`;
    const worker = async (): Promise<void> => {
      while (next < 400) {
        const i = next++;
        const body = inbound(wabaId, phoneNumberId, i);
        const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
            body,
          });
          if (res.status === 200) acked.add(`wamid.CRASH${i}`);
        } catch {
          // connection refused or reset once the broker is gone: Meta would retry these later
        }
        if (!killed && acked.size >= 150) {
          killed = true;
          process.kill(-(broker as RunningBroker).proc.proc.pid!, 'SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(killed).toBe(true);
    await broker.proc.exited;
    expect(acked.size).toBeGreaterThanOrEqual(150);

    // Restart on the same data dir: the inbox is replayed and delivered.
    broker = await startBrokerProcess(dataDir);
    // Rows the killed instance had leased are taken over when their lease lapses (10 s for the inbox, 30 s for a
    // delivery in flight).
    const deadline = Date.now() + 60_000;
    const delivered = () => new Set(received.map((r) => r.messageId));
    while (Date.now() < deadline && [...acked].some((id) => !delivered().has(id))) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const missing = [...acked].filter((id) => !delivered().has(id));
    expect(missing).toEqual([]);
    // A repeat after the crash (delivered, then killed before it was marked) carries the same webhook-id, so a
    // Standard Webhooks consumer processes each event once.
    const idsPerMessage = new Map<string, Set<string>>();
    for (const r of received) {
      const set = idsPerMessage.get(r.messageId) ?? new Set<string>();
      set.add(r.webhookId);
      idsPerMessage.set(r.messageId, set);
    }
    for (const [messageId, ids] of idsPerMessage) expect(ids.size, messageId).toBe(1);
  }, 150_000);
});
