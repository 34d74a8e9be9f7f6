import { type EmuContext, readBodyBytes } from './context.js';
import { ControlError } from './world.js';

/** Readers of the control API's JSON bodies: each refuses a wrong type with a ControlError naming the field. */

export type Json = Record<string, unknown>;

/** Reads a JSON object body (empty body = {}). */
export async function jsonBody(c: EmuContext, maxBytes: number): Promise<Json> {
  const text = (await readBodyBytes(c, maxBytes)).toString('utf8').trim();
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ControlError('the body must be JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new ControlError('the body must be a JSON object');
  return v as Json;
}

export const str = (b: Json, k: string): string | undefined => {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw new ControlError(`${k} must be a string`);
  return String(v);
};
export const strList = (b: Json, k: string): string[] | undefined => {
  const v = b[k];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' && typeof x !== 'number')) {
    throw new ControlError(`${k} must be an array of strings`);
  }
  return v.map(String);
};
export const num = (b: Json, k: string): number | undefined => {
  const v = b[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ControlError(`${k} must be a number`);
  return v;
};
export const bool = (b: Json, k: string): boolean | undefined => {
  const v = b[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ControlError(`${k} must be true or false`);
  return v;
};
export const required = <T>(v: T | undefined, k: string): T => {
  if (v === undefined || v === '') throw new ControlError(`${k} is required`);
  return v;
};
