import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Sends a request exactly as written: no URL normalisation (`..` and `%2f` reach the server as they are), any method
 * with a body, and the headers given (fetch would refuse a GET body or fix the Content-Length).
 */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string | number> = {},
  body?: string | Buffer,
): Promise<RawResponse> {
  const u = new URL(base);
  // An explicit length: Node sends a DELETE body unframed otherwise, and the server would read it as a new request.
  const lengthKnown = Object.keys(headers).some((k) => k.toLowerCase() === 'content-length');
  if (body !== undefined && !lengthKnown) headers = { ...headers, 'content-length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve({ status: res.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    // The server may answer early (413) and close before the whole body is out: that answer is the result.
    req.on('error', (err) => ((err as { code?: string }).code === 'EPIPE' ? undefined : reject(err)));
    req.end(body);
  });
}

/**
 * Passes one request through to `upstream` as it came (method, path, headers, streamed body) and streams the answer
 * back: the pass-through hop tests put between the broker and Graph to watch or slow what crosses it.
 */
export function passThrough(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
  const out = httpRequest(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(out);
}
