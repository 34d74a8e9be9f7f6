// The smallest server that answers the send-message call like Meta: the common target for the SDK benchmark.
// Runs in its own process so its CPU is not charged to the client under test.
import { createServer } from 'node:http';

let n = 0;
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url.endsWith('/messages')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"Unknown path","type":"GraphMethodException","code":803}}');
      return;
    }
    if (!req.headers.authorization) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        '{"error":{"message":"An access token is required to request this resource","type":"OAuthException","code":104}}',
      );
      return;
    }
    let to = '16505551234';
    try {
      to = JSON.parse(Buffer.concat(chunks).toString('utf8')).to ?? to;
    } catch {}
    n++;
    const body = `{"messaging_product":"whatsapp","contacts":[{"input":"${to}","wa_id":"${String(to).replace(/\D/g, '')}"}],"messages":[{"id":"wamid.BENCH${n}"}]}`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: server.address().port });
});
process.on('disconnect', () => process.exit(0));
// A normal exit, so `node --cpu-prof` writes its profile (bench/profile.js).
process.on('SIGTERM', () => process.exit(0));
