import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import type { GraphError } from '../../src/core/graph-error.js';
import { call, startReceiver } from './emulator-support.js';
import { graphCall, rejection, specExamples, useSdkEmulator } from './sdk-area-support.js';

/** wa.phoneNumbers.update / health against the emulator over HTTP: `POST /{phone}` settings and health_status. */

const h = useSdkEmulator();
let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  receiver = await startReceiver('number-token');
});
afterAll(() => receiver.close());

describe('POST /{phone-number-id} settings', () => {
  it('sets the two-step verification PIN: register then needs it (133005 otherwise)', async () => {
    const wa = h.client();
    const phone = h.emu.seed!.phoneNumberId;
    expect(await wa.phoneNumbers.update(phone, { pin: '246810' })).toEqual({ success: true });
    await wa.registration.deregister();
    const wrong = (await rejection(wa.registration.register({ pin: '111111' }))) as unknown as GraphError;
    expect(wrong.graphCode).toBe(133005);
    expect(await wa.registration.register({ pin: '246810' })).toEqual({ success: true });
    // Bad PINs are refused by the SDK, and by the emulator as Meta does (#100), changing nothing.
    expect(await rejection(wa.phoneNumbers.update(phone, { pin: '12' }))).toBeInstanceOf(ValidationError);
    const bad = await graphCall(h, 'POST', phone, { pin: '12ab56' });
    expect(bad.json.error.code).toBe(100);
    expect(h.emu.state.phoneNumbers.get(phone)?.pin).toBe('246810');
  });

  it('requests a display name change: pending on GET until Meta decides, then the verified name', async () => {
    const wa = h.client();
    const phone = h.emu.seed!.phoneNumberId;
    const before = (await wa.phoneNumbers.get(phone)).verified_name;
    await wa.phoneNumbers.update(phone, { newDisplayName: 'Coverage Bakery' });
    const pending = await wa.phoneNumbers.get(phone);
    expect(pending).toMatchObject({
      verified_name: before,
      name_status: 'APPROVED',
      new_display_name: 'Coverage Bakery',
      new_name_status: 'PENDING_REVIEW',
    });
    const bad = await call(h.emu, 'POST', `/_emulator/phone-numbers/${phone}/display-name`, {
      body: { decision: 'MAYBE' },
    });
    expect(bad.status).toBe(400);
    const ok = await call(h.emu, 'POST', `/_emulator/phone-numbers/${phone}/display-name`, {
      body: { decision: 'APPROVED' },
    });
    expect(ok.status).toBe(200);
    expect(await wa.phoneNumbers.get(phone, 'verified_name,new_name_status')).toEqual({
      id: phone,
      verified_name: 'Coverage Bakery',
      new_name_status: 'APPROVED',
    });
    // Nothing pending any more: the control call says so.
    const again = await call(h.emu, 'POST', `/_emulator/phone-numbers/${phone}/display-name`, {
      body: { decision: 'DECLINED' },
    });
    expect(again.status).toBe(409);
    expect((await graphCall(h, 'POST', phone, { new_display_name: 'x' })).json.error.code).toBe(100);
  });

  it('overrides the webhook per number: verified with the verify token, then deliveries go there', async () => {
    const wa = h.client();
    const phone = h.emu.seed!.phoneNumberId;
    const refused = (await rejection(
      wa.phoneNumbers.update(phone, { webhookOverride: { callbackUri: receiver.url, verifyToken: 'wrong' } }),
    )) as unknown as GraphError;
    expect(refused.graphCode).toBe(2200);
    expect((await wa.phoneNumbers.get(phone)).webhook_configuration).toBeUndefined();
    await wa.phoneNumbers.update(phone, {
      webhookOverride: { callbackUri: receiver.url, verifyToken: 'number-token' },
    });
    expect((await wa.phoneNumbers.get(phone)).webhook_configuration).toEqual({ phone_number: receiver.url });
    await wa.messages.text({ to: '16505551234', body: 'status goes to the override' });
    await h.emu.flushWebhooks();
    await expect.poll(() => receiver.posts().length, { timeout: 5000 }).toBeGreaterThan(0);
    await wa.phoneNumbers.update(phone, { webhookOverride: null });
    expect((await wa.phoneNumbers.get(phone)).webhook_configuration).toBeUndefined();
  });

  it("accepts the spec's PIN and display name examples; a body with none of the settings is #100", async () => {
    const phone = h.emu.seed!.phoneNumberId;
    const examples = specExamples('POST', '/{Version}/{Phone-Number-ID}');
    const security = examples.find((e) => e.name === 'update_security_settings')!;
    expect((await graphCall(h, 'POST', phone, security.body)).json).toEqual({ success: true });
    const name = examples.find((e) => e.name === 'update_display_name')!;
    expect((await graphCall(h, 'POST', phone, name.body)).json).toEqual({ success: true });
    const empty = await graphCall(h, 'POST', phone, { connection_status: 'CONNECTED' });
    expect(empty.json.error.code).toBe(100);
  });
});

