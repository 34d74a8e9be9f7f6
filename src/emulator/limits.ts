/** Rate limits and usage headers (facts §10), on the emulator's clock. */

/** Per-number throughput and per-recipient pair limits. */
export interface ThroughputOptions {
  /** Messages per second per number before 130429. Default 80 (Cloud API default). A number's own `mps` wins. */
  mps?: number;
  /**
   * Pair rate limit (131056): a bucket of `burst` messages per (number, recipient) refilling at `perSec`.
   * Default burst 45, 1 per 6 s (widely cited; the numbers are UNVERIFIED). `false` turns it off.
   */
  pairRate?: { burst: number; perSec: number } | false;
  /** Graph calls per app per hour behind `X-App-Usage` percentages (facts §10: 200 × users). Default 4800. */
  appCallsPerHour?: number;
  /** WhatsApp calls per WABA per hour behind `X-Business-Use-Case-Usage` percentages. Default 4800. */
  businessCallsPerHour?: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

interface Window {
  startMs: number;
  count: number;
  /** Usage percentage after the last call. */
  pct: number;
  /** The header text for `textPct`. */
  text: string | undefined;
  textPct: number;
}

const HOUR = 3_600_000;
const MAX_PAIRS = 100_000;

export class RateLimiter {
  readonly defaultMps: number;
  readonly pairRate: { burst: number; perSec: number } | false;
  readonly appCallsPerHour: number;
  readonly businessCallsPerHour: number;
  #numbers = new Map<string, Bucket>();
  #pairs = new Map<string, Bucket>();
  #apps = new Map<string, Window>();
  #businesses = new Map<string, Window>();

  constructor(o: ThroughputOptions = {}) {
    this.defaultMps = o.mps ?? 80;
    this.pairRate = o.pairRate === undefined ? { burst: 45, perSec: 1 / 6 } : o.pairRate;
    this.appCallsPerHour = o.appCallsPerHour ?? 4_800;
    this.businessCallsPerHour = o.businessCallsPerHour ?? 4_800;
  }

  /** Takes one message from the number's per-second budget; false means 130429. */
  takeNumber(phoneNumberId: string, mps: number, nowMs: number): boolean {
    return take(this.#numbers, phoneNumberId, mps, mps / 1000, nowMs);
  }

  /** Takes one message from the (number, recipient) budget; false means 131056. */
  takePair(phoneNumberId: string, waId: string, nowMs: number): boolean {
    if (!this.pairRate) return true;
    if (this.#pairs.size > MAX_PAIRS) this.#pairs.clear();
    return take(
      this.#pairs,
      `${phoneNumberId}:${waId}`,
      this.pairRate.burst,
      this.pairRate.perSec / 1000,
      nowMs,
    );
  }

  /** Counts a call and returns the `X-App-Usage` value. */
  appUsage(appId: string, nowMs: number): string {
    const w = count(this.#apps, appId, nowMs, this.appCallsPerHour);
    // The text only changes when the percentage does: kept on the window instead of rebuilt per call.
    if (w.text === undefined || w.textPct !== w.pct) {
      w.textPct = w.pct;
      w.text = `{"call_count":${w.pct},"total_cputime":${w.pct >> 1},"total_time":${w.pct >> 1}}`;
    }
    return w.text;
  }

  /** Counts a WhatsApp call and returns the `X-Business-Use-Case-Usage` value, keyed by the WABA id. */
  businessUsage(wabaId: string, nowMs: number): string {
    const w = count(this.#businesses, wabaId, nowMs, this.businessCallsPerHour);
    if (w.text === undefined || w.textPct !== w.pct) {
      const pct = w.pct;
      w.textPct = pct;
      w.text = `{"${wabaId}":[{"type":"whatsapp","call_count":${pct},"total_cputime":${pct >> 1},"total_time":${pct >> 1},"estimated_time_to_regain_access":0}]}`;
    }
    return w.text;
  }

  reset(): void {
    this.#numbers.clear();
    this.#pairs.clear();
    this.#apps.clear();
    this.#businesses.clear();
  }
}

function take(
  map: Map<string, Bucket>,
  key: string,
  capacity: number,
  perMs: number,
  nowMs: number,
): boolean {
  let b = map.get(key);
  if (!b) {
    b = { tokens: capacity, atMs: nowMs };
    map.set(key, b);
  } else if (nowMs > b.atMs) {
    b.tokens = Math.min(capacity, b.tokens + (nowMs - b.atMs) * perMs);
    b.atMs = nowMs;
  } else if (nowMs < b.atMs) {
    // The clock was set backwards: start the window again.
    b.tokens = capacity;
    b.atMs = nowMs;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

function count(map: Map<string, Window>, key: string, nowMs: number, limit: number): Window {
  let w = map.get(key);
  if (!w) {
    w = { startMs: nowMs, count: 0, pct: 0, text: undefined, textPct: -1 };
    map.set(key, w);
  } else if (nowMs - w.startMs >= HOUR || nowMs < w.startMs) {
    w.startMs = nowMs;
    w.count = 0;
  }
  w.count++;
  w.pct = Math.min(100, Math.floor((w.count * 100) / limit));
  return w;
}
