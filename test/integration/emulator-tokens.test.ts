import { afterEach, describe, expect, it } from 'vitest';
import { computeAppSecretProof, createEmulator, type Emulator } from '../../src/emulator/index.js';
import { call } from './emulator-support.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

const phonePath = (e: Emulator) => `/v23.0/${e.seed!.phoneNumberId}`;
const sendPath = (e: Emulator) => `/v23.0/${e.seed!.phoneNumberId}/messages`;
const text = (to: string) => ({ messaging_product: 'whatsapp', to, type: 'text', text: { body: 'hi' } });

describe('token validation on every Graph call', () => {
  it('missing → 104; malformed or unknown → 190 without subcode; both with WWW-Authenticate', async () => {
    emu = createEmulator();
    const missing = await call(emu, 'GET', phonePath(emu));
    expect(missing.status).toBe(401);
    expect(missing.json.error.code).toBe(104);
    const malformed = await call(emu, 'GET', phonePath(emu), { token: 'not a token!' });
    expect(malformed.json.error).toMatchObject({
      code: 190,
      message: 'Malformed access token',
      type: 'OAuthException',
    });
    expect(malformed.json.error.error_subcode).toBeUndefined();
    expect(malformed.headers.get('www-authenticate')).toBe(
      'OAuth "Facebook Platform" "invalid_token" "Malformed access token"',
    );
    const unknown = await call(emu, 'GET', phonePath(emu), { token: `EAAW${'x'.repeat(60)}` });
    expect(unknown.status).toBe(401);
    expect(unknown.json.error).toMatchObject({
      code: 190,
      message: 'Invalid OAuth access token - Cannot parse access token',
    });
  });

  it("advancing the clock past expiry → 190/463 with Meta's wording", async () => {
    emu = createEmulator();
    expect((await call(emu, 'GET', phonePath(emu), { token: emu.seed!.accessToken })).status).toBe(200);
    await emu.clock.advance(24 * 3_600_000 + 1_000);
    const res = await call(emu, 'POST', sendPath(emu), {
      token: emu.seed!.accessToken,
      body: text(emu.seed!.recipient),
    });
    expect(res.status).toBe(401);
    expect(res.json.error).toMatchObject({ code: 190, error_subcode: 463, type: 'OAuthException' });
    expect(res.json.error.message).toMatch(
      /^Error validating access token: Session has expired on \w+day, \d\d-\w{3}-\d\d \d\d:\d\d:\d\d P[DS]T\. The current time is \w+day, \d\d-\w{3}-\d\d \d\d:\d\d:\d\d P[DS]T\.$/,
    );
    expect(res.headers.get('www-authenticate')).toMatch(
      /^OAuth "Facebook Platform" "invalid_token" "Error validating/,
    );
  });

  it('password change → 460, app removed by the user → 458, app deleted → 458, revoked → 467, data access lapsed → 493', async () => {
    emu = createEmulator();
    const w = emu.world;
    const seed = emu.seed!;
    const mint = () => w.mintToken({ kind: 'user_long', appId: seed.appId }).accessToken;
    const errorFor = async (token: string) => (await call(emu, 'GET', phonePath(emu), { token })).json.error;

    const a = mint();
    w.changePassword(seed.userId);
    expect(await errorFor(a)).toMatchObject({ code: 190, error_subcode: 460 });
    const afterChange = mint();
    expect((await call(emu, 'GET', phonePath(emu), { token: afterChange })).status).toBe(200);

    const b = mint();
    w.removeApp(seed.appId, seed.userId);
    expect(await errorFor(b)).toMatchObject({
      code: 190,
      error_subcode: 458,
      message: `Error validating access token: The user has not authorized application ${seed.appId}.`,
    });

    const other = w.createApp({ name: 'Other', businessId: seed.businessId });
    const c = w.mintToken({ kind: 'system_user', appId: other.id }).accessToken;
    w.removeApp(other.id);
    expect(await errorFor(c)).toMatchObject({ code: 190, error_subcode: 458 });

    const third = w.createApp({ name: 'Third', businessId: seed.businessId });
    const d = w.mintToken({ kind: 'system_user', appId: third.id }).accessToken;
    w.revokeToken(d);
    expect(await errorFor(d)).toMatchObject({ code: 190, error_subcode: 467 });

    const e = w.mintToken({
      kind: 'user_long',
      appId: third.id,
      expiresInSec: 200 * 86_400,
      dataAccessExpiresInSec: 60,
    }).accessToken;
    await emu.clock.advance(61_000);
    expect(await errorFor(e)).toMatchObject({ code: 190, error_subcode: 493 });
  });

  it('missing permission → 200 (403); asset not granted → 10 (403)', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const noMessaging = emu.world.mintToken({
      kind: 'system_user',
      appId: seed.appId,
      scopes: ['whatsapp_business_management'],
    });
    const res = await call(emu, 'POST', sendPath(emu), {
      token: noMessaging.accessToken,
      body: text(seed.recipient),
    });
    expect(res.status).toBe(403);
    expect(res.json.error).toMatchObject({
      code: 200,
      message: 'Requires whatsapp_business_messaging permission',
    });

    const otherWaba = emu.world.createWaba({ businessId: seed.businessId });
    const elsewhere = emu.world.mintToken({ kind: 'user', appId: seed.appId, targetIds: [otherWaba.id] });
    const denied = await call(emu, 'POST', sendPath(emu), {
      token: elsewhere.accessToken,
      body: text(seed.recipient),
    });
    expect(denied.status).toBe(403);
    expect(denied.json.error.code).toBe(10);
  });

  it('appsecret_proof: required when the app says so; classic and time-stamped forms; 5-minute window', async () => {
    emu = createEmulator({ seed: { requireAppSecret: true } });
    const seed = emu.seed!;
    const token = seed.accessToken;
    const none = await call(emu, 'GET', phonePath(emu), { token });
    expect(none.status).toBe(400);
    expect(none.json.error).toMatchObject({
      code: 100,
      type: 'GraphMethodException',
      message: 'API calls from the server require an appsecret_proof argument',
    });

    const classic = computeAppSecretProof(token, seed.appSecret);
    expect((await call(emu, 'GET', `${phonePath(emu)}?appsecret_proof=${classic}`, { token })).status).toBe(
      200,
    );

    const wrong = await call(emu, 'GET', `${phonePath(emu)}?appsecret_proof=${'0'.repeat(64)}`, { token });
    expect(wrong.json.error).toMatchObject({
      code: 100,
      message: 'Invalid appsecret_proof provided in the API argument',
    });

    const t = Math.floor(emu.clock.now() / 1000);
    const stamped = computeAppSecretProof(token, seed.appSecret, t);
    const q = `appsecret_proof=${stamped}&appsecret_time=${t}`;
    expect((await call(emu, 'GET', `${phonePath(emu)}?${q}`, { token })).status).toBe(200);
    await emu.clock.advance(301_000);
    const stale = await call(emu, 'GET', `${phonePath(emu)}?${q}`, { token });
    expect(stale.json.error).toMatchObject({
      code: 100,
      message: 'Invalid appsecret_proof provided in the API argument',
    });
    // A classic proof sent with a form body works too.
    const send = await call(emu, 'POST', sendPath(emu), {
      form: {
        access_token: token,
        appsecret_proof: classic,
        messaging_product: 'whatsapp',
        to: seed.recipient,
        type: 'text',
        text: '{"body":"x"}',
      },
    });
    expect(send.status).toBe(200);
  });

  it('time-stamped appsecret_proof: 5 minutes either side of now, inclusive; a future or a mismatched time fails', async () => {
    // A frozen clock half-way through a second: "now" in unix seconds is exact, so the boundary is too.
    const nowSec = 1_800_000_000;
    emu = createEmulator({
      clock: { startMs: nowSec * 1000 + 500, frozen: true },
      seed: { requireAppSecret: true },
    });
    const seed = emu.seed!;
    const token = seed.accessToken;
    const at = (t: number, proofTime = t) =>
      call(
        emu,
        'GET',
        `${phonePath(emu)}?appsecret_proof=${computeAppSecretProof(token, seed.appSecret, proofTime)}&appsecret_time=${t}`,
        { token },
      );
    for (const delta of [-300, -299, 0, 299, 300]) {
      const res = await at(nowSec + delta);
      expect(
        res.status,
        `appsecret_time now${delta >= 0 ? '+' : ''}${delta}s: ${JSON.stringify(res.json)}`,
      ).toBe(200);
    }
    for (const delta of [-301, 301, 3_600, 86_400]) {
      const res = await at(nowSec + delta);
      expect(res.status, `appsecret_time now+${delta}s`).toBe(400);
      expect(res.json.error).toMatchObject({
        code: 100,
        type: 'GraphMethodException',
        message: 'Invalid appsecret_proof provided in the API argument',
      });
    }
    // The proof binds the time: a proof made for another second does not pass with this one.
    expect((await at(nowSec, nowSec + 1)).json.error).toMatchObject({ code: 100 });
    expect((await at(Number.NaN)).json.error).toMatchObject({ code: 100 });
    // The window moves with the virtual clock: 300 s later the same time still passes, 301 s later it does not.
    await emu.clock.advance(300_000);
    expect((await at(nowSec)).status).toBe(200);
    await emu.clock.advance(1_000);
    expect((await at(nowSec)).status).toBe(400);
  });

  it('app_id|app_secret and client_credentials app tokens are accepted; app tokens die with a secret reset', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const raw = `${seed.appId}|${seed.appSecret}`;
    expect((await call(emu, 'GET', `/v23.0/${seed.appId}`, { token: raw })).json).toMatchObject({
      id: seed.appId,
      name: 'Emulated App',
    });
    const cc = await call(
      emu,
      'GET',
      `/v23.0/oauth/access_token?client_id=${seed.appId}&client_secret=${seed.appSecret}&grant_type=client_credentials`,
    );
    expect(cc.status).toBe(200);
    expect(Object.keys(cc.json).sort()).toEqual(['access_token', 'token_type']);
    expect(cc.json.token_type).toBe('bearer');
    expect(cc.json.access_token.startsWith(`${seed.appId}|`)).toBe(true);
    expect((await call(emu, 'GET', `/v23.0/${seed.appId}`, { token: cc.json.access_token })).status).toBe(
      200,
    );
    emu.world.resetSecret(seed.appId);
    const after = await call(emu, 'GET', `/v23.0/${seed.appId}`, { token: cc.json.access_token });
    expect(after.json.error.code).toBe(190);
    expect((await call(emu, 'GET', `/v23.0/${seed.appId}`, { token: raw })).json.error.code).toBe(190);
  });
});