describe('health_status', () => {
  it('is AVAILABLE by default and reports the worst entity once the control API blocks the WABA', async () => {
    const wa = h.client();
    const { phoneNumberId: phone, wabaId } = h.emu.seed!;
    expect((await wa.phoneNumbers.health(phone)).can_send_message).toBe('AVAILABLE');
    const set = await call(h.emu, 'POST', `/_emulator/health/${wabaId}`, {
      body: {
        can_send_message: 'BLOCKED',
        errors: [
          { error_code: 141010, error_description: 'The Business has not passed business verification.' },
        ],
      },
    });
    expect(set.status).toBe(200);
    await call(h.emu, 'POST', `/_emulator/health/${phone}`, { body: { can_send_message: 'LIMITED' } });
    const health = await wa.phoneNumbers.health(phone);
    expect(health.can_send_message).toBe('BLOCKED');
    expect(health.entities.map((e) => [e.entity_type, e.can_send_message])).toEqual([
      ['PHONE_NUMBER', 'LIMITED'],
      ['WABA', 'BLOCKED'],
      ['BUSINESS', 'AVAILABLE'],
    ]);
    const waba = (await graphCall(h, 'GET', `${wabaId}?fields=health_status`)).json;
    expect(waba.health_status.entities[0].errors[0].error_code).toBe(141010);
    const bad = await call(h.emu, 'POST', `/_emulator/health/${phone}`, {
      body: { can_send_message: 'SOMETIMES' },
    });
    expect(bad.status).toBe(400);
  });
});

describe('wa.account (GET/POST /{waba-id})', () => {
  it('renames the account and changes its time zone; bad values are #100 and change nothing', async () => {
    const wa = h.client();
    await wa.account.update({ name: 'Acme Support', timezoneId: '42' });
    expect(await wa.account.get('name,timezone_id')).toEqual({
      id: h.emu.seed!.wabaId,
      name: 'Acme Support',
      timezone_id: '42',
    });
    for (const body of [{ timezone_id: 'Europe/Paris' }, { name: '  ' }, { currency: 'EUR' }]) {
      const bad = await graphCall(h, 'POST', h.emu.seed!.wabaId, body);
      expect(bad.json.error.code, JSON.stringify(body)).toBe(100);
    }
    for (const ex of specExamples('POST', '/{Version}/{WABA-ID}'))
      expect((await graphCall(h, 'POST', h.emu.seed!.wabaId, ex.body)).json, ex.name).toEqual({
        success: true,
      });
    expect((await wa.account.get('name')).name).toBe('Updated Business Name');
    expect(await rejection(wa.account.get(undefined, '../me'))).toBeInstanceOf(ValidationError);
  });
});

describe('assigned users of the account', () => {
  it('assigning a system user lets its token reach the WABA; unassigning takes it back', async () => {
    const { businessId, appId, wabaId } = h.emu.seed!;
    const su = h.emu.world.createSystemUser({ businessId, appIds: [appId], name: 'Ops bot' });
    const { accessToken } = h.emu.world.mintToken({ kind: 'system_user', appId, subjectId: su.id });
    const owner = h.client();
    const bot = h.client({ CLOUD_API_ACCESS_TOKEN: accessToken });
    expect(((await rejection(bot.account.get('name'))) as unknown as GraphError).graphCode).toBe(10);
    await owner.account.assignUser(su.id, ['MANAGE', 'VIEW_INSIGHTS']);
    expect((await owner.account.assignedUsers()).data).toContainEqual({
      id: su.id,
      name: 'Ops bot',
      tasks: ['MANAGE', 'VIEW_INSIGHTS'],
    });
    expect((await bot.account.get('name')).id).toBe(wabaId);
    // Bad tasks and strangers are #100 and change nothing.
    const badTask = await graphCall(h, 'POST', `${wabaId}/assigned_users`, { user: su.id, tasks: ['ROOT'] });
    expect(badTask.json.error.code).toBe(100);
    const stranger = await graphCall(h, 'POST', `${wabaId}/assigned_users`, {
      user: '999',
      tasks: ['MANAGE'],
    });
    expect(stranger.json.error.code).toBe(100);
    await owner.account.unassignUser(su.id);
    expect(((await rejection(bot.account.get('name'))) as unknown as GraphError).graphCode).toBe(10);
    const again = await graphCall(h, 'DELETE', `${wabaId}/assigned_users`, { user: su.id });
    expect(again.json.error.code).toBe(100);
  });
});
