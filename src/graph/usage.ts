/** Parsed rate-limit usage headers (graph-api-facts.md §10). Percentages 0-100. */
export interface AppUsage {
  callCount: number;
  totalCputime: number;
  totalTime: number;
}

export interface BusinessUseCaseUsage {
  /** The business object id the numbers apply to (a WABA id for WhatsApp). */
  objectId: string;
  type: string;
  callCount: number;
  totalCputime: number;
  totalTime: number;
  /** Minutes until access is regained when throttled; 0 when not throttled. */
  estimatedTimeToRegainAccessMin: number;
}

export interface GraphUsage {
  app: AppUsage | undefined;
  businessUseCase: BusinessUseCaseUsage[];
}

function num(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

function parseJsonHeader(value: string | undefined): unknown {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** Reads `X-App-Usage` and `X-Business-Use-Case-Usage`; malformed headers are ignored, never thrown. */
export function parseUsageHeaders(headers: Record<string, string>): GraphUsage {
  const app = parseJsonHeader(headers['x-app-usage']) as Record<string, unknown> | undefined;
  const buc = parseJsonHeader(headers['x-business-use-case-usage']) as Record<string, unknown> | undefined;
  const businessUseCase: BusinessUseCaseUsage[] = [];
  if (buc && typeof buc === 'object') {
    for (const [objectId, entries] of Object.entries(buc)) {
      if (!Array.isArray(entries)) continue;
      for (const e of entries as Record<string, unknown>[]) {
        if (!e || typeof e !== 'object') continue;
        businessUseCase.push({
          objectId,
          type: typeof e.type === 'string' ? e.type : 'unknown',
          callCount: num(e.call_count),
          totalCputime: num(e.total_cputime),
          totalTime: num(e.total_time),
          estimatedTimeToRegainAccessMin: num(e.estimated_time_to_regain_access),
        });
      }
    }
  }
  return {
    app:
      app && typeof app === 'object'
        ? {
            callCount: num(app.call_count),
            totalCputime: num(app.total_cputime),
            totalTime: num(app.total_time),
          }
        : undefined,
    businessUseCase,
  };
}

/** Seconds to wait before retrying: `Retry-After` (seconds or HTTP date) or the largest BUC regain estimate. */
export function retryAfterSeconds(headers: Record<string, string>, nowMs: number): number | undefined {
  const ra = headers['retry-after'];
  if (ra) {
    if (/^\d+$/.test(ra.trim())) return Number(ra.trim());
    const at = Date.parse(ra);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - nowMs) / 1000));
  }
  if (headers['x-business-use-case-usage']) {
    const minutes = Math.max(
      0,
      ...parseUsageHeaders(headers).businessUseCase.map((u) => u.estimatedTimeToRegainAccessMin),
    );
    if (minutes > 0) return minutes * 60;
  }
  return undefined;
}
