import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import type { GraphError } from '../../src/core/graph-error.js';
import { startReceiver } from './emulator-support.js';
import { graphCall, rejection, useSdkEmulator } from './sdk-area-support.js';

/** wa.groups against the emulator over HTTP; the emulator plays the users who open invite links. */

const h = useSdkEmulator();

async function join(groupId: string, waId: string, inviteLink?: string) {
  const res = await fetch(`${h.url}/_emulator/groups/${groupId}/join`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ wa_id: waId, ...(inviteLink ? { invite_link: inviteLink } : {}) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('wa.groups against the emulator', () => {
  it('creates a group (request id + lifecycle webhook), lists it, reads and updates it, deletes it', async () => {
    const receiver = await startReceiver('verify-me');
    const hook = await fetch(`${h.url}/_emulator/apps/${h.emu.seed!.appId}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ callback_url: receiver.url, verify_token: 'verify-me' }),
    });
    expect(hook.status).toBe(200);
    const wa = h.client();
    const created = await wa.groups.create({
      subject: '  Order 42 help ',
      description: 'Questions about order 42',
    });
    expect(created).toMatchObject({
      messaging_product: 'whatsapp',
      request_id: expect.stringMatching(/^\d+$/),
    });
    const groups = await wa.groups.list().all();
    const summary = groups.find((g) => g.subject === 'Order 42 help');
    expect(summary).toBeDefined();
    const id = summary!.id;
    await h.emu.flushWebhooks();
    const lifecycle = receiver
      .posts()
      .map((r) => JSON.parse(r.raw.toString('utf8')))
      .find((b) => b.entry[0].changes[0].field === 'group_lifecycle_update');
    expect(lifecycle.entry[0].changes[0].value.groups[0]).toMatchObject({
      type: 'group_create',
      group_id: id,
      request_id: created.request_id,
      invite_link: expect.stringMatching(/^https:\/\/chat\.whatsapp\.com\//),
    });
    const info = await wa.groups.get(id);
    expect(info).toMatchObject({
      id,
      subject: 'Order 42 help',
      description: 'Questions about order 42',
      join_approval_mode: 'auto_approve',
      participants: [],
      total_participant_count: 0,
    });
    expect(await wa.groups.get(id, 'subject')).toEqual({ id, subject: 'Order 42 help' });
    expect(await wa.groups.update(id, { subject: 'Order 42' })).toEqual({ success: true });
    expect((await wa.groups.get(id)).subject).toBe('Order 42');
    expect(await wa.groups.delete(id)).toEqual({ success: true });
    const gone = (await rejection(wa.groups.get(id))) as unknown as GraphError;
    expect(gone.graphSubcode).toBe(33);
    await receiver.close();
  });

  it('pages through groups with Meta cursors', async () => {
    const wa = h.client();
    for (let i = 0; i < 5; i++) await wa.groups.create({ subject: `Paged ${i}` });
    const seen: string[] = [];
    for await (const g of wa.groups.list({ limit: 2 })) seen.push(g.subject);
    expect(seen.filter((s) => s.startsWith('Paged'))).toEqual([
      'Paged 0',
      'Paged 1',
      'Paged 2',
      'Paged 3',
      'Paged 4',
    ]);
  });

  it('invite link: get, reset (the old one stops working), delete; users join through it', async () => {
    const wa = h.client();
    await wa.groups.create({ subject: 'Invites' });
    const id = (await wa.groups.list().all()).find((g) => g.subject === 'Invites')!.id;
    const first = await wa.groups.inviteLink(id);
    expect(first.invite_link).toMatch(/^https:\/\/chat\.whatsapp\.com\/\w+$/);
    expect((await join(id, '16505550001', first.invite_link)).json).toEqual({ joined: true });
    const reset = await wa.groups.resetInviteLink(id);
    expect(reset.invite_link).not.toBe(first.invite_link);
    expect((await join(id, '16505550002', first.invite_link)).status).toBe(410);
    expect(await wa.groups.deleteInviteLink(id)).toMatchObject({ success: true });
    expect((await join(id, '16505550002')).status).toBe(410);
    expect((await wa.groups.get(id)).participants).toEqual([{ wa_id: '16505550001' }]);
  });

  it('join requests: listed, approved (the user joins), rejected', async () => {
    const wa = h.client();
    await wa.groups.create({ subject: 'Approval', joinApprovalMode: 'approval_required' });
    const id = (await wa.groups.list().all()).find((g) => g.subject === 'Approval')!.id;
    for (const u of ['16505550011', '16505550012']) expect((await join(id, u)).json.joined).toBe(false);
    const requests = await wa.groups.joinRequests(id).all();
    expect(requests.map((r) => r.wa_id)).toEqual(['16505550011', '16505550012']);
    const [a, b] = requests;
    const approved = await wa.groups.approveJoinRequests(id, [a!.join_request_id, 'no-such-request']);
    expect(approved.approved_join_requests).toEqual([a!.join_request_id]);
    expect(approved.failed_join_requests?.[0]?.join_request_id).toBe('no-such-request');
    const rejected = await wa.groups.rejectJoinRequests(id, [b!.join_request_id]);
    expect(rejected.rejected_join_requests).toEqual([b!.join_request_id]);
    expect(await wa.groups.joinRequests(id).all()).toEqual([]);
    expect((await wa.groups.get(id)).participants).toEqual([{ wa_id: '16505550011' }]);
  });

  it('participants: add and remove, at most 8 in a group; bad input refused before sending', async () => {
    const wa = h.client();
    await wa.groups.create({ subject: 'Team' });
    const id = (await wa.groups.list().all()).find((g) => g.subject === 'Team')!.id;
    const users = Array.from({ length: 8 }, (_, i) => `+1650555010${i}`);
    expect(await wa.groups.addParticipants(id, users.slice(0, 6))).toMatchObject({ success: true });
    const full = (await rejection(
      wa.groups.addParticipants(id, users.slice(5, 8).concat('+16505550200')),
    )) as unknown as GraphError;
    expect(full.details).toMatch(/at most 8/);
    expect((await wa.groups.get(id)).total_participant_count).toBe(6);
    expect(await wa.groups.removeParticipants(id, [users[0]!])).toMatchObject({ success: true });
    expect((await wa.groups.get(id)).total_participant_count).toBe(5);
    const notIn = (await rejection(wa.groups.removeParticipants(id, [users[0]!]))) as unknown as GraphError;
    expect(notIn.details).toMatch(/Not in the group/);
    expect(await rejection(wa.groups.addParticipants(id, []))).toBeInstanceOf(ValidationError);
    expect(await rejection(wa.groups.addParticipants(id, users.concat('+16505550999')))).toBeInstanceOf(
      ValidationError,
    );
    expect(await rejection(wa.groups.create({ subject: 'x'.repeat(129) }))).toBeInstanceOf(ValidationError);
    expect(await rejection(wa.groups.get('../../x'))).toBeInstanceOf(ValidationError);
  });

  it('the emulator refuses what Meta refuses when called raw', async () => {
    const phone = h.emu.seed!.phoneNumberId;
    const noProduct = await graphCall(h, 'POST', `${phone}/groups`, { subject: 'x' });
    expect(noProduct.json.error.message).toMatch(/messaging_product is required/);
    const long = await graphCall(h, 'POST', `${phone}/groups`, {
      messaging_product: 'whatsapp',
      subject: 'x'.repeat(129),
    });
    expect(long.json.error.message).toMatch(/at most 128/);
    const mode = await graphCall(h, 'POST', `${phone}/groups`, {
      messaging_product: 'whatsapp',
      subject: 'x',
      join_approval_mode: 'sometimes',
    });
    expect(mode.json.error.message).toMatch(/join_approval_mode/);
    const nine = await graphCall(h, 'POST', 'Y2FwaV9ncm91cDpub25l/participants', {
      messaging_product: 'whatsapp',
      participants: [{ user: '16505551234' }],
    });
    expect(nine.json.error.error_subcode).toBe(33);
    const before = h.emu.state.groups.size;
    expect(before).toBeGreaterThan(0);
  });
});
