import { WebhookError } from './errors.js';
import type { RawBody } from './verify-signature.js';

/** Where a JSON number of 16+ digits could start: after `:`, `,` or `[`. Strings rarely match; those that do only cost a rescan. */
const LONG_NUMBER = /[:,[]\s*-?\d{16}/;

/**
 * Parses a delivery's raw bytes as JSON. Integers too large for a JS number (ids Meta sends unquoted) are kept
 * exactly, as strings, instead of being rounded. Throws a {@link WebhookError} (`bad_json`, HTTP 400) on anything
 * that is not JSON.
 */
export function parseJsonBody(raw: RawBody): unknown {
  const text =
    typeof raw === 'string'
      ? raw
      : (Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)).toString(
          'utf8',
        );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WebhookError('bad_json', 'the request body is not valid JSON');
  }
  // Only bodies with a 16+ digit number can hold an unsafe integer literal; the rest skip the rescan.
  if (!LONG_NUMBER.test(text)) return value;
  const quoted = quoteUnsafeIntegers(text);
  return quoted === text ? value : JSON.parse(quoted);
}

/** Rewrites integer literals beyond Number.MAX_SAFE_INTEGER as JSON strings; string contents are left alone. */
function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) {
          i++;
          break;
        } else i++;
      }
      continue;
    }
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      if (c === 0x2d) i++;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      const intEnd = i;
      let isInteger = true;
      if (i < n && text.charCodeAt(i) === 0x2e /* . */) {
        isInteger = false;
        i++;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
      }
      const e = text.charCodeAt(i);
      if (i < n && (e === 0x65 || e === 0x45) /* e E */) {
        isInteger = false;
        i++;
        const s = text.charCodeAt(i);
        if (s === 0x2b || s === 0x2d) i++;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
      }
      if (isInteger && intEnd - start >= 16) {
        const literal = text.slice(start, intEnd);
        if (!Number.isSafeInteger(Number(literal))) {
          out += `${text.slice(last, start)}"${literal}"`;
          last = intEnd;
        }
      }
      continue;
    }
    i++;
  }
  return last === 0 ? text : out + text.slice(last);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
