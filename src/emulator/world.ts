import type { EmulatorCore } from './context.js';
import { appSecretValue, base62, numericId } from './ids.js';
import type {
  AppRecord,
  BusinessRecord,
  LoginConfig,
  PhoneNumberRecord,
  SystemUserRecord,
  TemplateRecord,
  TokenKind,
  TokenRecord,
  UserRecord,
  WabaRecord,
} from './state.js';

/** Thrown by world operations on bad input; the control API answers 400 with the message. */
export class ControlError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export interface CreateAppInput {
  id?: string;
  name?: string;
  secret?: string;
  businessId?: string;
  redirectUris?: string[];
  requireAppSecret?: boolean;
  callbackUrl?: string;
  verifyToken?: string;
  webhookFields?: string[];
}

export interface CreatePhoneNumberInput {
  id?: string;
  wabaId: string;
  displayPhoneNumber?: string;
  verifiedName?: string;
  isTestNumber?: boolean;
  allowedRecipients?: string[];
  mps?: number;
  registered?: boolean;
}

export interface MintTokenInput {
  /**
   * `temporary` (24 h user token, like the App Dashboard's), `user` (short-lived), `user_long` (60 days),
   * `system_user` (never expires), `system_user_60d`, `business_integration`, `page`, `app` (derived, not stored).
   */
  kind:
    | 'temporary'
    | 'user'
    | 'user_long'
    | 'system_user'
    | 'system_user_60d'
    | 'business_integration'
    | 'page'
    | 'app';
  appId: string;
  /** User / system-user id; defaults to the seed's. */
  subjectId?: string;
  scopes?: string[];
  targetIds?: string[];
  /** Seconds until expiry (0 = never); overrides the kind's default. Negative values mint an already expired token. */
  expiresInSec?: number;
  dataAccessExpiresInSec?: number;
}

export const WHATSAPP_SCOPES = ['whatsapp_business_management', 'whatsapp_business_messaging'];

/** Operations on the emulated world, shared by the seed, the control API and the programmatic control. */
export class World {
  constructor(private readonly core: EmulatorCore) {}

  private get s() {
    return this.core.state;
  }

