import type { ContactProfile, WebhookUser } from './events.js';
import { obj, objects, str } from './wire.js';

/**
 * `value.contacts[]`: since April 2026 each entry carries `user_id` (the BSUID) and, when enabled, `parent_user_id`;
 * `wa_id` is omitted for a username user whose number Meta withholds, and `profile.username` is set once the user
 * adopted a username (facts: Meta's business-scoped user ids guide).
 */
export function contactList(v: unknown): ContactProfile[] {
  return objects(v).map((c) => {
    const profile = obj(c.profile);
    return {
      waId: str(c.wa_id),
      name: str(profile?.name),
      userId: str(c.user_id),
      parentUserId: str(c.parent_user_id),
      username: str(profile?.username),
    };
  });
}

/** The contact for a user known by phone and/or BSUID; the only contact when there is exactly one. */
export function contactFor(
  contacts: ContactProfile[],
  waId: string | undefined,
  userId?: string | undefined,
): ContactProfile | undefined {
  if (contacts.length === 0) return undefined;
  const match =
    (userId ? contacts.find((c) => c.userId === userId || c.parentUserId === userId) : undefined) ??
    (waId ? contacts.find((c) => c.waId === waId) : undefined);
  return match ?? (contacts.length === 1 ? contacts[0] : undefined);
}

/** One user object from the identifiers an item carries, completed from its contact entry. */
export function userOf(
  contact: ContactProfile | undefined,
  phone: string | undefined,
  bsuid: string | undefined,
  parentBsuid?: string | undefined,
): WebhookUser {
  return {
    phone: phone ?? contact?.waId,
    bsuid: bsuid ?? contact?.userId,
    parentBsuid: parentBsuid ?? contact?.parentUserId,
    username: contact?.username,
    name: contact?.name,
  };
}
