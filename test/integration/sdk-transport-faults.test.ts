import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { GraphTransientError, GraphUnknownError } from '../../src/core/graph-error.js';
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import { TransportError } from '../../src/transport/transport-error.js';
import type { Transport } from '../../src/transport/types.js';
import { WhatsApp } from '../../src/whatsapp/whatsapp.js';
import { freePort } from '../support/ports.js';

/**
 * The SDK against real loopback sockets that misbehave: nothing listening, a reset, bytes that are not HTTP, a
 * server that never answers. Every case ends in a typed error, quickly, with no unhandled rejection.
 */

const TOKEN = 'EAAfaultTestToken0123456789abcdefghijkl';
const TO = '+16505551234';

interface Fault {
  url: string;
  /** TCP connections accepted. */
  connections: number;
  /** Bytes received (all connections). */
  received: string;
  close(): Promise<void>;
}

const open: Fault[] = [];
afterAll(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});

/** A raw TCP server on 127.0.0.1:0 that runs `onSocket` for each connection. */
async function rawServer(onSocket: (socket: Socket, fault: Fault) => void): Promise<Fault> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (d) => {
      fault.received += d.toString('latin1');
    });
    fault.connections++;
    onSocket(socket, fault);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const fault: Fault = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: 0,
    received: '',
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  open.push(fault);
  return fault;
}

const clients: WhatsApp[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

const transports: Array<[string, () => Transport | undefined]> = [
  ['undici', () => undefined], // the client's own default transport
  ['fetch', () => createFetchTransport(globalThis.fetch)],
];

function client(
  graphUrl: string,
  transport: Transport | undefined,
  env: Record<string, string> = {},
): WhatsApp {
  const wa = new WhatsApp({
    ...(transport ? { transport } : {}),
    retry: { baseDelayMs: 1, maxAttempts: 3 },
    configSource: {
      env: {
        CLOUD_API_ACCESS_TOKEN: TOKEN,
        WA_PHONE_NUMBER_ID: '106540352242922',
        WA_GRAPH_URL: graphUrl,
        REQUEST_TIMEOUT: '300',
        ...env,
      },
      envFile: false,
    },
  });
  clients.push(wa);
  return wa;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe.each(transports)('SDK over %s against broken servers', (_name, makeTransport) => {
  it('Graph down (connection refused): typed, not reached, retried then thrown', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const wa = client(url, makeTransport());
    const started = Date.now();
    const err = (await rejection(wa.messages.text({ to: TO, body: 'x' }))) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.failure).toBe('connect-refused');
    expect(err.mayHaveReachedServer).toBe(false);
    expect(err.message).toContain('connection refused by 127.0.0.1');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('connection reset mid-request: one request only for a send, typed error', async () => {
    const fault = await rawServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const wa = client(fault.url, makeTransport());
    const err = (await rejection(wa.messages.text({ to: TO, body: 'reset me' }))) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.failure).toBe('reset');
    expect(err.mayHaveReachedServer).toBe(true);
    expect(fault.connections).toBe(1);
    expect(fault.received.match(/POST \/v26\.0\/106540352242922\/messages/g)).toHaveLength(1);
  });

  it('a reset on a GET is retried (idempotent), then thrown', async () => {
    const fault = await rawServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const wa = client(fault.url, makeTransport());
    const err = (await rejection(wa.media.getUrl('123'))) as TransportError;
    expect(err.failure).toBe('reset');
    expect(fault.received.match(/GET \/v26\.0\/123/g)).toHaveLength(3);
  });

  it('garbage instead of HTTP: a typed error, not a crash', async () => {
    const fault = await rawServer((socket) => {
      socket.once('data', () => {
        socket.end('SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 this is not http\r\n\r\n');
      });
    });
    const wa = client(fault.url, makeTransport());
    const err = (await rejection(wa.messages.text({ to: TO, body: 'x' }))) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.failure).toBe('bad-response');
    expect(err.message).toContain('sent a malformed HTTP response');
    expect(err.mayHaveReachedServer).toBe(true);
    expect(fault.received.match(/POST /g)).toHaveLength(1);
  });

  it('a server that never answers: REQUEST_TIMEOUT ends the send, once', async () => {
    const fault = await rawServer(() => {
      // accept, read, never write
    });
    const wa = client(fault.url, makeTransport(), { REQUEST_TIMEOUT: '200' });
    const started = Date.now();
    const err = (await rejection(wa.messages.text({ to: TO, body: 'hello?' }))) as TransportError;
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.failure).toBe('timeout');
    expect(err.mayHaveReachedServer).toBe(true);
    expect(err.message).toContain('timed out');
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(3_000);
    expect(fault.received.match(/POST /g)).toHaveLength(1);
  });

  it('a server that sends headers and then stalls the body: timeout, typed', async () => {
    const fault = await rawServer((socket) => {
      socket.once('data', () => {
        socket.write(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"messaging_product":',
        );
      });
    });
    const wa = client(fault.url, makeTransport(), { REQUEST_TIMEOUT: '200' });
    const err = (await rejection(wa.messages.text({ to: TO, body: 'x' }))) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.failure).toBe('timeout');
    expect(fault.received.match(/POST /g)).toHaveLength(1);
  });

  it('a connection closed before the full body arrives: typed error', async () => {
    const fault = await rawServer((socket) => {
      socket.once('data', () => {
        socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":');
      });
    });
    const wa = client(fault.url, makeTransport());
    const err = await rejection(wa.messages.text({ to: TO, body: 'x' }));
    expect(err).toBeInstanceOf(TransportError);
    expect(fault.received.match(/POST /g)).toHaveLength(1);
  });

  it('an HTML error page from a proxy and a 5xx: typed Graph errors, the send not repeated', async () => {
    let requests = 0;
    const server = createHttpServer((req, res) => {
      requests++;
      req.resume();
      if (req.url?.includes('/messages')) {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not here');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open.push({
      url: '',
      connections: 0,
      received: '',
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    });
    const wa = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, makeTransport());
    const err = await rejection(wa.messages.text({ to: TO, body: 'x' }));
    expect(err).toBeInstanceOf(GraphTransientError);
    expect(err.message).toContain('HTML page');
    expect(requests).toBe(1);
    const notFound = await rejection(wa.media.getUrl('1'));
    expect(notFound).toBeInstanceOf(GraphUnknownError);
    expect(notFound.message).toContain('non-JSON');
  });

  it('bad input never opens a connection', async () => {
    const fault = await rawServer((socket) => socket.destroy());
    const wa = client(fault.url, makeTransport());
    await expect(wa.messages.text({ to: 'not-a-number', body: 'x' })).rejects.toBeInstanceOf(ValidationError);
    await expect(wa.messages.send({ to: TO, type: 'nope' } as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(wa.messages.text({ to: TO, body: 'x'.repeat(4097) })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(wa.messages.send({ type: 'text', text: { body: 'x' } } as never)).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(fault.connections).toBe(0);
  });
});
