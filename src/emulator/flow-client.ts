import { createHmac } from 'node:crypto';
import { decryptFlowResponse, encryptFlowRequest, FlowCryptoError } from '../flows/crypto.js';
import { checkScreenData, type FlowJson, validateFlowJson } from '../flows/flow-json.js';
import type { EmulatorCore } from './context.js';
import type { FlowRecord } from './flow-state.js';
import { ControlError } from './world.js';

/**
 * The emulator playing the WhatsApp client against a Flow endpoint: it encrypts each request with the business
 * public key set on the phone number, signs the body with the app secret (`X-Hub-Signature-256`, like every Meta
 * request to a business), decrypts the answer with the flipped IV and checks it against the Flow JSON.
 */

/** Meta waits 10 s for an endpoint answer. */
export const FLOW_ENDPOINT_TIMEOUT_MS = 10_000;

export type EndpointOutcome =
  | { ok: true; status: 200; answer: Record<string, unknown>; latencyMs: number }
  | { ok: false; status: number; problem: string; latencyMs: number };

/** One request to the flow's endpoint. A 421 makes the client re-read the public key and try once more (Meta). */
export async function callFlowEndpoint(
  core: EmulatorCore,
  flow: FlowRecord,
  phoneNumberId: string,
  plain: Record<string, unknown>,
): Promise<EndpointOutcome> {
  if (!flow.endpointUri)
    return { ok: false, status: 0, problem: 'the flow has no endpoint_uri', latencyMs: 0 };
  const app = core.state.apps.get(flow.applicationId);
  if (!app)
    return { ok: false, status: 0, problem: `the flow's app ${flow.applicationId} is gone`, latencyMs: 0 };
  let outcome: EndpointOutcome | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const key = core.state.flowKeys.get(phoneNumberId);
    if (!key) {
      return {
        ok: false,
        status: 0,
        problem: `no business public key is set on ${phoneNumberId}`,
        latencyMs: 0,
      };
    }
    const sealed = encryptFlowRequest(plain, key.publicKeyPem);
    const body = JSON.stringify(sealed.body);
    const started = Date.now();
    let status = 0;
    let text = '';
    try {
      const res = await core.webhooks.options.fetch(flow.endpointUri, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': `sha256=${createHmac('sha256', app.secret).update(body).digest('hex')}`,
        },
        body,
        signal: AbortSignal.timeout(FLOW_ENDPOINT_TIMEOUT_MS),
      });
      status = res.status;
      text = await res.text();
    } catch (error) {
      const why =
        error instanceof Error && error.name === 'TimeoutError' ? 'timed out after 10 s' : 'unreachable';
      outcome = { ok: false, status: 0, problem: `the endpoint is ${why}`, latencyMs: Date.now() - started };
      break;
    }
    const latencyMs = Date.now() - started;
    if (status === 421 && attempt === 0) continue;
    if (status !== 200) {
      outcome = { ok: false, status, problem: describeStatus(status), latencyMs };
      break;
    }
    try {
      const answer = decryptFlowResponse<unknown>(text, sealed.aesKey, sealed.initialVector);
      if (!answer || typeof answer !== 'object' || Array.isArray(answer)) {
        outcome = { ok: false, status, problem: 'the decrypted answer is not an object', latencyMs };
      } else outcome = { ok: true, status: 200, answer: answer as Record<string, unknown>, latencyMs };
    } catch (error) {
      const why = error instanceof FlowCryptoError ? error.message : 'unreadable';
      outcome = { ok: false, status, problem: `the answer could not be decrypted: ${why}`, latencyMs };
    }
    break;
  }
  const result = outcome ?? { ok: false, status: 421, problem: describeStatus(421), latencyMs: 0 };
  record(core, flow, result);
  return result;
}

function describeStatus(status: number): string {
  switch (status) {
    case 421:
      return 'the endpoint could not decrypt the request (421), even after the client re-read the public key';
    case 427:
      return 'the endpoint refused the flow token (427): the client closes the flow';
    case 432:
      return 'the endpoint refused the request signature (432)';
    default:
      return `the endpoint answered HTTP ${status}`;
  }
}

function record(core: EmulatorCore, flow: FlowRecord, r: EndpointOutcome): void {
  const day = new Date(core.clock.now()).toISOString().slice(0, 10);
  flow.endpointStats[day] ??= { requests: 0, errors: 0, latencyMsTotal: 0 };
  const stats = flow.endpointStats[day];
  stats.requests++;
  if (!r.ok) stats.errors++;
  stats.latencyMsTotal += r.latencyMs;
  core.state.touch();
}

/** The flow's parsed JSON, or a control error when none was uploaded. */
export function flowJsonOf(flow: FlowRecord): FlowJson {
  if (!flow.json) throw new ControlError(`flow ${flow.id} has no Flow JSON`, 409);
  const { flow: parsed } = validateFlowJson(flow.json);
  if (!parsed) throw new ControlError(`flow ${flow.id} has an invalid Flow JSON`, 409);
  return parsed;
}

/**
 * What is wrong with an endpoint's answer for the client: an unknown screen, a transition the routing model does
 * not allow, or data that does not match the screen's declarations. `SUCCESS` must carry
 * `extension_message_response.params` with the flow token.
 */
export function checkAnswer(
  json: FlowJson,
  from: string | undefined,
  answer: Record<string, unknown>,
): string[] {
  const screen = answer.screen;
  if (typeof screen !== 'string') return ['the answer has no screen'];
  if (screen === 'SUCCESS') {
    const ext = (
      answer.data as { extension_message_response?: { params?: Record<string, unknown> } } | undefined
    )?.extension_message_response;
    if (!ext?.params || typeof ext.params !== 'object') {
      return ['SUCCESS needs data.extension_message_response.params'];
    }
    if (typeof ext.params.flow_token !== 'string') return ['SUCCESS params need the flow_token'];
    return [];
  }
  const problems = checkScreenData(json, screen, answer.data);
  if (from && from !== screen && json.routing_model) {
    const allowed = json.routing_model[from] ?? [];
    if (!allowed.includes(screen)) problems.push(`routing_model does not allow ${from} -> ${screen}`);
  }
  return problems;
}
