import { ValidationError } from '../core/errors.js';

/** The WABA id a WABA-level call needs, or a ValidationError naming the setting. */
export function requireWaba(id: string | undefined): string {
  if (!id) {
    throw new ValidationError(
      'is required for this call: set WA_BUSINESS_ACCOUNT_ID or pass businessAcctId',
      'businessAcctId',
    );
  }
  return id;
}

/** A Graph object id in a path: digits only, so a caller's value can never change the path. */
export function objectId(id: string, name: string): string {
  if (typeof id !== 'string' || !/^\d{1,32}$/.test(id))
    throw new ValidationError('is not a numeric id', name);
  return id;
}
