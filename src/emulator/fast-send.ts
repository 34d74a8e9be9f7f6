import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EmulatorCore, readIncomingThen } from './context.js';
import { graphError } from './graph-errors.js';
import { traceId } from './ids.js';
import { CACHE_CONTROL, graphErrorParts, type ResponseMeta } from './responses.js';
import { type CallSink, sendMessage, sendResponseJson } from './send-message.js';

const SEND_PATH = /^\/v(\d+)\.(\d+)\/(\d{1,20})\/messages(?:\?(.*))?$/;
const ENDPOINT = 'POST /{phone-number-id}/messages';

/**
 * `POST /vNN.N/{id}/messages` served straight on Node's request/response, skipping the web Request/Response
 * adaptation that costs more than the emulator's own work on this, the benchmarks' hot path. It runs the same
 * `sendMessage` as the Hono route and builds the same headers and error bodies, so answers do not depend on the
 * path taken. Anything unusual (faults armed, versions out of range, odd paths) goes to the Hono app.
 */
export function trySendFastPath(
  core: EmulatorCore,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): boolean {
  if (incoming.method !== 'POST' || core.faults.rules.length > 0) return false;
  const m = SEND_PATH.exec(incoming.url ?? '');
  if (!m) return false;
  const major = Number(m[1]);
  const { minVersion, maxVersion } = core.settings;
  if (major > maxVersion) return false;
  const meta = new SendMeta(core, major < minVersion ? `v${minVersion}.0` : `v${m[1]}.${m[2]}`);
  handle(core, incoming, outgoing, m[3] as string, m[4], meta);
  return true;
}

/** Response headers' values, filled in as sendMessage learns the app and WABA (also on errors). */
class SendMeta implements ResponseMeta, CallSink {
  readonly trace = traceId();
  appUsage: string | undefined = undefined;
  businessUsage: string | undefined = undefined;
  constructor(
    private readonly core: EmulatorCore,
    readonly version: string,
  ) {}
  app(appId: string): void {
    this.appUsage = this.core.limits.appUsage(appId, this.core.clock.now());
  }
  waba(wabaId: string): void {
    this.businessUsage = this.core.limits.businessUsage(wabaId, this.core.clock.now());
  }
}

/** Reads the body, then answers; callbacks only (no promise or async function per send, the benchmarks' hot path). */
function handle(
  core: EmulatorCore,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  phoneNumberId: string,
  search: string | undefined,
  meta: SendMeta,
): void {
  core.counters.set(ENDPOINT, (core.counters.get(ENDPOINT) ?? 0) + 1);
  const declared = incoming.headers['content-length'];
  if (declared !== undefined && Number(declared) > core.settings.maxBodyBytes) {
    const err = graphError(
      100,
      `(#100) The request body is larger than the emulator accepts (${core.settings.maxBodyBytes} bytes)`,
      { status: 413 },
    );
    answer(outgoing, graphErrorParts(core, err, 'whatsapp', meta));
    return;
  }
  readIncomingThen(incoming, core.settings.maxBodyBytes, (err, bytes) => {
    if (err) answer(outgoing, graphErrorParts(core, err, 'whatsapp', meta));
    else
      answer(outgoing, send(core, incoming, phoneNumberId, search, meta, (bytes as Buffer).toString('utf8')));
  });
}

/** Runs sendMessage on the body: the answer's status, headers and JSON, or the Graph error's. */
function send(
  core: EmulatorCore,
  incoming: IncomingMessage,
  phoneNumberId: string,
  search: string | undefined,
  meta: SendMeta,
  text: string,
): { status: number; headers: Record<string, string>; body: string } {
  try {
    const result = sendMessage(
      core,
      {
        phoneNumberId,
        query: search ? Object.fromEntries(new URLSearchParams(search)) : undefined,
        contentType: incoming.headers['content-type'] ?? '',
        authorization: incoming.headers.authorization,
        text,
      },
      meta,
    );
    // The same headers as metaHeaders() + content-type, built in one literal (this runs for every send).
    const headers = {
      'x-fb-trace-id': meta.trace,
      'x-fb-request-id': meta.trace,
      'facebook-api-version': meta.version,
      'cache-control': CACHE_CONTROL,
      'x-app-usage': meta.appUsage as string,
      'x-business-use-case-usage': meta.businessUsage as string,
      'content-type': 'application/json',
      'content-length': '',
    };
    return { status: 200, headers, body: sendResponseJson(result) };
  } catch (err) {
    return graphErrorParts(core, err, 'whatsapp', meta);
  }
}

function answer(
  outgoing: ServerResponse,
  { status, headers, body }: { status: number; headers: Record<string, string>; body: string },
): void {
  if (outgoing.destroyed) return;
  headers['content-length'] = String(Buffer.byteLength(body));
  outgoing.writeHead(status, headers);
  outgoing.end(body);
}
