/** Fault injection: latency, HTTP errors, connection resets and Graph errors for the next K calls on a path. */

export type FaultKind = 'latency' | 'status' | 'reset' | 'graph_error';

export interface FaultRuleInput {
  kind: FaultKind;
  /** Glob over the request path (`*` matches anything, `/` included), e.g. `*\/messages`. Default: every Graph path. */
  path?: string;
  /** HTTP method; default any. */
  method?: string;
  /** How many matching calls it applies to; default unlimited. */
  count?: number;
  /** `latency`: delay before the call is handled (ms, at most 10 minutes). */
  latencyMs?: number;
  /** `status`: the HTTP status (e.g. 500, 502, 503). `graph_error`: overrides the mapped status. */
  status?: number;
  /** `status`: a raw body to send instead of Graph's transient-error body. */
  body?: string;
  /** `graph_error`: the error to answer. */
  code?: number;
  subcode?: number;
  message?: string;
  type?: string;
  details?: string;
  isTransient?: boolean;
}

export interface FaultRule extends FaultRuleInput {
  id: string;
  /** Calls still affected (undefined = unlimited). */
  remaining: number | undefined;
  /** Calls affected so far. */
  hits: number;
}

const KINDS = new Set<FaultKind>(['latency', 'status', 'reset', 'graph_error']);
export const MAX_LATENCY_MS = 600_000;

/** Checks a rule from the control API; returns an error message or undefined. */
export function checkFaultInput(input: FaultRuleInput): string | undefined {
  if (!KINDS.has(input.kind)) return `kind must be one of ${[...KINDS].join(', ')}`;
  if (input.path !== undefined && typeof input.path !== 'string') return 'path must be a string';
  if (input.count !== undefined && (!Number.isInteger(input.count) || input.count < 1)) {
    return 'count must be a positive integer';
  }
  if (input.kind === 'latency') {
    const ms = input.latencyMs;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_LATENCY_MS) {
      return `latencyMs must be a number between 0 and ${MAX_LATENCY_MS}`;
    }
  }
  if (input.kind === 'status') {
    if (!Number.isInteger(input.status) || (input.status as number) < 400 || (input.status as number) > 599) {
      return 'status must be an HTTP error status (400-599)';
    }
  }
  if (input.kind === 'graph_error' && !Number.isInteger(input.code))
    return 'code must be an integer Graph error code';
  if (input.status !== undefined && input.kind === 'graph_error') {
    if (!Number.isInteger(input.status) || input.status < 400 || input.status > 599) {
      return 'status must be an HTTP error status (400-599)';
    }
  }
  return undefined;
}

export class FaultInjector {
  rules: FaultRule[] = [];
  #seq = 0;

  add(input: FaultRuleInput): FaultRule {
    const rule: FaultRule = { ...input, id: `fault-${++this.#seq}`, remaining: input.count, hits: 0 };
    this.rules.push(rule);
    return rule;
  }

  remove(id?: string): number {
    const before = this.rules.length;
    this.rules = id ? this.rules.filter((r) => r.id !== id) : [];
    return before - this.rules.length;
  }

  /** The rules matching this call, consumed (K decremented). Latency rules first, then the first terminal rule. */
  take(method: string, path: string): { latencyMs: number; terminal: FaultRule | undefined } {
    if (this.rules.length === 0) return { latencyMs: 0, terminal: undefined };
    let latencyMs = 0;
    let terminal: FaultRule | undefined;
    for (const rule of this.rules) {
      if (rule.method && rule.method.toUpperCase() !== method) continue;
      if (rule.path && !globMatch(rule.path, path)) continue;
      if (rule.kind === 'latency') latencyMs += rule.latencyMs ?? 0;
      else if (terminal) continue;
      else terminal = rule;
      rule.hits++;
      if (rule.remaining !== undefined) rule.remaining--;
    }
    this.rules = this.rules.filter((r) => r.remaining === undefined || r.remaining > 0);
    return { latencyMs: Math.min(latencyMs, MAX_LATENCY_MS), terminal };
  }
}

const globCache = new Map<string, RegExp>();

export function globMatch(glob: string, path: string): boolean {
  let re = globCache.get(glob);
  if (!re) {
    const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
    re = new RegExp(`^${escaped.startsWith('.*') || escaped.startsWith('/') ? '' : '/'}${escaped}$`);
    if (globCache.size > 1000) globCache.clear();
    globCache.set(glob, re);
  }
  return re.test(path);
}
