// The floor for the broker benchmark: a bare node:http server forwarding with undici `dispatch`, the same wire as the
// broker (the upstream token, appsecret_proof, the same request and response headers) and no checks at all: no key,
// no object check, no limits, no metrics. What any Node proxy hop costs on these cores. argv[2] is JSON:
//   { upstreamUrl, appSecret, token }. Sends { port } to the parent over IPC.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { Agent } from 'undici';

const o = JSON.parse(process.argv[2]);
const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
const origin = new URL(o.upstreamUrl).origin;
const authorization = `Bearer ${o.token}`;
const proof = `?appsecret_proof=${createHmac('sha256', o.appSecret).update(o.token).digest('hex')}`;
const FORWARD = [
  'content-type',
  'x-app-usage',
  'x-business-use-case-usage',
  'x-ad-account-usage',
  'x-fb-trace-id',
  'x-fb-request-id',
  'facebook-api-version',
  'retry-after',
  'www-authenticate',
];

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const out = [];
    let status = 0;
    let headers = {};
    agent.dispatch(
      {
        origin,
        path: `${req.url.slice('/graph'.length)}${proof}`,
        method: req.method,
        headers: [
          'content-type',
          String(req.headers['content-type']),
          'accept',
          String(req.headers.accept),
          'user-agent',
          String(req.headers['user-agent']),
          'authorization',
          authorization,
        ],
        body: Buffer.concat(chunks),
      },
      {
        onRequestStart() {},
        onResponseStart(_c, s, h) {
          status = s;
          headers = h;
        },
        onResponseData(_c, chunk) {
          out.push(chunk);
        },
        onResponseEnd() {
          const body = Buffer.concat(out);
          const head = [];
          for (const h of FORWARD) if (typeof headers[h] === 'string') head.push(h, headers[h]);
          head.push('content-length', String(body.length));
          res.writeHead(status, head);
          res.end(body);
        },
        onResponseError() {
          res.writeHead(502).end();
        },
      },
    );
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
const stop = () => server.close(() => process.exit(0));
process.on('disconnect', stop);
process.on('SIGTERM', stop);
