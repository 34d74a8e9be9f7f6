import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'undici';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';
import { decryptFlowRequest, encryptFlowResponse, FlowCryptoError } from '../flows/crypto.js';
import {
  DEFAULT_FLOW_MAX_BODY_BYTES,
  DEFAULT_FLOW_TIMEOUT_MS,
  FLOW_REJECTION_STATUS,
  type FlowRejection,
} from '../flows/endpoint.js';
import { FlowKeyCustody } from '../flows/key-custody.js';
import { classifyFlowRequest } from '../flows/types.js';
import { readBody } from '../webhooks/adapters/node.js';
import { SIGNATURE_HEADER, verifySignature } from '../webhooks/verify-signature.js';
import type { BrokerStore } from './ports.js';
import { signStandardWebhook } from './standard-webhooks.js';

/**
 * `POST /flows/{phone-number-id or tenant-id}`: the broker as the Flow endpoint Meta calls. It checks Meta's
 * signature (432), decrypts with the number's key from the vault (421 when no active or retiring key fits), answers
 * the health check itself, and forwards the plain request to the tenant's flow service (an active subscription with
 * the `flows` event), signed the Standard Webhooks way; the service answers plain JSON, which the broker encrypts.
 * Tenants never see a private key.
 */

/** The subscription event a tenant's flow service subscribes with (never matched by `*`: these calls are synchronous). */
export const FLOWS_EVENT = 'flows';
/** How often the endpoint erases retired keys' private halves (on a request, at most this often). */
const RETIRE_EVERY_MS = 10 * 60_000;

export interface BrokerFlowEndpointOptions {
  store: BrokerStore;
  appSecrets: Secret[];
  clock: Clock;
  logger: Logger;
  /** Time the tenant's service has to answer; default 8 s (Meta gives up at 10 s). */
  timeoutMs?: number;
  /** POSTs to the tenant's service; injectable for tests. */
  send?: (
    url: string,
    headers: Record<string, string>,
    body: string,
    timeoutMs: number,
  ) => Promise<{ status: number; body: string }>;
}

async function postJson(url: string, headers: Record<string, string>, body: string, timeoutMs: number) {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'wacloud-broker', ...headers },
    body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  return { status: res.statusCode, body: await res.body.text() };
}

function write(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function createBrokerFlowEndpoint(options: BrokerFlowEndpointOptions) {
  const { store, clock, logger } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_FLOW_TIMEOUT_MS;
  const send = options.send ?? postJson;
  const flowKeys = store.flowKeys;
  const custody = flowKeys ? new FlowKeyCustody({ store: flowKeys, clock }) : undefined;

  const reject = (res: ServerResponse, reason: FlowRejection, detail: string, target: string) => {
    logger.warn('flow endpoint request refused', { reason, detail, target });
    write(res, FLOW_REJECTION_STATUS[reason], reason);
  };

  /** The numbers a target names: a phone number id, or every number of a tenant. */
  async function numbersOf(target: string): Promise<{ tenantId: string; phones: string[] } | undefined> {
    const phone = /^\d{1,32}$/.test(target) ? await store.phoneNumbers.get(target) : undefined;
    if (phone) return { tenantId: phone.tenantId, phones: [phone.id] };
    const tenant = await store.tenants.get(target);
    if (!tenant) return undefined;
    const phones = (await store.phoneNumbers.listByTenant(tenant.id)).map((p) => p.id);
    return { tenantId: tenant.id, phones };
  }

  // Keys past their grace period are already refused (privateKeys filters them); this erases their private half.
  let lastRetireMs = 0;
  const maybeRetire = () => {
    const now = clock.now();
    if (!custody || now - lastRetireMs < RETIRE_EVERY_MS) return;
    lastRetireMs = now;
    custody.retireDue().catch((error: unknown) => logger.warn('retiring flow keys failed', { error }));
  };

  return async function handle(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('allow', 'POST');
      return reject(res, 'method_not_allowed', req.method ?? '', target);
    }
    const got = await readBody(req, DEFAULT_FLOW_MAX_BODY_BYTES);
    if (got.kind === 'too_large') return reject(res, 'payload_too_large', 'body over 1 MiB', target);
    if (got.kind !== 'ok') return void res.destroy();
    const raw = got.body;
    const check = verifySignature(raw, req.headers[SIGNATURE_HEADER], options.appSecrets);
    if (!check.valid) return reject(res, 'bad_signature', check.reason, target);
    const owner = custody ? await numbersOf(target) : undefined;
    if (!custody || !owner) return reject(res, 'not_found', 'no such phone number or tenant', target);
    maybeRetire();
    // The number whose key opens the request is the number the client wrote to (a tenant target tries each).
    let opened: ReturnType<typeof decryptFlowRequest> | undefined;
    let phone: string | undefined;
    let failure: FlowCryptoError | undefined;
    for (const p of owner.phones) {
      try {
        opened = decryptFlowRequest(raw, await custody.privateKeys(p));
        phone = p;
        break;
      } catch (error) {
        if (!(error instanceof FlowCryptoError)) throw error;
        failure = error;
        if (error.status === 400) break;
      }
    }
    if (!opened || !phone) {
      const why = failure?.status === 400 ? 'malformed_request' : 'cannot_decrypt';
      return reject(res, why, failure?.message ?? 'no flow key for this target', target);
    }
    const decrypted = opened;
    const reply = (answer: unknown) =>
      write(res, 200, encryptFlowResponse(answer, decrypted.aesKey, decrypted.initialVector));
    const kind = classifyFlowRequest(decrypted.decryptedBody);
    if (kind.kind === 'invalid') return reject(res, 'malformed_request', kind.message, target);
    // Meta's health check: answered here, so a flow publishes and stays healthy without the tenant's service.
    if (kind.kind === 'ping') return reply({ data: { status: 'active' } });
    const subs = (await store.subscriptions.listByTenant(owner.tenantId)).filter(
      (s) => s.active && s.events.includes(FLOWS_EVENT),
    );
    const sub = subs[0];
    if (!sub)
      return reject(
        res,
        'handler_failed',
        `tenant ${owner.tenantId} has no active "${FLOWS_EVENT}" subscription`,
        target,
      );
    const body = JSON.stringify(decrypted.decryptedBody);
    const headers = {
      ...signStandardWebhook(sub.secret, `flow_${randomUUID()}`, Math.floor(Date.now() / 1000), body),
      'wacloud-event': FLOWS_EVENT,
      'wacloud-phone-number-id': phone,
    };
    let answer: { status: number; body: string };
    try {
      answer = await send(sub.url, headers, body, timeoutMs);
    } catch {
      // The client acknowledges error notifications whatever the service does; other actions need its answer.
      if (kind.kind === 'error') return reply({ data: { acknowledged: true } });
      return reject(res, 'handler_timeout', `the flow service did not answer within ${timeoutMs} ms`, target);
    }
    if (kind.kind === 'error' && answer.status !== 200) return reply({ data: { acknowledged: true } });
    if (answer.status === 427)
      return reject(res, 'invalid_flow_token', 'the flow service refused the flow token', target);
    if (answer.status !== 200)
      return reject(res, 'handler_failed', `the flow service answered HTTP ${answer.status}`, target);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      parsed = undefined;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return reject(res, 'handler_failed', 'the flow service did not answer a JSON object', target);
    }
    return reply(parsed);
  };
}
