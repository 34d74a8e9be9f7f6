/**
 * The plain (decrypted) Flow endpoint protocol, data API version 3.0 (Meta, "Implementing Endpoint for Flows").
 * Requests carry `version`, `action`, `flow_token`, and for screen actions `screen` and `data`.
 */

/** The health check Meta sends to every endpoint: answer `{ data: { status: 'active' } }`. */
export interface FlowPingRequest {
  version: string;
  action: 'ping';
}

interface FlowScreenRequestBase {
  version: string;
  flow_token: string;
  /** The screen the user is on (absent on INIT). */
  screen?: string;
  data?: Record<string, unknown>;
}

/** The flow was opened with `flow_action: data_exchange`: answer with the first screen and its data. */
export interface FlowInitRequest extends FlowScreenRequestBase {
  action: 'INIT';
}

/** A screen's `data_exchange` action: answer with the next screen, or complete the flow. */
export interface FlowDataExchangeRequest extends FlowScreenRequestBase {
  action: 'data_exchange';
  screen: string;
  data: Record<string, unknown>;
}

/** The user pressed back on a screen with `refresh_on_back: true`. */
export interface FlowBackRequest extends FlowScreenRequestBase {
  action: 'BACK';
  screen: string;
}

/** The client reports that the previous answer was invalid; answer `{ data: { acknowledged: true } }`. */
export interface FlowErrorNotification extends FlowScreenRequestBase {
  action: 'INIT' | 'data_exchange' | 'BACK';
  data: { error: string; error_message?: string; [key: string]: unknown };
}

export type FlowRequest =
  | FlowPingRequest
  | FlowInitRequest
  | FlowDataExchangeRequest
  | FlowBackRequest
  | FlowErrorNotification;

/** Show `screen` with `data` (which must match the screen's declared data). */
export interface FlowScreenResponse {
  screen: string;
  data?: Record<string, unknown>;
}

/** Ends the flow: the client closes it and sends the `nfm_reply` message carrying `params`. */
export interface FlowCompleteResponse {
  screen: 'SUCCESS';
  data: { extension_message_response: { params: { flow_token: string; [key: string]: unknown } } };
}

export type FlowResponse = FlowScreenResponse | FlowCompleteResponse;

/** The answer that closes a flow (Meta: screen `SUCCESS` with `extension_message_response.params`). */
export function completeFlow(flowToken: string, params: Record<string, unknown> = {}): FlowCompleteResponse {
  return {
    screen: 'SUCCESS',
    data: { extension_message_response: { params: { ...params, flow_token: flowToken } } },
  };
}

/** What kind of request a decrypted body is (an error notification is a screen action carrying `data.error`). */
export function classifyFlowRequest(
  body: unknown,
):
  | { kind: 'ping'; request: FlowPingRequest }
  | { kind: 'error'; request: FlowErrorNotification }
  | { kind: 'INIT'; request: FlowInitRequest }
  | { kind: 'data_exchange'; request: FlowDataExchangeRequest }
  | { kind: 'BACK'; request: FlowBackRequest }
  | { kind: 'invalid'; message: string } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { kind: 'invalid', message: 'the decrypted request is not a JSON object' };
  }
  const b = body as Record<string, unknown>;
  if (b.action === 'ping') return { kind: 'ping', request: b as unknown as FlowPingRequest };
  if (b.action !== 'INIT' && b.action !== 'data_exchange' && b.action !== 'BACK') {
    return { kind: 'invalid', message: `unknown action ${JSON.stringify(b.action)}` };
  }
  if (typeof b.flow_token !== 'string' || b.flow_token === '') {
    return { kind: 'invalid', message: 'flow_token is missing' };
  }
  if (b.data !== undefined && (b.data === null || typeof b.data !== 'object' || Array.isArray(b.data))) {
    return { kind: 'invalid', message: 'data must be an object' };
  }
  const data = b.data as Record<string, unknown> | undefined;
  if (data && typeof data.error === 'string') {
    return { kind: 'error', request: b as unknown as FlowErrorNotification };
  }
  if (b.action !== 'INIT' && typeof b.screen !== 'string') {
    return { kind: 'invalid', message: `${b.action} needs the screen name` };
  }
  if (b.action === 'data_exchange') {
    return {
      kind: 'data_exchange',
      request: { ...(b as unknown as FlowDataExchangeRequest), data: data ?? {} },
    };
  }
  if (b.action === 'BACK') return { kind: 'BACK', request: b as unknown as FlowBackRequest };
  return { kind: 'INIT', request: b as unknown as FlowInitRequest };
}
