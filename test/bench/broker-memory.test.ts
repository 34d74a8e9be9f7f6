import { describe, expect, it } from 'vitest';
// The broker memory benchmark's parts that need no broker (plain JS under bench/).
import { mediaUpload, procMemory } from '../../bench/broker-memory.js';

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

describe('broker memory benchmark', () => {
  it('generates a multipart media upload whose Content-Length matches the bytes sent', async () => {
    for (const bytes of [1, 999_999, 1_000_000, 2_500_001]) {
      const m = mediaUpload(bytes);
      const body = await collect(m.body());
      expect(body.length).toBe(m.length);
      const boundary = /boundary=(.+)$/.exec(m.contentType)?.[1];
      expect(boundary).toBeDefined();
      const text = body.toString('latin1');
      expect(text.startsWith(`--${boundary}\r\n`)).toBe(true);
      expect(text.endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
      expect(text).toContain('name="messaging_product"\r\n\r\nwhatsapp\r\n');
      const fileStart =
        text.indexOf('Content-Type: application/pdf\r\n\r\n') +
        'Content-Type: application/pdf\r\n\r\n'.length;
      expect(text.length - fileStart - `\r\n--${boundary}--\r\n`.length).toBe(bytes);
    }
  });

  it('reads this process’s RSS from /proc (Linux), undefined for a process that does not exist', () => {
    if (process.platform !== 'linux') return;
    const rss = procMemory(process.pid, 'VmRSS');
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(procMemory(2 ** 30, 'VmRSS')).toBeUndefined();
  });
});
