import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import { type ListOptions, type Paged, type PageIterator, paginate } from './paginate.js';
import { objectId, requireWaba } from './require-waba.js';

export type { Paged } from './paginate.js';

export interface PhoneNumber {
  id: string;
  display_phone_number?: string;
  verified_name?: string;
  quality_rating?: string;
  code_verification_status?: string;
  platform_type?: string;
  throughput?: { level: string };
  /** Review status of the current display name, and of a requested change (`new_display_name`). */
  name_status?: string;
  new_display_name?: string;
  new_name_status?: 'PENDING_REVIEW' | 'APPROVED' | 'DECLINED';
  webhook_configuration?: { phone_number?: string; whatsapp_business_account?: string; application?: string };
  health_status?: HealthStatus;
  [key: string]: unknown;
}

/** Meta's `health_status`: whether messages can be sent, overall and per entity (number, WABA, business). */
export interface HealthStatus {
  can_send_message: 'AVAILABLE' | 'LIMITED' | 'BLOCKED';
  entities: Array<{
    entity_type: string;
    id: string;
    can_send_message: 'AVAILABLE' | 'LIMITED' | 'BLOCKED';
    errors?: Array<{ error_code: number; error_description: string; possible_solution?: string }>;
  }>;
}

/** `POST /{phone-number-id}` settings. `webhookOverride: null` removes the number's override. */
export interface PhoneNumberSettings {
  /** The two-step verification PIN (6 digits). */
  pin?: string;
  /** Asks Meta to review a new display name; see `new_name_status`. */
  newDisplayName?: string;
  webhookOverride?: { callbackUri: string; verifyToken: string } | null;
}

export interface BusinessProfile {
  about?: string;
  address?: string;
  description?: string;
  email?: string;
  messaging_product?: 'whatsapp';
  profile_picture_url?: string;
  profile_picture_handle?: string;
  vertical?: string;
  websites?: string[];
}

/** `wa.phoneNumbers`: the WABA's numbers. */
export class PhoneNumbersApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly waba: () => string | undefined,
  ) {}

  /** Every number of the WABA: `for await (const n of wa.phoneNumbers.list())`. */
  list(options: ListOptions = {}): PageIterator<PhoneNumber> {
    return paginate(this.graph, () => `${requireWaba(this.waba())}/phone_numbers`, options);
  }

  async get(phoneNumberId: string, fields?: string): Promise<PhoneNumber> {
    return this.graph.get<PhoneNumber>(encodeURIComponent(phoneNumberId), { fields });
  }

  /** `POST /{phone-number-id}`: two-step verification PIN, display name change, webhook override. */
  async update(phoneNumberId: string, settings: PhoneNumberSettings): Promise<{ success: boolean }> {
    const body: Record<string, unknown> = {};
    if (settings.pin !== undefined) {
      if (!/^\d{6}$/.test(settings.pin)) throw new ValidationError('must be 6 digits', 'pin');
      body.pin = settings.pin;
    }
    if (settings.newDisplayName !== undefined) body.new_display_name = settings.newDisplayName;
    if (settings.webhookOverride !== undefined) {
      const w = settings.webhookOverride;
      body.webhook_configuration = w
        ? { override_callback_uri: w.callbackUri, verify_token: w.verifyToken }
        : { override_callback_uri: '' };
    }
    if (Object.keys(body).length === 0)
      throw new ValidationError('needs pin, newDisplayName or webhookOverride', 'settings');
    return this.graph.post(encodeURIComponent(phoneNumberId), body);
  }

  /** The number's `health_status` (can it send, and what blocks it). */
  async health(phoneNumberId: string): Promise<HealthStatus> {
    return (await this.get(phoneNumberId, 'health_status')).health_status as HealthStatus;
  }
}

export interface BusinessAccount {
  id: string;
  name?: string;
  currency?: string;
  timezone_id?: string;
  message_template_namespace?: string;
  health_status?: HealthStatus;
  [key: string]: unknown;
}

