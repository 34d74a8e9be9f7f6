import { createHmac, randomInt } from 'node:crypto';
import { base62 } from './ids.js';
import type { AppRecord, EmulatorState } from './state.js';
import type { VirtualClock } from './virtual-clock.js';

/** How webhooks are delivered. Meta's retry schedule and timeouts are not published (facts §9): defaults are ours. */
export interface WebhookOptions {
  /** The HTTP client for deliveries and handshakes. Default: global fetch. */
  fetch?: typeof fetch;
  /** Real-time timeout of one delivery or handshake. Default 10 s. */
  timeoutMs?: number;
  /** Delay (virtual ms) before each retry after a non-200; attempts stop when the list runs out. */
  retryScheduleMs?: number[];
  /** Undelivered events older than this (virtual ms) are dropped. Default 7 days (WhatsApp, facts §9). */
  maxAgeMs?: number;
  /** Aggregate events per target: up to `maxEvents` (Meta: 1000) or `windowMs` of virtual time. Default off. */
  batch?: { maxEvents: number; windowMs: number } | false;
  /** Probability (0-1) that a delivered payload is delivered again (Meta: "duplicates possible"). Default 0. */
  duplicateRate?: number;
  /** Statuses sent after each outbound message, and their delays (virtual ms). */
  autoStatuses?: Array<'sent' | 'delivered' | 'read'>;
  statusDelaysMs?: { sent?: number; delivered?: number; read?: number };
  /** Write `/` as `\/` like Meta's serialiser. Default true. */
  escapeSlashes?: boolean;
  /** Also send the legacy `X-Hub-Signature: sha1=...`. Default true. */
  sha1Header?: boolean;
  /** Delivery attempts kept for the control API. Default 1000. */
  maxLogEntries?: number;
  /** Random source in [0, 1) for duplicates and their delay (100-999 ms). Default Math.random. */
  random?: () => number;
}

export interface ResolvedWebhookOptions {
  fetch: typeof fetch;
  timeoutMs: number;
  retryScheduleMs: number[];
  maxAgeMs: number;
  batch: { maxEvents: number; windowMs: number } | false;
  duplicateRate: number;
  autoStatuses: Array<'sent' | 'delivered' | 'read'>;
  statusDelaysMs: { sent: number; delivered: number; read: number };
  escapeSlashes: boolean;
  sha1Header: boolean;
  maxLogEntries: number;
  random: () => number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export function resolveWebhookOptions(o: WebhookOptions = {}): ResolvedWebhookOptions {
  return {
    fetch: o.fetch ?? ((input, init) => fetch(input, init)),
    timeoutMs: o.timeoutMs ?? 10_000,
    // "Retry immediately, then with decreasing frequency", up to 7 days (facts §9). The exact schedule is ours.
    retryScheduleMs: o.retryScheduleMs ?? [
      1_000,
      10_000,
      MINUTE,
      5 * MINUTE,
      15 * MINUTE,
      HOUR,
      3 * HOUR,
      6 * HOUR,
      12 * HOUR,
      24 * HOUR,
      24 * HOUR,
      24 * HOUR,
      24 * HOUR,
      24 * HOUR,
      24 * HOUR,
    ],
    maxAgeMs: o.maxAgeMs ?? 7 * 24 * HOUR,
    batch: o.batch ?? false,
    duplicateRate: o.duplicateRate ?? 0,
    autoStatuses: o.autoStatuses ?? ['sent', 'delivered', 'read'],
    statusDelaysMs: {
      sent: o.statusDelaysMs?.sent ?? 200,
      delivered: o.statusDelaysMs?.delivered ?? 1_000,
      read: o.statusDelaysMs?.read ?? 3_000,
    },
    escapeSlashes: o.escapeSlashes ?? true,
    sha1Header: o.sha1Header ?? true,
    maxLogEntries: o.maxLogEntries ?? 1_000,
    random: o.random ?? Math.random,
  };
}

/** One change for one WABA: `entry[].changes[]` of a payload. */
export interface WebhookEvent {
  wabaId: string;
  field: string;
  value: Record<string, unknown>;
  /** The number it concerns, for per-number callback overrides. */
  phoneNumberId?: string | undefined;
}

/** One delivery attempt, as the control API lists it. */
export interface DeliveryRecord {
  /** Same across retries and duplicates of one payload. */
  deliveryId: string;
  attempt: number;
  url: string;
  appId: string;
  /** Virtual time of the attempt (ms). */
  atMs: number;
  /** HTTP status, or 0 when the request failed. */
  status: number;
  ok: boolean;
  error?: string;
  duplicate: boolean;
  /** `retrying`, `delivered`, `dropped` (schedule exhausted or too old). */
  outcome: 'delivered' | 'retrying' | 'dropped';
  body: string;
  signature256: string;
  events: number;
}

interface Target {
  url: string;
  app: AppRecord;
}

interface PendingBatch {
  target: Target;
  events: WebhookEvent[];
  cancel: (() => void) | undefined;
  /** Virtual time the batch window closes. */
  dueAtMs: number;
}

/** Deliveries not yet settled and open batches, as the state file keeps them. */
export interface PendingWebhooksData {
  deliveries: Array<{
    deliveryId: string;
    appId: string;
    url: string;
    body: string;
    signature256: string;
    signature1: string | undefined;
    events: number;
    firstAtMs: number;
    /** Attempts made so far. */
    attempt: number;
    duplicate: boolean;
    /** Virtual time of the next attempt. */
    dueAtMs: number;
  }>;
  batches: Array<{ appId: string; url: string; events: WebhookEvent[]; dueAtMs: number }>;
}

/**
 * Serialises like Meta: compact JSON, every character above 0x7E as a lowercase `\uXXXX` escape (UTF-16 units, so
 * emoji become surrogate pairs) and, by default, `/` as `\/`. The signature is computed over these exact bytes.
 */
export function serializeLikeMeta(value: unknown, escapeSlashes = true): string {
  const json = JSON.stringify(value);
  let out = '';
  let last = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c > 0x7e || (escapeSlashes && c === 0x2f)) {
      out += json.slice(last, i);
      out += c === 0x2f ? '\\/' : `\\u${c.toString(16).padStart(4, '0')}`;
      last = i + 1;
    }
  }
  return last === 0 ? json : out + json.slice(last);
}

