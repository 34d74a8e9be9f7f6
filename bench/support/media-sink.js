// The upstream of the broker memory benchmark: answers `POST /{version}/{phone-number-id}/media` like Meta
// ({"id": "<media id>"}) after reading the whole multipart body, at most `mbPerSecond` per upload (argv[2], default
// 50): an upstream slower than the client is where a proxy without backpressure would pile the body up in memory.
// It keeps nothing: the emulator would hold every upload in its own memory, and only the broker is measured here.
// A body that is cut short (fewer bytes than Content-Length, or no closing multipart boundary) gets a Graph error,
// so the benchmark fails loudly when the proxy loses bytes. `GET /__received` answers the bytes received so far.
// Sends { port } to the parent over IPC.
import { createServer } from 'node:http';

const mbPerSecond = Number(process.argv[2] ?? 50);
const bytesPerMs = (mbPerSecond * 1e6) / 1000;
let received = 0;
let uploads = 0;

function answer(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const graphError = (message) => ({
  error: { message, type: 'OAuthException', code: 100, fbtrace_id: 'AmediaSinkBench' },
});

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/__received') return answer(res, 200, { received });
  if (req.method !== 'POST' || !/^\/v\d+\.\d+\/\d+\/media(\?|$)/.test(req.url ?? '')) {
    req.resume();
    return answer(res, 404, graphError('Unknown path components'));
  }
  const boundary = /boundary=("?)([^";]+)\1/.exec(req.headers['content-type'] ?? '')?.[2];
  const declared = req.headers['content-length'] ? Number(req.headers['content-length']) : undefined;
  const started = performance.now();
  let size = 0;
  let tail = Buffer.alloc(0);
  req.on('data', (chunk) => {
    size += chunk.length;
    received += chunk.length;
    tail = Buffer.concat([tail, chunk.subarray(Math.max(0, chunk.length - 128))]).subarray(-128);
    // Throttle: pause until this upload is back under its rate.
    const ahead = size / bytesPerMs - (performance.now() - started);
    if (ahead > 1) {
      req.pause();
      setTimeout(() => req.resume(), ahead);
    }
  });
  req.on('end', () => {
    if (!boundary || !tail.toString('latin1').endsWith(`--${boundary}--\r\n`))
      return answer(res, 400, graphError('(#100) The multipart body is incomplete'));
    if (declared !== undefined && declared !== size)
      return answer(res, 400, graphError(`(#100) Received ${size} of ${declared} bytes`));
    answer(res, 200, { id: String(1_234_500_000_000_000 + ++uploads) }); // a 16-digit media id, like Meta's
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