  #freshId(id: string | undefined): string {
    if (id !== undefined) {
      if (!/^\d{1,20}$/.test(id)) throw new ControlError('ids are numeric strings (1-20 digits)');
      if (this.s.kindOf(id)) throw new ControlError(`id ${id} is already used`, 409);
      return id;
    }
    for (;;) {
      const candidate = numericId(15);
      if (!this.s.kindOf(candidate)) return candidate;
    }
  }

  createBusiness(input: { id?: string; name?: string } = {}): BusinessRecord {
    const b: BusinessRecord = { id: this.#freshId(input.id), name: input.name ?? 'Emulated Business' };
    this.s.businesses.set(b.id, b);
    this.#changed();
    return b;
  }

  createApp(input: CreateAppInput = {}): AppRecord {
    if (input.businessId !== undefined) this.business(input.businessId);
    for (const uri of input.redirectUris ?? []) checkUrl(uri, 'redirect_uris');
    if (input.callbackUrl !== undefined) checkUrl(input.callbackUrl, 'callback_url');
    if (input.secret !== undefined && !/^[0-9a-f]{32}$/.test(input.secret)) {
      throw new ControlError('secret must be 32 lowercase hex characters, like a Meta app secret');
    }
    const app: AppRecord = {
      id: this.#freshId(input.id),
      secret: input.secret ?? appSecretValue(),
      name: input.name ?? 'Emulated App',
      businessId: input.businessId,
      redirectUris: [...(input.redirectUris ?? [])],
      requireAppSecret: input.requireAppSecret ?? false,
      callbackUrl: input.callbackUrl,
      verifyToken: input.verifyToken,
      webhookFields: input.webhookFields,
      removed: false,
      secretVersion: 1,
      configs: {},
    };
    this.s.apps.set(app.id, app);
    this.#changed();
    return app;
  }

  createUser(
    input: { id?: string; name?: string; businessIds?: string[]; wabaIds?: string[] } = {},
  ): UserRecord {
    for (const b of input.businessIds ?? []) this.business(b);
    for (const w of input.wabaIds ?? []) this.waba(w);
    const user: UserRecord = {
      id: this.#freshId(input.id),
      name: input.name ?? 'Emulated User',
      businessIds: [...(input.businessIds ?? [])],
      passwordChangedAtMs: 0,
      removedAppIds: [],
      wabaIds: [...(input.wabaIds ?? [])],
    };
    this.s.users.set(user.id, user);
    this.#changed();
    return user;
  }

  createSystemUser(input: {
    id?: string;
    businessId: string;
    name?: string;
    role?: 'ADMIN' | 'EMPLOYEE';
    appIds?: string[];
    wabaIds?: string[];
  }): SystemUserRecord {
    this.business(input.businessId);
    for (const a of input.appIds ?? []) this.app(a);
    for (const w of input.wabaIds ?? []) this.waba(w);
    const su: SystemUserRecord = {
      id: this.#freshId(input.id),
      name: input.name ?? 'Emulated System User',
      businessId: input.businessId,
      role: input.role ?? 'ADMIN',
      appIds: [...(input.appIds ?? [])],
      wabaIds: [...(input.wabaIds ?? [])],
    };
    this.s.systemUsers.set(su.id, su);
    this.#changed();
    return su;
  }

  createWaba(input: {
    id?: string;
    businessId: string;
    name?: string;
    subscribeAppIds?: string[];
  }): WabaRecord {
    this.business(input.businessId);
    const waba: WabaRecord = {
      id: this.#freshId(input.id),
      name: input.name ?? 'Emulated WhatsApp Business Account',
      businessId: input.businessId,
      currency: 'USD',
      timezoneId: '1',
      templateNamespace: base62(8).toLowerCase(),
      subscriptions: [],
    };
    for (const appId of input.subscribeAppIds ?? []) {
      this.app(appId);
      waba.subscriptions.push({ appId, overrideCallbackUri: undefined, verifyToken: undefined });
    }
    this.s.wabas.set(waba.id, waba);
    this.#changed();
    return waba;
  }

  createPhoneNumber(input: CreatePhoneNumberInput): PhoneNumberRecord {
    this.waba(input.wabaId);
    const display =
      input.displayPhoneNumber ?? `1555${String(Math.floor(Math.random() * 10_000_000)).padStart(7, '0')}`;
    if (!/^\+?[\d\s().-]{5,25}$/.test(display))
      throw new ControlError('display_phone_number must be a phone number');
    if (input.mps !== undefined && (!Number.isFinite(input.mps) || input.mps <= 0)) {
      throw new ControlError('mps must be a positive number');
    }
    const phone: PhoneNumberRecord = {
      id: this.#freshId(input.id),
      wabaId: input.wabaId,
      displayPhoneNumber: display,
      verifiedName: input.verifiedName ?? 'Test Number',
      isTestNumber: input.isTestNumber ?? true,
      allowedRecipients: (input.allowedRecipients ?? []).map(digitsOf),
      mps: input.mps ?? this.core.limits.defaultMps,
      registered: input.registered ?? true,
      pin: undefined,
      codeVerificationStatus: 'VERIFIED',
      pendingCode: undefined,
      lastCodeRequestAtMs: undefined,
      qualityRating: 'GREEN',
      profile: {
        about: 'Hello! I am an emulated WhatsApp business.',
        address: '',
        description: '',
        email: '',
        profilePictureUrl: '',
        websites: [],
        vertical: 'OTHER',
      },
      webhookOverrideUrl: undefined,
    };
    this.s.phoneNumbers.set(phone.id, phone);
    this.#changed();
    return phone;
  }

  createTemplate(input: {
    wabaId: string;
    name: string;
    language: string;
    category?: string;
    status?: TemplateRecord['status'];
    components?: unknown[];
    parameterFormat?: string;
  }): TemplateRecord {
    this.waba(input.wabaId);
    const t: TemplateRecord = {
      id: this.#freshId(undefined),
      wabaId: input.wabaId,
      name: input.name,
      language: input.language,
      category: (input.category ?? 'UTILITY').toUpperCase(),
      status: input.status ?? 'APPROVED',
      components: input.components ?? [],
      parameterFormat: input.parameterFormat,
    };
    this.s.templates.set(t.id, t);
    this.#changed();
    return t;
  }

  addLoginConfig(appId: string, input: Partial<LoginConfig>): LoginConfig {
    const app = this.app(appId);
    if (input.id !== undefined && app.configs[input.id])
      throw new ControlError(`configuration ${input.id} already exists on app ${app.id}`, 409);
    const config: LoginConfig = {
      id: this.#freshId(input.id),
      scopes: input.scopes ?? [...WHATSAPP_SCOPES, 'business_management'],
      tokenType: input.tokenType ?? 'system_user',
      expiry: input.expiry ?? 'never',
    };
    if (!['user', 'system_user'].includes(config.tokenType))
      throw new ControlError('token_type: user or system_user');
    if (!['never', '60d'].includes(config.expiry)) throw new ControlError('expiry: never or 60d');
    app.configs[config.id] = config;
    this.#changed();
    return config;
  }

  /** Mints a token of any kind and expiry (the control API's `POST /_emulator/tokens`). */
  mintToken(input: MintTokenInput): { accessToken: string; record: TokenRecord | undefined } {
    const app = this.app(input.appId);
    const ttl = this.core.tokens.ttl;
    if (input.kind === 'app') return { accessToken: this.core.tokens.appToken(app), record: undefined };
    const kinds: Record<
      string,
      { kind: Exclude<TokenKind, 'app'>; ttl: number; data: number; long: boolean }
    > = {
      temporary: { kind: 'user', ttl: ttl.temporarySec, data: ttl.dataAccessSec, long: false },
      user: { kind: 'user', ttl: ttl.shortLivedSec, data: ttl.dataAccessSec, long: false },
      user_long: { kind: 'user', ttl: ttl.longLivedSec, data: ttl.dataAccessSec, long: true },
      system_user: { kind: 'system_user', ttl: 0, data: 0, long: true },
      system_user_60d: { kind: 'system_user', ttl: ttl.systemUser60dSec, data: 0, long: true },
      business_integration: { kind: 'business_integration', ttl: 0, data: 0, long: true },
      page: { kind: 'page', ttl: 0, data: 0, long: true },
    };
    const k = kinds[input.kind];
    if (!k) throw new ControlError(`kind must be one of app, ${Object.keys(kinds).join(', ')}`);
    const subjectId = input.subjectId ?? this.#defaultSubject(k.kind);
    if (k.kind === 'user' && !this.s.users.has(subjectId))
      throw new ControlError(`no user ${subjectId}`, 404);
    if (
      (k.kind === 'system_user' || k.kind === 'business_integration') &&
      !this.s.systemUsers.has(subjectId)
    ) {
      throw new ControlError(`no system user ${subjectId}`, 404);
    }
    for (const [name, v] of [
      ['expires_in', input.expiresInSec],
      ['data_access_expires_in', input.dataAccessExpiresInSec],
    ] as const) {
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
        throw new ControlError(`${name} must be a number of seconds`);
      }
    }
    const expiresInSec = input.expiresInSec ?? k.ttl;
    const record = this.core.tokens.mint({
      kind: k.kind,
      appId: app.id,
      subjectId,
      scopes: input.scopes ?? [
        ...WHATSAPP_SCOPES,
        ...(k.kind === 'user' ? ['public_profile'] : ['business_management']),
      ],
      targetIds: input.targetIds,
      expiresInSec: Math.max(expiresInSec, 0),
      dataAccessExpiresInSec: input.dataAccessExpiresInSec ?? k.data,
      longLived: k.long,
      origin: 'control',
    });
    if (expiresInSec < 0) {
      // Already expired: issued in the past so debug_token shows a coherent history.
      record.expiresAtMs = this.core.clock.now() + expiresInSec * 1000;
      record.issuedAtMs = Math.min(record.issuedAtMs, record.expiresAtMs - 3_600_000);
    }
    return { accessToken: record.value, record };
  }

  #defaultSubject(kind: Exclude<TokenKind, 'app'>): string {
    const seed = this.s.seed;
    if (kind === 'user') {
      const id = seed?.userId ?? this.s.users.keys().next().value;
      if (!id) throw new ControlError('no user to issue the token to: create one or pass subject_id');
      return id;
    }
    if (kind === 'page') return seed?.businessId ?? numericId();
    const id = seed?.systemUserId ?? this.s.systemUsers.keys().next().value;
    if (!id) throw new ControlError('no system user to issue the token to: create one or pass subject_id');
    return id;
  }

  revokeToken(value: string): TokenRecord {
    const t = this.s.tokens.get(value);
    if (!t) throw new ControlError('no such token', 404);
    t.revoked = true;
    this.#changed();
    return t;
  }

  changePassword(userId: string): UserRecord {
    const user = this.user(userId);
    // Tokens issued before this instant fail with 190/460; the +1 keeps a same-millisecond token invalid too.
    user.passwordChangedAtMs = this.core.clock.now() + 1;
    this.#changed();
    return user;
  }

  /** The user removes the app (190/458 for their tokens), or, without a user, the app is deleted for everyone. */
  removeApp(appId: string, userId?: string): void {
    const app = this.app(appId);
    if (userId !== undefined) {
      const user = this.user(userId);
      if (!user.removedAppIds.includes(app.id)) user.removedAppIds.push(app.id);
    } else {
      app.removed = true;
    }
    this.#changed();
  }

  /** A new app secret: app tokens and proofs made with the old one stop working. */
  resetSecret(appId: string): AppRecord {
    const app = this.app(appId);
    app.secret = appSecretValue();
    app.secretVersion++;
    this.#changed();
    return app;
  }

  app(id: string): AppRecord {
    const a = this.s.apps.get(id);
    if (!a) throw new ControlError(`no app ${id}`, 404);
    return a;
  }
  business(id: string): BusinessRecord {
    const b = this.s.businesses.get(id);
    if (!b) throw new ControlError(`no business ${id}`, 404);
    return b;
  }
  user(id: string): UserRecord {
    const u = this.s.users.get(id);
    if (!u) throw new ControlError(`no user ${id}`, 404);
    return u;
  }
  systemUser(id: string): SystemUserRecord {
    const u = this.s.systemUsers.get(id);
    if (!u) throw new ControlError(`no system user ${id}`, 404);
    return u;
  }
  waba(id: string): WabaRecord {
    const w = this.s.wabas.get(id);
    if (!w) throw new ControlError(`no WABA ${id}`, 404);
    return w;
  }
  phoneNumber(id: string): PhoneNumberRecord {
    const p = this.s.phoneNumbers.get(id);
    if (!p) throw new ControlError(`no phone number ${id}`, 404);
    return p;
  }

  #changed(): void {
    this.s.touch();
    this.core.persist();
  }
}

/** The digits of a phone number (`+1 (650) 555-1234` → `16505551234`). */
export function digitsOf(phone: string): string {
  return String(phone).replace(/\D/g, '');
}

export function checkUrl(value: unknown, name: string): void {
  if (typeof value !== 'string') throw new ControlError(`${name} must be a URL string`);
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new ControlError(`${name}: "${value}" is not an http(s) URL`);
  }
}
