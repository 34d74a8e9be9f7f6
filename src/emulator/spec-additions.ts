/**
 * What Meta's Cloud API checks beyond the v23.0 OpenAPI spec the emulator validates sends with
 * (src/emulator/spec/schemas.json), applied to a copy of the spec's bundle when the validators are compiled:
 * - `recipient` (2026, Meta's business-scoped user ids guide): a BSUID or parent BSUID instead of `to`; a send
 *   needs one of them (`to` wins when both are given, which the send path decides);
 * - a text body is 1 to 4096 characters (an empty body is refused);
 * - a media caption is at most 1024 characters (Cloud API reference, "Media object": caption);
 * - a reaction names the message it reacts to (`message_id`) and an `emoji` ("" removes the reaction);
 * - a location has both `latitude` and `longitude`.
 */

type Schema = Record<string, unknown> & {
  properties?: Record<string, Schema>;
  required?: string[];
};

export function withMetaAdditions<T extends { $defs: Record<string, unknown> }>(
  bundle: T,
  messageDefs: string[],
): T {
  const copy = structuredClone(bundle);
  const defs = copy.$defs as Record<string, Schema>;
  for (const name of messageDefs) {
    const def = defs[name];
    if (!def?.properties) continue;
    def.properties.recipient = { type: 'string', minLength: 1 };
    def.required = (def.required ?? []).filter((r) => r !== 'to');
    def.anyOf = [{ required: ['to'] }, { required: ['recipient'] }];
  }
  const text = defs.TextMessage?.properties?.text?.properties?.body;
  if (text) text.minLength = 1;
  const media = defs.MediaObject;
  if (media) media.properties = { ...media.properties, caption: { type: 'string', maxLength: 1024 } };
  const reaction = defs.ReactionMessage?.properties?.reaction;
  if (reaction) reaction.required = ['message_id', 'emoji'];
  const location = defs.LocationMessage?.properties?.location;
  if (location) location.required = ['latitude', 'longitude'];
  return copy;
}
