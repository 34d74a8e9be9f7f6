import type { FlowKeyRecord, FlowRecord } from './flow-state.js';

/**
 * The emulator's world: plain records in maps, keyed by id, serialisable to one JSON state file. Wire names stay
 * snake_case in responses; records here are camelCase with units in names.
 */
import type { CallRecord, EntityHealth, GroupRecord, NumberSurface, QrCodeRecord } from './surface-state.js';

export interface AppRecord {
  id: string;
  secret: string;
  name: string;
  businessId: string | undefined;
  /** Valid OAuth redirect URIs (exact match, state ignored). */
  redirectUris: string[];
  /** "Require App Secret": every call with this app's user/system-user tokens needs `appsecret_proof`. */
  requireAppSecret: boolean;
  /** The app's webhook (App Dashboard > WhatsApp > Configuration). */
  callbackUrl: string | undefined;
  verifyToken: string | undefined;
  /** Webhook fields subscribed; undefined means all. */
  webhookFields: string[] | undefined;
  /** Deleted apps: every token of theirs fails with 190/458. */
  removed: boolean;
  /** Bumped when the secret is reset: app tokens derived from an older secret stop working. */
  secretVersion: number;
  /** Login for Business configurations, by config id. */
  configs: Record<string, LoginConfig>;
}

export interface LoginConfig {
  id: string;
  scopes: string[];
  /** `user`: a user token; `system_user`: a business integration system-user token (BISU). */
  tokenType: 'user' | 'system_user';
  /** `never` or `60d` (the ES "60 Expiration Token" configuration). */
  expiry: 'never' | '60d';
}

export interface BusinessRecord {
  id: string;
  name: string;
}

export interface UserRecord {
  id: string;
  name: string;
  businessIds: string[];
  /** Changing the password invalidates tokens issued before it (190/460). */
  passwordChangedAtMs: number;
  /** Apps this user removed from their settings (190/458 for their tokens of that app). */
  removedAppIds: string[];
  /** WABAs the user can grant in the login dialog. */
  wabaIds: string[];
}

export interface SystemUserRecord {
  id: string;
  name: string;
  businessId: string;
  role: 'ADMIN' | 'EMPLOYEE';
  /** Apps installed on this system user (`POST /{system-user}/applications`). */
  appIds: string[];
  /** Assets assigned to this system user; tokens are limited to them. */
  wabaIds: string[];
}

export interface WabaSubscription {
  appId: string;
  overrideCallbackUri: string | undefined;
  verifyToken: string | undefined;
}

export interface WabaRecord {
  id: string;
  name: string;
  businessId: string;
  currency: string;
  timezoneId: string;
  templateNamespace: string;
  subscriptions: WabaSubscription[];
  /** Messaging health the control API set (absent: AVAILABLE); see routes/phone-settings.ts. */
  health?: EntityHealth | undefined;
  /** Tasks of the users and system users assigned to this WABA (`/{waba}/assigned_users`). */
  assignedTasks?: Record<string, string[]> | undefined;
}

export interface BusinessProfile {
  about: string;
  address: string;
  description: string;
  email: string;
  profilePictureUrl: string;
  websites: string[];
  vertical: string;
}

export interface PhoneNumberRecord {
  id: string;
  wabaId: string;
  displayPhoneNumber: string;
  verifiedName: string;
  /** Test numbers only deliver to their allow-list (others: 131030). */
  isTestNumber: boolean;
  allowedRecipients: string[];
  /** Messages per second before 130429. */
  mps: number;
  registered: boolean;
  pin: string | undefined;
  codeVerificationStatus: 'NOT_VERIFIED' | 'VERIFIED' | 'EXPIRED';
  pendingCode: string | undefined;
  lastCodeRequestAtMs: number | undefined;
  qualityRating: 'GREEN' | 'YELLOW' | 'RED' | 'UNKNOWN';
  profile: BusinessProfile;
  /** Per-number webhook override. */
  webhookOverrideUrl: string | undefined;
  /** Blocked users, calling settings and permissions (see surface-state.ts). */
  surface?: NumberSurface | undefined;
}