/** `wa.account`: the WhatsApp Business Account itself (`GET`/`POST /{waba-id}`). */
export class BusinessAccountApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly waba: () => string | undefined,
  ) {}

  async get(fields?: string, wabaId?: string): Promise<BusinessAccount> {
    return this.graph.get(
      objectId(requireWaba(wabaId ?? this.waba()), 'wabaId'),
      fields ? { fields } : undefined,
    );
  }

  /** Renames the account or changes its time zone (a Graph timezone id). */
  async update(
    input: { name?: string; timezoneId?: string },
    wabaId?: string,
  ): Promise<{ success: boolean }> {
    if (input.name === undefined && input.timezoneId === undefined)
      throw new ValidationError('needs name or timezoneId', 'input');
    return this.graph.post(objectId(requireWaba(wabaId ?? this.waba()), 'wabaId'), {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.timezoneId !== undefined ? { timezone_id: input.timezoneId } : {}),
    });
  }

  /** `GET /{waba-id}/assigned_users`: people and system users with their tasks. */
  async assignedUsers(wabaId?: string): Promise<Paged<{ id: string; name?: string; tasks: string[] }>> {
    return this.graph.get(`${objectId(requireWaba(wabaId ?? this.waba()), 'wabaId')}/assigned_users`);
  }

  /** `POST /{waba-id}/assigned_users`: gives a user or system user of the business these tasks on the account. */
  async assignUser(userId: string, tasks: string[], wabaId?: string): Promise<{ success: boolean }> {
    if (tasks.length === 0) throw new ValidationError('needs at least one task', 'tasks');
    return this.graph.post(`${objectId(requireWaba(wabaId ?? this.waba()), 'wabaId')}/assigned_users`, {
      user: objectId(userId, 'userId'),
      tasks,
    });
  }

  /** `DELETE /{waba-id}/assigned_users`: takes the account away from that user. */
  async unassignUser(userId: string, wabaId?: string): Promise<{ success: boolean }> {
    return this.graph.delete(`${objectId(requireWaba(wabaId ?? this.waba()), 'wabaId')}/assigned_users`, {
      user: objectId(userId, 'userId'),
    });
  }
}

/** `wa.profile`: the sender number's business profile. */
export class ProfileApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly sender: () => string,
  ) {}

  async get(
    fields = 'about,address,description,email,profile_picture_url,websites,vertical',
  ): Promise<Paged<BusinessProfile>> {
    return this.graph.get(`${this.sender()}/whatsapp_business_profile`, { fields });
  }

  async update(
    profile: Omit<BusinessProfile, 'messaging_product' | 'profile_picture_url'>,
  ): Promise<{ success: boolean }> {
    if (profile.about !== undefined && [...profile.about].length > 139) {
      throw new ValidationError("is over Meta's 139-character limit", 'about');
    }
    return this.graph.post(`${this.sender()}/whatsapp_business_profile`, {
      messaging_product: 'whatsapp',
      ...profile,
    });
  }
}

/** `wa.registration`: register, deregister, request and verify the sender number's code. */
export class RegistrationApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly sender: () => string,
  ) {}

  async register(input: { pin: string; dataLocalizationRegion?: string }): Promise<{ success: boolean }> {
    if (!/^\d{6}$/.test(input.pin)) throw new ValidationError('must be 6 digits', 'pin');
    return this.graph.post(`${this.sender()}/register`, {
      messaging_product: 'whatsapp',
      pin: input.pin,
      ...(input.dataLocalizationRegion ? { data_localization_region: input.dataLocalizationRegion } : {}),
    });
  }

  async deregister(): Promise<{ success: boolean }> {
    return this.graph.post(`${this.sender()}/deregister`, {});
  }

  async requestCode(input: {
    codeMethod: 'SMS' | 'VOICE';
    language?: string;
  }): Promise<{ success: boolean }> {
    return this.graph.post(`${this.sender()}/request_code`, {
      code_method: input.codeMethod,
      language: input.language ?? 'en_US',
    });
  }

  async verifyCode(code: string): Promise<{ success: boolean }> {
    if (!/^\d{6}$/.test(code)) throw new ValidationError('must be 6 digits', 'code');
    return this.graph.post(`${this.sender()}/verify_code`, { code });
  }
}

export interface SubscribedApp {
  whatsapp_business_api_data?: { id: string; name?: string; link?: string };
  override_callback_uri?: string;
}

/** `wa.subscriptions`: the app's webhook subscription on the WABA (`subscribed_apps`). */
export class SubscriptionsApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly waba: () => string | undefined,
  ) {}

  async list(wabaId?: string): Promise<Paged<SubscribedApp>> {
    return this.graph.get(`${requireWaba(wabaId ?? this.waba())}/subscribed_apps`);
  }

  /** Subscribes the app; with `overrideCallbackUri` (+ `verifyToken`) this WABA's webhooks go to another endpoint. */
  async subscribe(
    input: { wabaId?: string; overrideCallbackUri?: string; verifyToken?: string } = {},
  ): Promise<{ success: boolean }> {
    if (input.overrideCallbackUri && !input.verifyToken) {
      throw new ValidationError('is required with overrideCallbackUri', 'verifyToken');
    }
    const body = input.overrideCallbackUri
      ? { override_callback_uri: input.overrideCallbackUri, verify_token: input.verifyToken }
      : undefined;
    return this.graph.post(`${requireWaba(input.wabaId ?? this.waba())}/subscribed_apps`, body);
  }

  async unsubscribe(wabaId?: string): Promise<{ success: boolean }> {
    return this.graph.delete(`${requireWaba(wabaId ?? this.waba())}/subscribed_apps`);
  }
}
