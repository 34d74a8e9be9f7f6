import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';

/** A Graph list response. */
export interface Paged<T> {
  data: T[];
  paging?: { cursors?: { before?: string; after?: string }; next?: string; previous?: string };
}

export interface MessageTemplate {
  id: string;
  name: string;
  language: string;
  status: string;
  category: string;
  components?: unknown[];
  [key: string]: unknown;
}

export interface PhoneNumber {
  id: string;
  display_phone_number?: string;
  verified_name?: string;
  quality_rating?: string;
  code_verification_status?: string;
  platform_type?: string;
  throughput?: { level: string };
  [key: string]: unknown;
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

function requireWaba(id: string | undefined): string {
  if (!id) {
    throw new ValidationError(
      'is required for this call: set WA_BUSINESS_ACCOUNT_ID or pass businessAcctId',
      'businessAcctId',
    );
  }
  return id;
}

/** `wa.templates`: message templates of the WABA. */
export class TemplatesApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly waba: () => string | undefined,
  ) {}

  async list(
    query: { name?: string; status?: string; limit?: number; after?: string; fields?: string } = {},
  ): Promise<Paged<MessageTemplate>> {
    return this.graph.get<Paged<MessageTemplate>>(`${requireWaba(this.waba())}/message_templates`, query);
  }

  async create(template: {
    name: string;
    language: string;
    category: 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';
    components: unknown[];
    allow_category_change?: boolean;
    parameter_format?: 'POSITIONAL' | 'NAMED';
  }): Promise<{ id: string; status: string; category: string }> {
    if (!/^[a-z0-9_]{1,512}$/.test(template.name)) {
      throw new ValidationError('must be lowercase letters, digits and underscores', 'template.name');
    }
    return this.graph.post(`${requireWaba(this.waba())}/message_templates`, template);
  }

  /** Deletes by name (all languages), or one language version with `hsmId`. */
  async delete(input: { name: string; hsmId?: string }): Promise<{ success: boolean }> {
    return this.graph.delete(`${requireWaba(this.waba())}/message_templates`, {
      name: input.name,
      hsm_id: input.hsmId,
    });
  }
}

/** `wa.phoneNumbers`: the WABA's numbers. */
export class PhoneNumbersApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly waba: () => string | undefined,
  ) {}

  async list(query: { fields?: string; limit?: number; after?: string } = {}): Promise<Paged<PhoneNumber>> {
    return this.graph.get<Paged<PhoneNumber>>(`${requireWaba(this.waba())}/phone_numbers`, query);
  }

  async get(phoneNumberId: string, fields?: string): Promise<PhoneNumber> {
    return this.graph.get<PhoneNumber>(encodeURIComponent(phoneNumberId), { fields });
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
