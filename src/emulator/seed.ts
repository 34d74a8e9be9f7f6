import type { EmulatorCore } from './context.js';
import type { EmulatorSeed } from './state.js';
import { digitsOf, WHATSAPP_SCOPES, type World } from './world.js';

/** Overrides for the seeded world; everything not given is generated (secrets and tokens always at run time). */
export interface SeedOptions {
  appId?: string;
  appSecret?: string;
  appName?: string;
  businessId?: string;
  wabaId?: string;
  phoneNumberId?: string;
  displayPhoneNumber?: string;
  /** The test number's recipient allow-list; the first is printed as the curl's recipient. Default ["16505551234"]. */
  recipients?: string[];
  /** Valid OAuth redirect URIs of the seeded app. */
  redirectUris?: string[];
  /** Webhook callback of the seeded app (no handshake at seed time). */
  callbackUrl?: string;
  verifyToken?: string;
  requireAppSecret?: boolean;
}

/** Meta's sample template, present in every new WABA. */
const HELLO_WORLD_COMPONENTS = [
  { type: 'HEADER', format: 'TEXT', text: 'Hello World' },
  {
    type: 'BODY',
    text: 'Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us.',
  },
  { type: 'FOOTER', text: 'WhatsApp Business Platform sample message' },
];

/** Creates one of each: business, app, user, system user, WABA, test number, `hello_world`, a 24-hour token. */
export function seedWorld(core: EmulatorCore, world: World, o: SeedOptions = {}): EmulatorSeed {
  const business = world.createBusiness({ id: o.businessId, name: 'Emulated Business' });
  const app = world.createApp({
    id: o.appId,
    secret: o.appSecret,
    name: o.appName ?? 'Emulated App',
    businessId: business.id,
    redirectUris: o.redirectUris ?? [],
    requireAppSecret: o.requireAppSecret ?? false,
    callbackUrl: o.callbackUrl,
    verifyToken: o.verifyToken,
  });
  const waba = world.createWaba({ id: o.wabaId, businessId: business.id, subscribeAppIds: [app.id] });
  const recipients = (o.recipients ?? ['16505551234']).map(digitsOf);
  const phone = world.createPhoneNumber({
    id: o.phoneNumberId,
    wabaId: waba.id,
    displayPhoneNumber: o.displayPhoneNumber ?? '+1 555-078-3881',
    verifiedName: 'Test Number',
    isTestNumber: true,
    allowedRecipients: recipients,
  });
  const user = world.createUser({
    name: 'Emulated Developer',
    businessIds: [business.id],
    wabaIds: [waba.id],
  });
  const systemUser = world.createSystemUser({
    businessId: business.id,
    name: 'Emulated System User',
    role: 'ADMIN',
    appIds: [app.id],
    wabaIds: [waba.id],
  });
  world.createTemplate({
    wabaId: waba.id,
    name: 'hello_world',
    language: 'en_US',
    category: 'UTILITY',
    status: 'APPROVED',
    components: HELLO_WORLD_COMPONENTS,
  });
  const token = core.tokens.mint({
    kind: 'user',
    appId: app.id,
    subjectId: user.id,
    scopes: [...WHATSAPP_SCOPES, 'business_management', 'public_profile'],
    targetIds: [waba.id],
    expiresInSec: core.tokens.ttl.temporarySec,
    dataAccessExpiresInSec: core.tokens.ttl.dataAccessSec,
    origin: 'seed',
  });
  const seed: EmulatorSeed = {
    appId: app.id,
    appSecret: app.secret,
    appName: app.name,
    businessId: business.id,
    userId: user.id,
    systemUserId: systemUser.id,
    wabaId: waba.id,
    phoneNumberId: phone.id,
    displayPhoneNumber: phone.displayPhoneNumber,
    recipient: recipients[0] ?? '16505551234',
    accessToken: token.value,
    accessTokenExpiresAt: new Date(token.expiresAtMs).toISOString(),
    apiVersion: core.settings.apiVersion,
  };
  core.state.seed = seed;
  core.state.touch();
  return seed;
}

/** On restart from a state file: the seed's temporary token may have expired; issue a fresh one like the dashboard. */
export function refreshSeedToken(core: EmulatorCore): void {
  const seed = core.state.seed;
  if (!seed) return;
  const resolved = core.tokens.resolve(seed.accessToken);
  if ('principal' in resolved) return;
  const app = core.state.apps.get(seed.appId);
  if (!app || !core.state.users.has(seed.userId)) return;
  const token = core.tokens.mint({
    kind: 'user',
    appId: app.id,
    subjectId: seed.userId,
    scopes: [...WHATSAPP_SCOPES, 'business_management', 'public_profile'],
    targetIds: [seed.wabaId],
    expiresInSec: core.tokens.ttl.temporarySec,
    dataAccessExpiresInSec: core.tokens.ttl.dataAccessSec,
    origin: 'seed',
  });
  seed.accessToken = token.value;
  seed.accessTokenExpiresAt = new Date(token.expiresAtMs).toISOString();
  core.state.touch();
}

/** The `curl` from Meta's getting-started guide, host replaced. */
export function seedCurl(seed: EmulatorSeed, baseUrl: string): string {
  const body = `{ "messaging_product": "whatsapp", "to": "${seed.recipient}", "type": "template", "template": { "name": "hello_world", "language": { "code": "en_US" } } }`;
  return [
    'curl -i -X POST \\',
    `  ${baseUrl}/${seed.apiVersion}/${seed.phoneNumberId}/messages \\`,
    `  -H 'Authorization: Bearer ${seed.accessToken}' \\`,
    "  -H 'Content-Type: application/json' \\",
    `  -d '${body}'`,
  ].join('\n');
}

/** The start banner. It prints the app secret and the token on purpose: a local sandbox, like Meta's dashboard. */
export function formatSeed(seed: EmulatorSeed, baseUrl: string): string {
  return `wacloud emulator: a local WhatsApp Cloud API (Graph ${seed.apiVersion}) at ${baseUrl}

  App ID                         ${seed.appId}
  App secret                     ${seed.appSecret}
  Phone number ID                ${seed.phoneNumberId}  (${seed.displayPhoneNumber}, test number)
  WhatsApp Business Account ID   ${seed.wabaId}
  Business ID                    ${seed.businessId}
  Test recipient                 ${seed.recipient}
  Temporary access token         (expires ${seed.accessTokenExpiresAt})
    ${seed.accessToken}

These are sandbox credentials, printed on purpose (this banner is the only place the emulator shows them).

Send a message (Meta's getting-started curl, host replaced):

${seedCurl(seed, baseUrl)}

Control API: ${baseUrl}/_emulator  (see docs/emulator.md)
`;
}
