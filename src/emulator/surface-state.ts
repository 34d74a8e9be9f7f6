/** Records of the Cloud API areas beyond messaging (groups, calls, QR codes), kept in the emulator state file. */

export interface GroupJoinRequest {
  id: string;
  waId: string;
  createdAtMs: number;
}

export interface GroupRecord {
  id: string;
  phoneNumberId: string;
  /** The creation request id Meta answers `POST /{phone}/groups` with. */
  requestId: string;
  subject: string;
  description: string;
  joinApprovalMode: 'approval_required' | 'auto_approve';
  createdAtMs: number;
  /** wa_ids, without the business. */
  participants: string[];
  /** The code of `https://chat.whatsapp.com/<code>`; undefined once deleted. */
  inviteCode: string | undefined;
  joinRequests: GroupJoinRequest[];
  suspended: boolean;
}

export type CallStatus = 'RINGING' | 'PRE_ACCEPTED' | 'ACCEPTED' | 'REJECTED' | 'COMPLETED' | 'FAILED';

export interface CallRecord {
  id: string;
  phoneNumberId: string;
  /** The user's wa_id. */
  waId: string;
  direction: 'BUSINESS_INITIATED' | 'USER_INITIATED';
  status: CallStatus;
  /** SDP the business sent (offer for connect, answer for accept) and the one the emulated user sent. */
  businessSdp: string | undefined;
  userSdp: string | undefined;
  createdAtMs: number;
  connectedAtMs: number | undefined;
  endedAtMs: number | undefined;
  bizOpaqueCallbackData: string | undefined;
}

export interface QrCodeRecord {
  /** Meta's `code`: the id in the wa.me/message/<code> link. */
  id: string;
  phoneNumberId: string;
  prefilledMessage: string;
  createdAtMs: number;
}

/** Per-number settings of the areas (absent on numbers from older state files: defaults apply). */
export interface NumberSurface {
  blockedUsers: string[];
  calling: Record<string, unknown>;
  /** The other `/settings` objects (payload_encryption, storage_configuration, user_identity_change). */
  settings?: Record<string, unknown>;
  /** wa_ids that granted call permission, with when it expires. */
  callPermissions: Record<string, number>;
  /** Conversational components: welcome message, ice breakers (prompts), commands. */
  automation?: {
    enableWelcomeMessage: boolean;
    prompts: string[];
    commands: Array<{ command_name: string; command_description: string }>;
  };
  /** Commerce settings (`whatsapp_commerce_settings`). */
  commerce?: { id: string; isCartEnabled: boolean; isCatalogVisible: boolean };
  /** A display name change (`POST /{phone}` new_display_name) and Meta's review outcome. */
  displayNameRequest?: { name: string; status: 'PENDING_REVIEW' | 'APPROVED' | 'DECLINED' };
  /** The verify token of the per-number webhook override (`webhook_configuration`). */
  webhookVerifyToken?: string;
  /** What the control API set as this number's messaging health (absent: AVAILABLE). */
  health?: EntityHealth;
}

/** One entity's `can_send_message` in Meta's `health_status`, with the errors that explain it. */
export interface EntityHealth {
  canSendMessage: 'AVAILABLE' | 'LIMITED' | 'BLOCKED';
  errors: Array<{ error_code: number; error_description: string; possible_solution?: string }>;
}

export function surfaceOf(phone: { surface?: NumberSurface | undefined }): NumberSurface {
  phone.surface ??= { blockedUsers: [], calling: { status: 'disabled' }, callPermissions: {} };
  return phone.surface;
}
