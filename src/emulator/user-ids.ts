import { createHash } from 'node:crypto';
import { isBsuid } from '../core/bsuid.js';
import type { EmulatorCore } from './context.js';
import type { PhoneNumberRecord, WaUserRecord } from './state.js';

/**
 * WhatsApp users as Meta identifies them since April 2026 (facts: Meta's "Business-scoped user IDs" guide):
 * - every user has a business-scoped user id (BSUID) per business portfolio: `CC.` + up to 128 alphanumerics,
 *   stable for that portfolio and different in every other one. The emulator derives it from the portfolio id and
 *   the phone number, so it is the same after a restart and on a second emulator, and differs between businesses;
 * - a parent BSUID (`CC.ENT.…`) shared by linked portfolios: derived from the phone number alone;
 * - a user may adopt a username; Meta then withholds the phone number from webhooks (unless the business already
 *   has it in its contact book), and the BSUID is the only address. `withholdPhone` simulates that user.
 */

/** Calling code → ISO 3166 alpha-2 country for the BSUID prefix (longest code first; others: `ZZ`). */
const CALLING_CODES: ReadonlyArray<readonly [string, string]> = (
  [
    ['1', 'US'],
    ['7', 'RU'],
    ['20', 'EG'],
    ['27', 'ZA'],
    ['31', 'NL'],
    ['33', 'FR'],
    ['34', 'ES'],
    ['39', 'IT'],
    ['44', 'GB'],
    ['49', 'DE'],
    ['52', 'MX'],
    ['54', 'AR'],
    ['55', 'BR'],
    ['57', 'CO'],
    ['62', 'ID'],
    ['63', 'PH'],
    ['81', 'JP'],
    ['82', 'KR'],
    ['90', 'TR'],
    ['91', 'IN'],
    ['92', 'PK'],
    ['234', 'NG'],
    ['254', 'KE'],
    ['351', 'PT'],
    ['966', 'SA'],
    ['971', 'AE'],
  ] as Array<[string, string]>
).sort((a, b) => b[0].length - a[0].length);

function countryOf(phone: string): string {
  for (const [code, country] of CALLING_CODES) if (phone.startsWith(code)) return country;
  return 'ZZ';
}

/** 20 decimal digits from a hash, like Meta's example `US.13491208655302741918`. */
function digitsFrom(label: string): string {
  const h = createHash('sha256').update(label).digest();
  return (h.readBigUInt64BE(0) * 10n + BigInt(h[8] ?? 0)).toString().padStart(20, '0').slice(-20);
}

export function bsuidFor(businessId: string, phone: string): string {
  return `${countryOf(phone)}.${digitsFrom(`bsuid:${businessId}:${phone}`)}`;
}

export function parentBsuidFor(phone: string): string {
  return `${countryOf(phone)}.ENT.${digitsFrom(`parent-bsuid:${phone}`)}`;
}

/** Who a send or a webhook is about, in one portfolio. `phone` is undefined when nobody knows it. */
export interface ResolvedUser {
  phone: string | undefined;
  bsuid: string;
  parentBsuid: string | undefined;
  record: WaUserRecord | undefined;
}

export function businessOf(core: EmulatorCore, phone: PhoneNumberRecord): string {
  return core.state.wabas.get(phone.wabaId)?.businessId ?? phone.wabaId;
}

/** The user with this phone number, as one business sees them. */
export function userByPhone(core: EmulatorCore, businessId: string, phone: string): ResolvedUser {
  const record = core.state.waUsers.get(phone);
  return {
    phone,
    bsuid: bsuidFor(businessId, phone),
    parentBsuid: core.state.parentBsuidBusinesses.has(businessId) ? parentBsuidFor(phone) : undefined,
    record,
  };
}

/**
 * The user behind a BSUID (or parent BSUID) of this business: searched among the phone numbers the emulator knows
 * (simulated users, allow-lists, past sends). A BSUID nobody was given resolves to a user with no phone number.
 */
export function userByBsuid(core: EmulatorCore, businessId: string, id: string): ResolvedUser {
  const parent = id.slice(2, 7) === '.ENT.';
  for (const phone of knownPhones(core)) {
    if ((parent ? parentBsuidFor(phone) : bsuidFor(businessId, phone)) === id) {
      return userByPhone(core, businessId, phone);
    }
  }
  return { phone: undefined, bsuid: id, parentBsuid: parent ? id : undefined, record: undefined };
}

function* knownPhones(core: EmulatorCore): Iterable<string> {
  const s = core.state;
  yield* s.waUsers.keys();
  for (const p of s.phoneNumbers.values()) yield* p.allowedRecipients;
  if (s.seed) yield s.seed.recipient;
  for (const m of s.messages.values()) if (m.waId) yield m.waId;
}

/** Whether a webhook may show this user's phone number (a username user who withholds it: no). */
export function sharesPhone(user: ResolvedUser): boolean {
  return user.phone !== undefined && !user.record?.withholdPhone;
}

/** One `contacts[]` entry in the 2026 shape: `wa_id` only when shared, `user_id` always. */
export function contactEntry(
  user: ResolvedUser,
  profile: { name?: string | undefined; username?: boolean },
): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (profile.name !== undefined) p.name = profile.name;
  if (profile.username && user.record?.username) p.username = user.record.username;
  const entry: Record<string, unknown> = {};
  if (Object.keys(p).length) entry.profile = p;
  if (sharesPhone(user)) entry.wa_id = user.phone;
  entry.user_id = user.bsuid;
  if (user.parentBsuid) entry.parent_user_id = user.parentBsuid;
  return entry;
}

export { isBsuid };