export interface TemplateRecord {
  id: string;
  wabaId: string;
  name: string;
  language: string;
  category: string;
  status: 'APPROVED' | 'PENDING' | 'REJECTED' | 'PAUSED' | 'DISABLED';
  components: unknown[];
  parameterFormat: string | undefined;
  /** Virtual time a template under review (`templateApproval.delayMs`) gets its outcome; absent otherwise. */
  reviewAtMs?: number | undefined;
  /** Virtual times of edits made while APPROVED (Meta: 1 a day, 10 in 30 days). */
  editsAtMs?: number[] | undefined;
  /** Seconds an undelivered message of this template stays valid (`message_send_ttl_seconds`). */
  messageSendTtlSeconds?: number | undefined;
}

export interface MediaRecord {
  id: string;
  phoneNumberId: string;
  mimeType: string;
  sha256: string;
  fileSize: number;
  /** base64 in the state file. */
  data: Buffer;
  createdAtMs: number;
  deleted: boolean;
}

export interface SentMessageRecord {
  id: string;
  phoneNumberId: string;
  /** `to` or `recipient` as the request gave it. */
  to: string;
  /** Phone digits of the recipient; '' when sent to a BSUID nobody knows the number of. */
  waId: string;
  /** The recipient's BSUID in this portfolio. */
  userId?: string;
  /** How the send addressed the user: by phone (`to`) or by BSUID (`recipient`). */
  sentTo?: 'phone' | 'bsuid';
  type: string;
  body: unknown;
  sentAtMs: number;
  status: 'accepted' | 'sent' | 'delivered' | 'read' | 'failed';
  appId: string;
}

/**
 * A WhatsApp user the control API described (`POST /_emulator/whatsapp-users`): their username and whether Meta
 * withholds their phone number from webhooks (a username user the business has no contact-book entry for).
 */
export interface WaUserRecord {
  phone: string;
  name: string | undefined;
  username: string | undefined;
  withholdPhone: boolean;
}

/** What kind of principal a token speaks for. */
export type TokenKind = 'user' | 'system_user' | 'page' | 'app' | 'business_integration';

export interface GranularScope {
  scope: string;
  targetIds?: string[];
}

export interface TokenRecord {
  /** The token itself. Held in memory and in the state file only; never logged. */
  value: string;
  kind: TokenKind;
  appId: string;
  /** User id, system user id or page id. */
  subjectId: string;
  scopes: string[];
  /** Scopes limited to assets; a scope missing here is unrestricted. */
  granularScopes: GranularScope[];
  issuedAtMs: number;
  /** 0 = never expires. */
  expiresAtMs: number;
  /** 0 = no data-access expiry. */
  dataAccessExpiresAtMs: number;
  /** Long-lived user tokens report `issued_at` in debug_token and are not extended by re-exchange. */
  longLived: boolean;
  revoked: boolean;
  /** Where it came from, for the control API: `seed`, `login`, `exchange`, `control`, ... */
  origin: string;
}

export interface OAuthCodeRecord {
  code: string;
  appId: string;
  userId: string;
  /** undefined for Embedded Signup / JS SDK codes, exchanged without redirect_uri. */
  redirectUri: string | undefined;
  scopes: string[];
  targetIds: string[];
  expiresAtMs: number;
  used: boolean;
  codeChallenge: string | undefined;
  codeChallengeMethod: 'S256' | 'plain' | undefined;
  /** A BISU configuration makes the code exchange return a system-user token. */
  configId: string | undefined;
}

/** The seeded world, printed at start. Contains secrets on purpose: it is a local sandbox. */
export interface EmulatorSeed {
  appId: string;
  appSecret: string;
  appName: string;
  businessId: string;
  userId: string;
  systemUserId: string;
  wabaId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
  /** A recipient on the test number's allow-list. */
  recipient: string;
  /** A 24-hour temporary user token, like the one the App Dashboard shows. */
  accessToken: string;
  accessTokenExpiresAt: string;
  apiVersion: string;
}

