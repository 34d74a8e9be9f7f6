// A webhook endpoint in a child process, for bench/webhook-verify-parse.js. argv[2]: `bare` (node:http, reads the
// body and checks the HMAC in constant time, nothing else), `bare-json` (the same plus JSON.parse) or `wacloud`
// (createNodeWebhookHandler: cap, content type, signature, JSON, typed events, dedupe, router).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { createNodeWebhookHandler, createWebhookRouter } from '../dist/webhooks/index.js';

const secret = process.argv[3];
const mode = process.argv[2];

function bare(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const header = String(req.headers['x-hub-signature-256'] ?? '');
    const given = Buffer.from(header.slice(7), 'hex');
    const expected = createHmac('sha256', secret).update(body).digest();
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    if (ok && mode === 'bare-json') JSON.parse(body.toString('utf8'));
    res.writeHead(ok ? 200 : 401, { 'content-type': 'text/plain' });
    res.end(ok ? 'ok' : 'no');
  });
}

let handled = 0;
const router = createWebhookRouter().on('*', () => {
  handled++;
});
const listener =
  mode === 'bare' || mode === 'bare-json'
    ? bare
    : createNodeWebhookHandler({
        appSecret: secret,
        router,
        logger: { debug() {}, info() {}, warn() {}, error() {} },
      });

const server = createServer({ keepAliveTimeout: 60_000 }, listener);
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
void handled;
