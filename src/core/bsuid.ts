/**
 * Business-scoped user ids (BSUIDs), Meta's per-portfolio user identifier since April 2026: an ISO 3166 alpha-2
 * country code, a period, and up to 128 alphanumeric characters (`US.13491208655302741918`); a parent BSUID, shared
 * by linked portfolios, has `ENT` between them (`US.ENT.11815799212886844830`).
 *
 * @see https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
 */
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

/** True for a BSUID or a parent BSUID. */
export function isBsuid(value: string): boolean {
  return BSUID.test(value);
}

/** True for a parent BSUID (`CC.ENT.…`). */
export function isParentBsuid(value: string): boolean {
  return BSUID.test(value) && value.slice(2, 7) === '.ENT.';
}
