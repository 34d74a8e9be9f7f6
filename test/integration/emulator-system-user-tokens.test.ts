// POST /{business-id}/system_user_access_tokens (graph-api-facts.md §6.3, S-SUAT, S-FLB): business admins mint
// system-user tokens; a business integration system user (BISU) fetches narrowed (granular) tokens for itself.
import { afterEach, describe, expect, it } from 'vitest';
import { computeAppSecretProof, createEmulator, type Emulator } from '../../src/emulator/index.js';
import { call, type LooseJson } from './emulator-support.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

const EDGE = 'system_user_access_tokens';

/** POSTs the edge with a proof computed for `token` (unless `proof` overrides it). */
async function mint(
  businessId: string,
  token: string,
  params: Record<string, string>,
  proof: string | null = computeAppSecretProof(token, emu.seed!.appSecret),
) {
  const form: Record<string, string> = { ...params };
  if (proof !== null) form.appsecret_proof = proof;
  return call(emu, 'POST', `/v25.0/${businessId}/${EDGE}`, { form, token });
}

async function inspect(token: string) {
  const seed = emu.seed!;
  return (
    await call(emu, 'GET', `/v25.0/debug_token?input_token=${token}`, {
      token: `${seed.appId}|${seed.appSecret}`,
    })
  ).json.data;
}

