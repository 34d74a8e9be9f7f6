import { createServer } from 'node:net';

/**
 * A loopback port nothing listens on right now: bind port 0, read it, close. Use it for "connection refused" cases
 * and for servers a test starts in another process (which cannot be told to use port 0 and report back).
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
