import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SubscriberHit {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** An outbound-webhook subscriber on 127.0.0.1 that records every request and answers `status(hit)` (default 204). */
export async function startSubscriber(status: (hit: SubscriberHit) => number = () => 204): Promise<{
  base: string;
  hits: SubscriberHit[];
  close: () => Promise<void>;
}> {
  const hits: SubscriberHit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const hit = { path: req.url ?? '', headers: req.headers as Record<string, string>, body };
      hits.push(hit);
      res.writeHead(status(hit)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
