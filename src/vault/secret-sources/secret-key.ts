import { SecretSourceError } from './secret-source-error.js';

/** A key split at its last `#`: `wacloud/prod#app_secret` → name `wacloud/prod`, field `app_secret`. */
export interface ParsedSecretKey {
  name: string;
  field: string | undefined;
}

/** Splits `name#field`. An empty name is an `invalid-key` error; an empty field means no field. */
export function parseSecretKey(source: string, key: string): ParsedSecretKey {
  if (typeof key !== 'string') throw new SecretSourceError('invalid-key', source, 'the key must be a string');
  const hash = key.lastIndexOf('#');
  const name = hash < 0 ? key : key.slice(0, hash);
  const field = hash < 0 ? undefined : key.slice(hash + 1) || undefined;
  if (name.trim() === '')
    throw new SecretSourceError('invalid-key', source, 'the key has an empty name', { key });
  return { name, field };
}

/** A field's value as text: strings as they are, numbers and booleans printed, objects as JSON, null as absent. */
export function fieldText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function parseObject(source: string, key: string, raw: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // Never quote the value or the parser's message: both can contain the secret.
    throw new SecretSourceError(
      'bad-value',
      source,
      `"${key}" asks for a field, but the stored value is not JSON`,
      { key },
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretSourceError(
      'bad-value',
      source,
      `"${key}" asks for a field, but the stored value is not a JSON object`,
      { key },
    );
  }
  return parsed as Record<string, unknown>;
}

/** Picks `field` out of a stored JSON object text; a missing field is `undefined`. */
export function selectField(source: string, key: string, raw: string, field: string): string | undefined {
  const obj = parseObject(source, key, raw);
  return Object.hasOwn(obj, field) ? fieldText(obj[field]) : undefined;
}

/** Sets `field` in a stored JSON object text (or a new object) and returns the new JSON text. */
export function mergeField(
  source: string,
  key: string,
  raw: string | undefined,
  field: string,
  value: string,
): string {
  const obj = raw === undefined || raw.trim() === '' ? {} : parseObject(source, key, raw);
  return JSON.stringify({ ...obj, [field]: value });
}