/** `sha256=` + HMAC-SHA256(app secret, raw body) in lowercase hex (facts §9). */
export function signatureFor(body: string, secret: string, algorithm: 'sha256' | 'sha1' = 'sha256'): string {
  return `${algorithm}=${createHmac(algorithm, secret).update(body, 'utf8').digest('hex')}`;
}

/**
 * Delivers webhook events like Meta: to the app's callback (or the WABA's / number's override), signed with the
 * app secret, batched and duplicated when configured, retried with backoff on virtual time.
 */
export class WebhookDispatcher {
  readonly log: DeliveryRecord[] = [];
  #batches = new Map<string, PendingBatch>();
  #inFlight = new Set<Promise<unknown>>();
  /** Deliveries waiting for an attempt or in one, with the virtual time of that attempt (for the state file). */
  #pending = new Map<Delivery, number>();
  /** Called when pending work changes (the emulator's debounced state-file write). */
  onChange: (() => void) | undefined = undefined;

  constructor(
    private readonly state: EmulatorState,
    private readonly clock: VirtualClock,
    public options: ResolvedWebhookOptions,
  ) {}

  /** Where events of `field` for this WABA (and number) go. Cheap: the send path calls it. */
  targets(wabaId: string, field: string, phoneNumberId?: string): Target[] {
    const waba = this.state.wabas.get(wabaId);
    if (!waba || waba.subscriptions.length === 0) return [];
    const phone = phoneNumberId ? this.state.phoneNumbers.get(phoneNumberId) : undefined;
    const out: Target[] = [];
    for (const sub of waba.subscriptions) {
      const app = this.state.apps.get(sub.appId);
      if (!app || app.removed) continue;
      if (app.webhookFields && !app.webhookFields.includes(field)) continue;
      const url = phone?.webhookOverrideUrl ?? sub.overrideCallbackUri ?? app.callbackUrl;
      if (url) out.push({ url, app });
    }
    return out;
  }

  /** Queues events for delivery to every target. Returns how many targets they went to. */
  emit(events: WebhookEvent[]): number {
    let count = 0;
    for (const event of events) {
      for (const target of this.targets(event.wabaId, event.field, event.phoneNumberId)) {
        count++;
        this.#enqueue(target, event);
      }
    }
    return count;
  }

