import type { FlowJsonPosition } from './management-api.js';

/**
 * A JSON parser that remembers where each value sits (1-based line and column, like Meta's `validation_errors`), so
 * an offline check can point at `screens[1].layout.children[0]` the way Meta does. Paths use Meta's notation.
 */
export interface PositionedJson {
  value: unknown;
  /** Position of the value at a path (`''` is the root, `screens[0].id`). */
  at(path: string): FlowJsonPosition;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: FlowJsonPosition,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

export function parseWithPositions(text: string): PositionedJson {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const lineCol = (offset: number): [number, number] => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return [lo + 1, offset - (lineStarts[lo] as number) + 1];
  };
  const span = (start: number, end: number): FlowJsonPosition => {
    const [ls, cs] = lineCol(start);
    const [le, ce] = lineCol(Math.max(start, end - 1));
    return { line_start: ls, column_start: cs, line_end: le, column_end: ce + 1 };
  };
  const positions = new Map<string, FlowJsonPosition>();
  let i = 0;
  const fail = (message: string): never => {
    throw new JsonSyntaxError(message, span(i, i + 1));
  };
  const ws = () => {
    while (i < text.length && /[ \t\r\n]/.test(text[i] as string)) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('Unterminated string');
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      i = start;
      return fail('Invalid string');
    }
  };
  const value = (path: string, depth: number): unknown => {
    if (depth > 200) fail('Nesting too deep');
    ws();
    const start = i;
    let out: unknown;
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          ws();
          if (text[i] !== '"') fail('Expected a property name');
          const key = str();
          ws();
          if (text[i] !== ':') fail("Expected ':'");
          i++;
          obj[key] = value(path === '' ? key : `${path}.${key}`, depth + 1);
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === '}') {
            i++;
            break;
          } else fail("Expected ',' or '}'");
        }
      }
      out = obj;
    } else if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') i++;
      else {
        for (;;) {
          arr.push(value(`${path}[${arr.length}]`, depth + 1));
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === ']') {
            i++;
            break;
          } else fail("Expected ',' or ']'");
        }
      }
      out = arr;
    } else if (c === '"') out = str();
    else {
      const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(
        text.slice(i, i + 400),
      );
      if (!m)
        fail(i >= text.length ? 'Unexpected end of JSON' : `Unexpected token ${JSON.stringify(text[i])}`);
      i += (m as RegExpExecArray)[0].length;
      out = JSON.parse((m as RegExpExecArray)[0]);
    }
    positions.set(path, span(start, i));
    return out;
  };
  const root = value('', 0);
  ws();
  if (i < text.length) fail('Unexpected text after the JSON value');
  return {
    value: root,
    at(path) {
      let p = path;
      for (;;) {
        const found = positions.get(p);
        if (found) return found;
        if (p === '') return span(0, 1);
        // Fall back to the nearest parent that exists (a missing property points at its object).
        const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
        p = cut <= 0 ? '' : p.slice(0, cut);
      }
    },
  };
}