/** Everything, in one serialisable object. */
export interface EmulatorStateData {
  version: 1;
  seed: EmulatorSeed | undefined;
  apps: AppRecord[];
  businesses: BusinessRecord[];
  users: UserRecord[];
  systemUsers: SystemUserRecord[];
  wabas: WabaRecord[];
  phoneNumbers: PhoneNumberRecord[];
  templates: TemplateRecord[];
  media: Array<Omit<MediaRecord, 'data'> & { data: string }>;
  tokens: TokenRecord[];
  messages: SentMessageRecord[];
  /** Simulated WhatsApp users and businesses with parent BSUIDs on (absent in older files). */
  waUsers?: WaUserRecord[];
  parentBsuidBusinesses?: string[];
  /** OAuth codes with their expiry and single-use mark (absent in files written before they were saved). */
  codes?: OAuthCodeRecord[];
  /** Flows and business public keys (absent in files written before flows were emulated). */
  flows?: FlowRecord[];
  flowKeys?: FlowKeyRecord[];
  groups?: GroupRecord[];
  calls?: CallRecord[];
  qrCodes?: QrCodeRecord[];
}

export type ObjectKind =
  | 'app'
  | 'business'
  | 'user'
  | 'system_user'
  | 'waba'
  | 'phone_number'
  | 'template'
  | 'media'
  | 'flow';

/**
 * The last `capacity` sent messages, oldest first: a ring of records, nothing else. Sending (the benchmarks' hot
 * path) only writes one array slot: no per-message Map entry to hash, insert and evict (that measured about 1 µs
 * per send with 10,000 kept). Lookups by id are for the control API and scan the ring.
 */
