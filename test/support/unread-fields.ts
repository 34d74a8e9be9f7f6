/**
 * Which fields of a webhook payload a parser never looked at. The payload is wrapped in proxies that record every
 * property read (array items share one path: `entry[].changes[].value.messages[].text.body`), the parser runs on
 * it, and every key path of the payload that was never read is returned: a field that reaches a handler only in
 * `raw`, if at all.
 */
export function unreadFields(payload: unknown, parse: (payload: unknown) => unknown): string[] {
  const read = new Set<string>();
  const wrap = (value: unknown, path: string): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    const isArray = Array.isArray(value);
    return new Proxy(value as object, {
      get(target, key, receiver) {
        const got = Reflect.get(target, key, receiver) as unknown;
        if (typeof key !== 'string') return got;
        if (isArray) return /^\d+$/.test(key) ? wrap(got, `${path}[]`) : got;
        const child = path ? `${path}.${key}` : key;
        read.add(child);
        return wrap(got, child);
      },
    });
  };
  parse(wrap(payload, ''));
  const unread = new Set<string>();
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item, `${path}[]`);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    for (const [key, child] of Object.entries(value)) {
      const p = path ? `${path}.${key}` : key;
      if (!read.has(p)) unread.add(p);
      else walk(child, p);
    }
  };
  walk(payload, '');
  return [...unread].sort();
}
