import type { WebhookErrorDetail, WireObject } from './events.js';

/** Readers of Meta's wire values: tolerant of strings vs numbers, never throwing. Shared by the webhook parsers. */

export function isObject(v: unknown): v is WireObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): WireObject | undefined {
  return isObject(v) ? v : undefined;
}

export function objects(v: unknown): WireObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

export function eachObject(v: unknown, fn: (item: WireObject, index: number) => void): void {
  if (!Array.isArray(v)) return;
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    if (isObject(item)) fn(item, i);
  }
}

/** Ids arrive as strings or numbers; both become strings (integers without exponent notation). */
export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) {
    return Number.isInteger(v) && Math.abs(v) >= 1e21 ? BigInt(v).toString() : String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  return undefined;
}

/** A list of ids or names; items that are not strings or numbers are skipped. */
export function strings(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const item of v) {
    const s = str(item);
    if (s !== undefined) out.push(s);
  }
  return out;
}

const NUMERIC = /^\s*-?\d+(\.\d+)?\s*$/;

/** Timestamps and counts arrive as numbers or numeric strings. */
export function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && NUMERIC.test(v)) return Number(v);
  return undefined;
}

export function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

export function tryJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function errorList(v: unknown): WebhookErrorDetail[] {
  return objects(v).map(errorDetail);
}

export function errorDetail(e: WireObject): WebhookErrorDetail {
  const data = obj(e.error_data);
  return {
    code: num(e.code),
    title: str(e.title),
    message: str(e.message),
    details: str(data?.details),
    href: str(e.href),
  };
}
