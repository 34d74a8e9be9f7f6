import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';

export interface CallingSettings {
  status: 'enabled' | 'disabled';
  call_icon_visibility?: 'visible' | 'disable_all' | string;
  callback_permission_status?: 'enabled' | 'disabled';
  video?: { status: 'enabled' | 'disabled' };
  sip?: { status: 'enabled' | 'disabled'; servers?: unknown[] };
  srtp_key_exchange_protocol?: 'DTLS-SRTP' | 'SDES' | string;
  call_hours?: unknown;
  [key: string]: unknown;
}

export interface NumberSettings {
  calling?: CallingSettings;
  payload_encryption?: { status: 'enabled' | 'disabled'; [key: string]: unknown };
  storage_configuration?: { status?: string; [key: string]: unknown };
  user_identity_change?: { enabled: boolean };
}

export interface CallPermission {
  messaging_product: 'whatsapp';
  permission: {
    status: 'granted' | 'pending' | 'denied' | 'no_permission' | string;
    expiration_time?: number;
  };
  actions: Array<{ action_name: string; can_perform_action: boolean; limits?: unknown[] | null }>;
}

/** WebRTC SDP as Meta takes it: `v=0` first, an audio media line. */
function sdp(value: string, name: string): string {
  if (typeof value !== 'string' || !/^v=0\r?\n/.test(value) || !/\nm=audio /.test(value)) {
    throw new ValidationError('must be an SDP description (v=0 ... m=audio ...)', name);
  }
  return value;
}

function callId(id: string): string {
  if (typeof id !== 'string' || !/^wacid\.[A-Za-z0-9_=-]{1,200}$/.test(id))
    throw new ValidationError('is not a call id (wacid....)', 'callId');
  return id;
}

/**
 * `wa.calling`: the Calling API of the sender number. Business-initiated: `connect` with your SDP offer (the
 * user's answer arrives in the `calls` webhook). User-initiated: the `calls` webhook brings the user's offer;
 * answer with `preAccept` / `accept` (SDP answer) or `reject`. `terminate` ends either.
 */
export class CallingApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly sender: () => string,
  ) {}

  async settings(): Promise<NumberSettings> {
    return this.graph.get(`${this.sender()}/settings`);
  }

  /** `POST /{phone}/settings`, e.g. `{ calling: { status: 'enabled' } }`. */
  async updateSettings(settings: NumberSettings): Promise<{ success: boolean }> {
    if (!settings || Object.keys(settings).length === 0)
      throw new ValidationError('needs at least one setting', 'settings');
    return this.graph.post(`${this.sender()}/settings`, settings);
  }

  /** Whether the user granted call permission, and which actions are possible now. */
  async permissions(userWaId: string): Promise<CallPermission> {
    if (!/^\+?\d{6,20}$/.test(userWaId)) throw new ValidationError('is not a WhatsApp id', 'userWaId');
    return this.graph.get(`${this.sender()}/call_permissions`, { user_wa_id: userWaId });
  }

  /** Calls a user (who granted permission) with your SDP offer. */
  async connect(input: {
    to: string;
    sdp: string;
    bizOpaqueCallbackData?: string;
  }): Promise<{ calls: Array<{ id: string }> }> {
    if (!/^\+?\d{6,20}$/.test(input.to))
      throw new ValidationError('is not a phone number or WhatsApp id', 'to');
    return this.graph.post(`${this.sender()}/calls`, {
      messaging_product: 'whatsapp',
      to: input.to,
      action: 'connect',
      session: { sdp_type: 'offer', sdp: sdp(input.sdp, 'sdp') },
      ...(input.bizOpaqueCallbackData ? { biz_opaque_callback_data: input.bizOpaqueCallbackData } : {}),
    });
  }

  /** Sets up media for a user's call before accepting it (faster connection). */
  async preAccept(id: string, answerSdp: string): Promise<{ success: boolean }> {
    return this.#action(id, 'pre_accept', sdp(answerSdp, 'sdp'));
  }

  async accept(id: string, answerSdp: string): Promise<{ success: boolean }> {
    return this.#action(id, 'accept', sdp(answerSdp, 'sdp'));
  }

  async reject(id: string): Promise<{ success: boolean }> {
    return this.#action(id, 'reject');
  }

  async terminate(id: string): Promise<{ success: boolean }> {
    return this.#action(id, 'terminate');
  }

  async #action(id: string, action: string, answer?: string): Promise<{ success: boolean }> {
    return this.graph.post(`${this.sender()}/calls`, {
      messaging_product: 'whatsapp',
      call_id: callId(id),
      action,
      ...(answer ? { session: { sdp_type: 'answer', sdp: answer } } : {}),
    });
  }
}
