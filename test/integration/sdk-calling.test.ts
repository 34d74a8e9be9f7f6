import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import type { GraphError } from '../../src/core/graph-error.js';
import { type LooseJson, startReceiver } from './emulator-support.js';
import { graphCall, rejection, specExamples, useSdkEmulator } from './sdk-area-support.js';

/** wa.calling against the emulator over HTTP; the emulator plays the WhatsApp user (control routes). */

const h = useSdkEmulator();
const USER = '16505550400';
const OFFER =
  'v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\n';
const ANSWER = OFFER.replace('o=- 1', 'o=- 2');
let receiver: Awaited<ReturnType<typeof startReceiver>>;

async function control(path: string, body: unknown = {}): Promise<{ status: number; json: LooseJson }> {
  const res = await fetch(`${h.url}/_emulator/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as LooseJson };
}

/** The `calls` webhook values delivered so far. */
async function callWebhooks(): Promise<LooseJson[]> {
  await h.emu.flushWebhooks();
  return receiver
    .posts()
    .map((r) => JSON.parse(r.raw.toString('utf8')) as LooseJson)
    .map((b) => b.entry[0].changes[0])
    .filter((ch) => ch.field === 'calls')
    .map((ch) => ch.value);
}

beforeAll(async () => {
  receiver = await startReceiver('verify-me');
  expect(
    (
      await control(`apps/${h.emu.seed!.appId}/webhook`, {
        callback_url: receiver.url,
        verify_token: 'verify-me',
      })
    ).status,
  ).toBe(200);
});
afterAll(() => receiver.close());

describe('wa.calling against the emulator', () => {
  it('settings: calling off by default, enabled with video, other settings kept', async () => {
    const wa = h.client();
    expect((await wa.calling.settings()).calling?.status).toBe('disabled');
    expect(
      await wa.calling.updateSettings({ calling: { status: 'enabled', video: { status: 'enabled' } } }),
    ).toEqual({ success: true });
    expect(await wa.calling.updateSettings({ payload_encryption: { status: 'disabled' } })).toEqual({
      success: true,
    });
    const now = await wa.calling.settings();
    expect(now.calling).toMatchObject({ status: 'enabled', video: { status: 'enabled' } });
    expect(now.payload_encryption).toEqual({ status: 'disabled' });
    const bad = (await rejection(
      wa.calling.updateSettings({ calling: { status: 'on' as 'enabled' } }),
    )) as unknown as GraphError;
    expect(bad.message).toMatch(/calling.status must be one of/);
  });

  it('business-initiated: refused without permission (138006), rings, the user answers with SDP, terminate', async () => {
    const wa = h.client();
    await wa.calling.updateSettings({ calling: { status: 'enabled' } });
    expect((await wa.calling.permissions(USER)).permission.status).toBe('no_permission');
    const denied = (await rejection(wa.calling.connect({ to: USER, sdp: OFFER }))) as unknown as GraphError;
    expect(denied.graphCode).toBe(138006);
    await control('call-permissions', { wa_id: USER });
    const perm = await wa.calling.permissions(USER);
    expect(perm.permission.status).toBe('granted');
    expect(perm.actions.find((a) => a.action_name === 'start_call')?.can_perform_action).toBe(true);

    const { calls } = await wa.calling.connect({ to: USER, sdp: OFFER, bizOpaqueCallbackData: 'ticket-7' });
    const id = calls[0]!.id;
    expect(id).toMatch(/^wacid\./);
    expect(h.emu.state.calls.get(id)).toMatchObject({ status: 'RINGING', businessSdp: OFFER });
    expect((await control(`calls/${id}/answer`)).json.status).toBe('ACCEPTED');
    await h.emu.clock.advance(30_000);
    expect(await wa.calling.terminate(id)).toEqual({ success: true });
    const hooks = await callWebhooks();
    const mine = hooks
      .flatMap((v) => [...(v.calls ?? []), ...(v.statuses ?? [])])
      .filter((x: LooseJson) => x.id === id);
    expect(mine.map((x: LooseJson) => x.event ?? x.status)).toEqual([
      'RINGING',
      'connect',
      'ACCEPTED',
      'terminate',
    ]);
    const connect = mine.find((x: LooseJson) => x.event === 'connect');
    expect(connect.session.sdp_type).toBe('answer');
    expect(connect.biz_opaque_callback_data).toBe('ticket-7');
    expect(mine.at(-1)).toMatchObject({ status: 'Completed', duration: 30 });
    const again = (await rejection(wa.calling.terminate(id))) as unknown as GraphError;
    expect(again.details).toMatch(/already ended/);
  });

  it('user-initiated: the offer arrives by webhook; pre_accept, accept, the user hangs up; another is rejected', async () => {
    const wa = h.client();
    const placed = await control('calls', { from: '+16505550401' });
    const id = placed.json.call_id as string;
    const hook = (await callWebhooks()).flatMap((v) => v.calls ?? []).find((x: LooseJson) => x.id === id);
    expect(hook).toMatchObject({
      event: 'connect',
      direction: 'USER_INITIATED',
      session: { sdp_type: 'offer' },
    });
    // The caller in the 2026 contact shape (issue 16): a BSUID always, the phone number as the user shares it.
    const value = (await callWebhooks()).find((v) => v.calls?.some((x: LooseJson) => x.id === id));
    expect(value?.contacts?.[0]).toMatchObject({
      wa_id: '16505550401',
      user_id: expect.stringMatching(/^[A-Z]{2}\.\d+$/),
    });
    expect(await wa.calling.preAccept(id, ANSWER)).toEqual({ success: true });
    expect(await wa.calling.accept(id, ANSWER)).toEqual({ success: true });
    expect(h.emu.state.calls.get(id)).toMatchObject({ status: 'ACCEPTED', businessSdp: ANSWER });
    const late = (await rejection(wa.calling.reject(id))) as unknown as GraphError;
    expect(late.details).toMatch(/ringing user-initiated/);
    expect((await control(`calls/${id}/hangup`)).json.status).toBe('COMPLETED');

    const second = (await control('calls', { from: '16505550402' })).json.call_id as string;
    expect(await wa.calling.reject(second)).toEqual({ success: true });
    expect(h.emu.state.calls.get(second)?.status).toBe('REJECTED');
  });

  it('bad input: refused by the SDK before sending, and by the emulator when sent raw', async () => {
    const wa = h.client();
    expect(await rejection(wa.calling.connect({ to: USER, sdp: 'not sdp' }))).toBeInstanceOf(ValidationError);
    expect(await rejection(wa.calling.accept('not-a-call', ANSWER))).toBeInstanceOf(ValidationError);
    expect(await rejection(wa.calling.permissions('x'))).toBeInstanceOf(ValidationError);
    const phone = h.emu.seed!.phoneNumberId;
    const wrongType = await graphCall(h, 'POST', `${phone}/calls`, {
      messaging_product: 'whatsapp',
      to: USER,
      action: 'connect',
      session: { sdp_type: 'answer', sdp: OFFER },
    });
    expect(wrongType.json.error.message).toMatch(/sdp_type must be "offer"/);
    const unknownAction = await graphCall(h, 'POST', `${phone}/calls`, {
      messaging_product: 'whatsapp',
      action: 'hold',
    });
    expect(unknownAction.json.error.message).toMatch(/action must be one of/);
  });
});

describe("the spec's calling request examples", () => {
  it('/calls: connect accepted once calling is on and the user granted permission; the others refused for their reason', async () => {
    const phone = h.emu.seed!.phoneNumberId;
    await graphCall(h, 'POST', `${phone}/settings`, { calling: { status: 'enabled' } });
    await control('call-permissions', { wa_id: '14085551234' });
    const out: Record<string, LooseJson> = {};
    for (const ex of specExamples('POST', '/{Version}/{Phone-Number-ID}/calls')) {
      out[ex.name] = (await graphCall(h, 'POST', `${phone}/calls`, ex.body)).json;
    }
    expect(out['Connect Call']!.calls[0].id).toMatch(/^wacid\./);
    // The Terminate example names a call that doesn't exist here.
    expect(out['Terminate Call']!.error.error_data.details).toMatch(/does not exist/);
    // Accept and Reject name the user ("to") but no call_id, which every action but connect needs.
    expect(out['Accept Call']!.error.message).toMatch(/call_id is required/);
    expect(out['Reject Call']!.error.message).toMatch(/call_id is required/);
  });

  it('/settings: all seven examples accepted', async () => {
    const phone = h.emu.seed!.phoneNumberId;
    const list = specExamples('POST', '/{Version}/{Phone-Number-ID}/settings');
    expect(list).toHaveLength(7);
    for (const ex of list)
      expect((await graphCall(h, 'POST', `${phone}/settings`, ex.body)).json, ex.name).toEqual({
        success: true,
      });
    const now = await graphCall(h, 'GET', `${phone}/settings`);
    expect(now.json.storage_configuration).toEqual({ enabled: true, region: 'us' });
  });
});