export class SentMessageLog {
  #ring: Array<SentMessageRecord | undefined>;
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#ring = new Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.#size;
  }

  add(record: SentMessageRecord): void {
    this.#ring[this.#next] = record;
    this.#next = (this.#next + 1) % this.#ring.length;
    if (this.#size < this.#ring.length) this.#size++;
  }

  /** The newest message with this id (ids are unique in practice). */
  get(id: string): SentMessageRecord | undefined {
    const n = this.#ring.length;
    for (let k = 1; k <= this.#size; k++) {
      const m = this.#ring[(this.#next - k + n) % n];
      if (m?.id === id) return m;
    }
    return undefined;
  }

  /** Oldest first. */
  *values(): IterableIterator<SentMessageRecord> {
    const n = this.#ring.length;
    const start = (this.#next - this.#size + n) % n;
    for (let k = 0; k < this.#size; k++) yield this.#ring[(start + k) % n] as SentMessageRecord;
  }

  clear(): void {
    this.#ring.fill(undefined);
    this.#next = 0;
    this.#size = 0;
  }
}

/** In-memory store. Lookups by id and by token value are O(1) (sent messages: see SentMessageLog). */
export class EmulatorState {
  seed: EmulatorSeed | undefined;
  readonly apps = new Map<string, AppRecord>();
  readonly businesses = new Map<string, BusinessRecord>();
  readonly users = new Map<string, UserRecord>();
  readonly systemUsers = new Map<string, SystemUserRecord>();
  readonly wabas = new Map<string, WabaRecord>();
  readonly phoneNumbers = new Map<string, PhoneNumberRecord>();
  readonly templates = new Map<string, TemplateRecord>();
  readonly media = new Map<string, MediaRecord>();
  readonly groups = new Map<string, GroupRecord>();
  readonly calls = new Map<string, CallRecord>();
  readonly qrCodes = new Map<string, QrCodeRecord>();
  readonly tokens = new Map<string, TokenRecord>();
  readonly codes = new Map<string, OAuthCodeRecord>();
  /** WhatsApp users by phone digits (only those the control API described; others are plain phone users). */
  readonly waUsers = new Map<string, WaUserRecord>();
  /** Business portfolios whose webhooks carry parent BSUIDs. */
  readonly parentBsuidBusinesses = new Set<string>();
  readonly flows = new Map<string, FlowRecord>();
  /** Business public key per phone number id. */
  readonly flowKeys = new Map<string, FlowKeyRecord>();
  /** Sent messages, oldest first, bounded by `maxMessages`. */
  readonly messages: SentMessageLog;
  /** Bumped on every change that should reach the state file. */
  revision = 0;
  /** Called by {@link touch}: the emulator's debounced state-file write (cheap: it only arms a timer). */
  onChange: (() => void) | undefined = undefined;

  constructor(readonly maxMessages = 10_000) {
    this.messages = new SentMessageLog(maxMessages);
  }

  /** What kind of object an id names, for `/{id}` and `/{id}/{edge}` routes. */
  kindOf(id: string): ObjectKind | undefined {
    if (this.phoneNumbers.has(id)) return 'phone_number';
    if (this.wabas.has(id)) return 'waba';
    if (this.media.has(id)) return 'media';
    if (this.templates.has(id)) return 'template';
    if (this.flows.has(id)) return 'flow';
    if (this.apps.has(id)) return 'app';
    if (this.systemUsers.has(id)) return 'system_user';
    if (this.users.has(id)) return 'user';
    if (this.businesses.has(id)) return 'business';
    return undefined;
  }

  addMessage(record: SentMessageRecord): void {
    this.messages.add(record);
    this.touch();
  }

  /** Forgets every sent message. */
  clearMessages(): void {
    this.messages.clear();
  }

  /** Marks the state changed: the state file is rewritten shortly after. */
  touch(): void {
    this.revision++;
    this.onChange?.();
  }

  toJSON(): EmulatorStateData {
    return {
      version: 1,
      seed: this.seed,
      apps: [...this.apps.values()],
      businesses: [...this.businesses.values()],
      users: [...this.users.values()],
      systemUsers: [...this.systemUsers.values()],
      wabas: [...this.wabas.values()],
      phoneNumbers: [...this.phoneNumbers.values()],
      templates: [...this.templates.values()],
      media: [...this.media.values()].map((m) => ({ ...m, data: m.data.toString('base64') })),
      tokens: [...this.tokens.values()],
      messages: [...this.messages.values()],
      codes: [...this.codes.values()],
      waUsers: [...this.waUsers.values()],
      parentBsuidBusinesses: [...this.parentBsuidBusinesses],
      flows: [...this.flows.values()],
      flowKeys: [...this.flowKeys.values()],
      groups: [...this.groups.values()],
      calls: [...this.calls.values()],
      qrCodes: [...this.qrCodes.values()],
    };
  }

  /** Loads a state file's content. Throws a plain Error naming what is wrong. */
  static fromJSON(data: unknown, maxMessages?: number): EmulatorState {
    if (!data || typeof data !== 'object' || (data as { version?: unknown }).version !== 1) {
      throw new Error('not an emulator state file (expected {"version": 1, ...})');
    }
    const d = data as EmulatorStateData;
    const state = new EmulatorState(maxMessages);
    state.seed = d.seed;
    const list = <T>(name: keyof EmulatorStateData): T[] => {
      const v = d[name];
      if (v === undefined) return [];
      if (!Array.isArray(v)) throw new Error(`state file: "${name}" must be an array`);
      return v as T[];
    };
    for (const a of list<AppRecord>('apps')) state.apps.set(a.id, { ...a, configs: a.configs ?? {} });
    for (const b of list<BusinessRecord>('businesses')) state.businesses.set(b.id, b);
    for (const u of list<UserRecord>('users')) state.users.set(u.id, u);
    for (const s of list<SystemUserRecord>('systemUsers')) state.systemUsers.set(s.id, s);
    for (const w of list<WabaRecord>('wabas')) state.wabas.set(w.id, w);
    for (const p of list<PhoneNumberRecord>('phoneNumbers')) state.phoneNumbers.set(p.id, p);
    for (const t of list<TemplateRecord>('templates')) state.templates.set(t.id, t);
    for (const m of list<Omit<MediaRecord, 'data'> & { data: string }>('media')) {
      state.media.set(m.id, { ...m, data: Buffer.from(m.data, 'base64') });
    }
    for (const t of list<TokenRecord>('tokens')) state.tokens.set(t.value, t);
    for (const m of list<SentMessageRecord>('messages')) state.addMessage(m);
    for (const c of list<OAuthCodeRecord>('codes')) state.codes.set(c.code, c);
    for (const u of list<WaUserRecord>('waUsers')) state.waUsers.set(u.phone, u);
    for (const b of list<string>('parentBsuidBusinesses')) state.parentBsuidBusinesses.add(b);
    for (const f of list<FlowRecord>('flows')) state.flows.set(f.id, f);
    for (const k of list<FlowKeyRecord>('flowKeys')) state.flowKeys.set(k.phoneNumberId, k);
    for (const g of list<GroupRecord>('groups')) state.groups.set(g.id, g);
    for (const c of list<CallRecord>('calls')) state.calls.set(c.id, c);
    for (const q of list<QrCodeRecord>('qrCodes')) state.qrCodes.set(q.id, q);
    return state;
  }
}
