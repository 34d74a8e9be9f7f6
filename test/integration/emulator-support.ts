import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Emulator } from '../../src/emulator/index.js';
import { sharedUrl } from '../support/shared.js';

/** Signature vectors from test/meta/fixtures (used as they are). */
export interface SignatureVector {
  id: string;
  expected_valid: boolean;
  app_secret: string;
  raw_body_base64: string;
  x_hub_signature_256: string;
  fallback_app_secrets?: string[];
}

export const signatureVectors = (
  JSON.parse(readFileSync(sharedUrl('fixtures/signatures.json'), 'utf8')) as {
    vectors: SignatureVector[];
  }
).vectors;

/**
 * The verification algorithm signatures.json pins down, written here independently of the emulator's signer:
 * HMAC-SHA256 keyed by the app secret over the raw bytes (non-ASCII re-escaped as lowercase \uXXXX), lowercase hex,
 * `sha256=` prefix, constant-time compare, fallback secrets.
 */
export function verifyLikeFixture(raw: Buffer, header: string | undefined, secrets: string[]): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice(7), 'utf8');
  const escaped = raw
    .toString('utf8')
    .replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  for (const secret of secrets) {
    const expected = Buffer.from(createHmac('sha256', secret).update(escaped, 'utf8').digest('hex'), 'utf8');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  }
  return false;
}

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  raw: Buffer;
}

/** A webhook receiver on 127.0.0.1: answers the handshake with `verifyToken`, POSTs with `status()` (default 200). */
export async function startReceiver(verifyToken = 'verify-me'): Promise<{
  url: string;
  received: Received[];
  posts: () => Received[];
  setStatus: (fn: (n: number) => number) => void;
  close: () => Promise<void>;
}> {
  const received: Received[] = [];
  let statusFor = (_n: number) => 200;
  let posts = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw });
      if (req.method === 'GET') {
        const u = new URL(req.url ?? '/', 'http://x');
        if (
          u.searchParams.get('hub.mode') === 'subscribe' &&
          u.searchParams.get('hub.verify_token') === verifyToken
        ) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(u.searchParams.get('hub.challenge'));
        } else {
          res.writeHead(403);
          res.end('forbidden');
        }
        return;
      }
      const status = statusFor(posts++);
      res.writeHead(status);
      res.end(status === 200 ? 'EVENT_RECEIVED' : 'nope');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  return {
    url,
    received,
    posts: () => received.filter((r) => r.method === 'POST'),
    setStatus: (fn) => {
      statusFor = fn;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read Graph responses loosely and assert on them.
export type LooseJson = Record<string, any>;

/** JSON body + status of an in-process call. */
export async function call(
  emu: Emulator,
  method: string,
  path: string,
  options: {
    token?: string | undefined;
    body?: unknown;
    form?: Record<string, string>;
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; headers: Headers; json: LooseJson }> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const res = await emu.fetch(`http://emulator${path}`, { method, headers, body });
  const text = await res.text();
  let json: LooseJson = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { _text: text };
  }
  return { status: res.status, headers: res.headers, json };
}