describe('POST /{business-id}/system_user_access_tokens', () => {
  it('a business admin mints tokens for a system user: scopes, assets, 60-day expiry; answers {access_token}', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const admin = emu.world.mintToken({ kind: 'system_user', appId: seed.appId }).accessToken;
    const otherWaba = emu.world.createWaba({ businessId: seed.businessId, name: 'Second' });
    const bot = emu.world.createSystemUser({
      businessId: seed.businessId,
      name: 'Bot',
      role: 'EMPLOYEE',
      appIds: [seed.appId],
      wabaIds: [seed.wabaId, otherWaba.id],
    });
    const made = await mint(seed.businessId, admin, {
      system_user_id: bot.id,
      scope: 'whatsapp_business_messaging,whatsapp_business_management',
      asset: JSON.stringify([Number(seed.wabaId)]),
    });
    expect(made.status).toBe(200);
    expect(Object.keys(made.json)).toEqual(['access_token']);
    const data = await inspect(made.json.access_token);
    expect(data).toMatchObject({ type: 'SYSTEM_USER', user_id: bot.id, expires_at: 0, is_valid: true });
    expect(data.scopes).toEqual(['whatsapp_business_messaging', 'whatsapp_business_management']);
    expect(data.granular_scopes).toContainEqual({
      scope: 'whatsapp_business_messaging',
      target_ids: [seed.wabaId],
    });
    // The token works on its asset and not on the other one.
    const send = await call(emu, 'POST', `/v25.0/${seed.phoneNumberId}/messages`, {
      token: made.json.access_token,
      body: { messaging_product: 'whatsapp', to: seed.recipient, type: 'text', text: { body: 'hi' } },
    });
    expect(send.status).toBe(200);

    const sixty = await mint(seed.businessId, admin, {
      system_user_id: bot.id,
      scope: 'whatsapp_business_messaging',
      set_token_expires_in_60_days: 'true',
    });
    const nowSec = Math.floor(emu.clock.now() / 1000);
    const exp = (await inspect(sixty.json.access_token)).expires_at;
    expect(exp).toBeGreaterThan(nowSec + 59 * 86_400);
    expect(exp).toBeLessThanOrEqual(nowSec + 60 * 86_400 + 1);
    expect(emu.counters()['POST /{business-id}/system_user_access_tokens']).toBe(2);
  });

  it("refuses what Graph refuses, with Graph's errors, and changes nothing", async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const admin = emu.world.mintToken({ kind: 'system_user', appId: seed.appId }).accessToken;
    const bot = emu.world.createSystemUser({
      businessId: seed.businessId,
      appIds: [seed.appId],
      wabaIds: [seed.wabaId],
    });
    const minted = () => [...emu.state.tokens.values()].filter((t) => t.origin === 'system-user-api').length;
    const base = { system_user_id: bot.id, scope: 'whatsapp_business_messaging' };
    const err = async (r: Promise<{ json: LooseJson }>) => (await r).json.error;

    expect(await err(mint(seed.businessId, admin, base, null))).toMatchObject({
      code: 100,
      message: 'API calls from the server require an appsecret_proof argument',
    });
    expect(await err(mint(seed.businessId, admin, base, 'f'.repeat(64)))).toMatchObject({
      code: 100,
      message: 'Invalid appsecret_proof provided in the API argument',
    });
    const noToken = await call(emu, 'POST', `/v25.0/${seed.businessId}/${EDGE}`, { form: base });
    expect(noToken.json.error.code).toBe(104);
    expect((await err(mint(seed.businessId, admin, { ...base, scope: 'make_coffee' }))).code).toBe(3962);
    expect((await err(mint('123456789012345', admin, base))).error_subcode).toBe(33);
    const elsewhere = emu.world.createBusiness({ name: 'Elsewhere' });
    expect((await err(mint(elsewhere.id, admin, base))).message).toMatch(/system user of business/);
    // A user token must name the system user (a system user's own token defaults to itself).
    expect((await err(mint(seed.businessId, seed.accessToken, { scope: base.scope }))).message).toMatch(
      /system_user_id is required/,
    );
    expect((await err(mint(seed.businessId, admin, { system_user_id: bot.id }))).message).toMatch(
      /scope is required/,
    );
    expect((await err(mint(seed.businessId, admin, { ...base, asset: '["x"]' }))).message).toMatch(
      /asset must be an array/,
    );
    expect((await err(mint(seed.businessId, admin, { ...base, asset: '999999999999' }))).code).toBe(200);
    expect((await err(mint(seed.businessId, admin, { ...base, fetch_only: 'maybe' }))).message).toMatch(
      /fetch_only must be a boolean/,
    );
    // Not an admin of the business: a user outside it, or an employee system user.
    const outsider = emu.world.createUser({ name: 'Outsider' });
    const userToken = emu.world.mintToken({
      kind: 'user',
      appId: seed.appId,
      subjectId: outsider.id,
    }).accessToken;
    expect((await err(mint(seed.businessId, userToken, base))).code).toBe(200);
    const employee = emu.world.createSystemUser({
      businessId: seed.businessId,
      role: 'EMPLOYEE',
      appIds: [seed.appId],
    });
    const employeeToken = emu.world.mintToken({
      kind: 'system_user',
      appId: seed.appId,
      subjectId: employee.id,
    }).accessToken;
    expect((await err(mint(seed.businessId, employeeToken, base))).code).toBe(200);
    // The app must be installed on the system user.
    const bare = emu.world.createSystemUser({ businessId: seed.businessId });
    expect((await err(mint(seed.businessId, admin, { ...base, system_user_id: bare.id }))).message).toMatch(
      /not installed/,
    );
    // An app token is not a user.
    const appToken = emu.world.mintToken({ kind: 'app', appId: seed.appId }).accessToken;
    expect((await err(mint(seed.businessId, appToken, base))).code).toBe(200);
    expect(minted()).toBe(0);
  });

  it('a BISU token (Login for Business) fetches narrowed tokens for its own system user, fetch_only reuses one', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const second = emu.world.createWaba({ businessId: seed.businessId, name: 'Second' });
    emu.world.createUser({
      id: '100000000000777',
      businessIds: [seed.businessId],
      wabaIds: [seed.wabaId, second.id],
    });
    const config = await call(emu, 'POST', `/_emulator/apps/${seed.appId}/configs`, {
      body: { token_type: 'system_user' },
    });
    const code = (
      await call(emu, 'POST', '/_emulator/oauth/codes', {
        body: { config_id: config.json.id, user_id: '100000000000777', waba_ids: [seed.wabaId, second.id] },
      })
    ).json.code as string;
    const exchanged = await call(
      emu,
      'GET',
      `/v25.0/oauth/access_token?client_id=${seed.appId}&client_secret=${seed.appSecret}&code=${code}`,
    );
    const bisu = exchanged.json.access_token as string;
    expect((await inspect(bisu)).type).toBe('SYSTEM_USER');
    // The client business id and the system user, as S-FLB says to read them.
    const me = (await call(emu, 'GET', '/v25.0/me?fields=client_business_id', { token: bisu })).json;
    const made = await mint(me.client_business_id, bisu, { system_user_id: me.id, fetch_only: 'true' });
    expect(made.status).toBe(200);
    // Nothing narrower was asked: the working token that matches is the caller's own.
    expect(made.json.access_token).toBe(bisu);

    const before = emu.state.tokens.size;
    const narrow = { system_user_id: me.id, scope: 'whatsapp_business_messaging', asset: second.id };
    const a = await mint(me.client_business_id, bisu, narrow);
    const data = await inspect(a.json.access_token);
    expect(data.scopes).toEqual(['whatsapp_business_messaging']);
    expect(data.granular_scopes).toEqual([{ scope: 'whatsapp_business_messaging', target_ids: [second.id] }]);
    const again = await mint(me.client_business_id, bisu, { ...narrow, fetch_only: 'true' });
    expect(again.json.access_token).toBe(a.json.access_token);
    const fresh = await mint(me.client_business_id, bisu, narrow);
    expect(fresh.json.access_token).not.toBe(a.json.access_token);
    expect(emu.state.tokens.size).toBe(before + 2);

    // Only subsets of the original grant.
    const wider = await mint(me.client_business_id, bisu, { ...narrow, scope: 'ads_management' });
    expect(wider.json.error).toMatchObject({ code: 200 });
    const otherAsset = emu.world.createWaba({ businessId: seed.businessId, name: 'Not shared' });
    const notShared = await mint(me.client_business_id, bisu, { ...narrow, asset: otherAsset.id });
    expect(notShared.json.error).toMatchObject({ code: 200 });
    // A revoked original can fetch nothing.
    emu.world.revokeToken(bisu);
    const revoked = await mint(me.client_business_id, bisu, narrow);
    expect(revoked.json.error).toMatchObject({ code: 190, error_subcode: 467 });
  });
});