  #enqueue(target: Target, event: WebhookEvent): void {
    const batch = this.options.batch;
    if (!batch) {
      this.#startDelivery(target, [event]);
      return;
    }
    const key = `${target.app.id} ${target.url}`;
    let pending = this.#batches.get(key);
    if (!pending) pending = this.#openBatch(target, [], this.clock.now() + batch.windowMs);
    pending.events.push(event);
    this.onChange?.();
    if (pending.events.length >= batch.maxEvents) this.#flushBatch(key, pending);
  }

  #openBatch(target: Target, events: WebhookEvent[], dueAtMs: number): PendingBatch {
    const key = `${target.app.id} ${target.url}`;
    const pending: PendingBatch = { target, events, cancel: undefined, dueAtMs };
    this.#batches.set(key, pending);
    pending.cancel = this.clock.schedule(dueAtMs, () => this.#flushBatch(key, pending));
    return pending;
  }

  #flushBatch(key: string, pending: PendingBatch): void {
    if (this.#batches.get(key) !== pending) return;
    this.#batches.delete(key);
    pending.cancel?.();
    if (pending.events.length) this.#startDelivery(pending.target, pending.events);
  }

  /** Sends every open batch now. */
  flushBatches(): void {
    for (const [key, pending] of [...this.#batches]) this.#flushBatch(key, pending);
  }

  #startDelivery(target: Target, events: WebhookEvent[]): void {
    const body = serializeLikeMeta(payloadOf(events), this.options.escapeSlashes);
    const delivery: Delivery = {
      deliveryId: base62(16),
      target,
      body,
      signature256: signatureFor(body, target.app.secret),
      signature1: this.options.sha1Header ? signatureFor(body, target.app.secret, 'sha1') : undefined,
      events: events.length,
      firstAtMs: this.clock.now(),
      attempt: 0,
      duplicate: false,
    };
    this.#schedule(delivery, this.clock.now());
  }

  #schedule(delivery: Delivery, atMs: number): void {
    this.#pending.set(delivery, atMs);
    this.onChange?.();
    this.clock.schedule(atMs, () => {
      const p = this.#attempt(delivery);
      this.#inFlight.add(p);
      return p.finally(() => this.#inFlight.delete(p));
    });
  }

  async #attempt(d: Delivery): Promise<void> {
    // Counted once the attempt is over: one cut short by a crash is made again after a restart.
    const attempt = d.attempt + 1;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'facebookexternalua',
      'x-hub-signature-256': d.signature256,
    };
    if (d.signature1) headers['x-hub-signature'] = d.signature1;
    let status = 0;
    let error: string | undefined;
    try {
      const res = await this.options.fetch(d.target.url, {
        method: 'POST',
        headers,
        body: d.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: 'manual',
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      error = describeFetchError(err);
    }
    d.attempt = attempt;
    const ok = status === 200;
    const nowMs = this.clock.now();
    this.#pending.delete(d);
    this.onChange?.();
    let outcome: DeliveryRecord['outcome'] = 'delivered';
    if (!ok) {
      const delay = this.options.retryScheduleMs[d.attempt - 1];
      if (delay === undefined || nowMs + delay - d.firstAtMs > this.options.maxAgeMs) outcome = 'dropped';
      else {
        outcome = 'retrying';
        this.#schedule(d, nowMs + delay);
      }
    }
    this.#record({
      deliveryId: d.deliveryId,
      attempt: d.attempt,
      url: d.target.url,
      appId: d.target.app.id,
      atMs: nowMs,
      status,
      ok,
      ...(error ? { error } : {}),
      duplicate: d.duplicate,
      outcome,
      body: d.body,
      signature256: d.signature256,
      events: d.events,
    });
    if (
      ok &&
      !d.duplicate &&
      this.options.duplicateRate > 0 &&
      this.options.random() < this.options.duplicateRate
    ) {
      const delayMs = 100 + Math.min(899, Math.floor(this.options.random() * 900));
      this.#schedule({ ...d, attempt: 0, duplicate: true }, nowMs + delayMs);
    }
  }

  #record(r: DeliveryRecord): void {
    this.log.push(r);
    if (this.log.length > this.options.maxLogEntries)
      this.log.splice(0, this.log.length - this.options.maxLogEntries);
  }

  /** Waits for attempts already running (not for future retries). */
  async idle(): Promise<void> {
    while (this.#inFlight.size) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * The verification request Meta sends when a callback URL or verify token is set (facts §9): GET with hub.mode,
   * hub.challenge, hub.verify_token; passes when the answer is 200 with the challenge as the body.
   */
  async verifyCallback(
    url: string,
    verifyToken: string,
  ): Promise<{ ok: boolean; status: number; reason?: string }> {
    let target: URL;
    try {
      target = new URL(url);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      return { ok: false, status: 0, reason: 'the callback URL is not a valid http(s) URL' };
    }
    const challenge = String(randomInt(100_000_000, 2_000_000_000));
    target.searchParams.set('hub.mode', 'subscribe');
    target.searchParams.set('hub.challenge', challenge);
    target.searchParams.set('hub.verify_token', verifyToken);
    try {
      const res = await this.options.fetch(target, {
        method: 'GET',
        headers: { 'user-agent': 'facebookplatform/1.0 (+http://developers.facebook.com)' },
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: 'manual',
      });
      const text = (await res.text()).slice(0, 1_000);
      if (res.status !== 200)
        return { ok: false, status: res.status, reason: `HTTP Status Code = ${res.status}` };
      if (text.trim() !== challenge) {
        return { ok: false, status: res.status, reason: 'The response does not match the challenge' };
      }
      return { ok: true, status: 200 };
    } catch (err) {
      return { ok: false, status: 0, reason: describeFetchError(err) };
    }
  }

  /** Pending deliveries (waiting for an attempt or in one) and open batches, for the state file. */
  toJSON(): PendingWebhooksData {
    return {
      deliveries: [...this.#pending].map(([d, dueAtMs]) => ({
        deliveryId: d.deliveryId,
        appId: d.target.app.id,
        url: d.target.url,
        body: d.body,
        signature256: d.signature256,
        signature1: d.signature1,
        events: d.events,
        firstAtMs: d.firstAtMs,
        attempt: d.attempt,
        duplicate: d.duplicate,
        dueAtMs,
      })),
      batches: [...this.#batches.values()].map((b) => ({
        appId: b.target.app.id,
        url: b.target.url,
        events: b.events,
        dueAtMs: b.dueAtMs,
      })),
    };
  }

  /**
   * Schedules what a state file had pending, at its saved (virtual) times: a due one goes out at once. An attempt
   * a crash cut short is made again (a duplicate for the receiver, which Meta allows). Bodies and signatures are the
   * saved bytes; deliveries of apps since deleted are dropped.
   */
  restore(data: PendingWebhooksData): void {
    for (const d of data.deliveries) {
      const app = this.state.apps.get(d.appId);
      if (!app || app.removed) continue;
      const { appId: _a, url, dueAtMs, ...rest } = d;
      this.#schedule({ ...rest, target: { url, app } }, dueAtMs);
    }
    for (const b of data.batches) {
      const app = this.state.apps.get(b.appId);
      if (!app || app.removed || !b.events.length) continue;
      this.#openBatch({ url: b.url, app }, b.events, b.dueAtMs);
    }
  }

  close(): void {
    for (const pending of this.#batches.values()) pending.cancel?.();
    this.#batches.clear();
  }
}

interface Delivery {
  deliveryId: string;
  target: Target;
  body: string;
  signature256: string;
  signature1: string | undefined;
  events: number;
  firstAtMs: number;
  attempt: number;
  duplicate: boolean;
}

/** Groups events into Meta's envelope: one entry per WABA, one change per event. */
export function payloadOf(events: WebhookEvent[]): Record<string, unknown> {
  const entries = new Map<string, Array<{ value: unknown; field: string }>>();
  for (const e of events) {
    let changes = entries.get(e.wabaId);
    if (!changes) {
      changes = [];
      entries.set(e.wabaId, changes);
    }
    changes.push({ value: e.value, field: e.field });
  }
  return {
    object: 'whatsapp_business_account',
    entry: [...entries].map(([id, changes]) => ({ id, changes })),
  };
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}
