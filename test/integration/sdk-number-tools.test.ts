import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import type { GraphError } from '../../src/core/graph-error.js';
import { graphCall, rejection, specExamples, useSdkEmulator } from './sdk-area-support.js';

/** wa.blockUsers and wa.qrCodes against the emulator over HTTP, and the spec's examples for both. */

const h = useSdkEmulator();

describe('wa.blockUsers', () => {
  it('blocks, lists (paged), unblocks; per-user failures are reported, not thrown', async () => {
    const wa = h.client();
    const users = ['+16505550601', '16505550602', '+16505550603'];
    const blocked = await wa.blockUsers.block([...users, 'not-a-number']);
    expect(blocked.block_users.added_users?.map((u) => u.wa_id)).toEqual([
      '16505550601',
      '16505550602',
      '16505550603',
    ]);
    expect(blocked.block_users.failed_users?.map((u) => u.input)).toEqual(['not-a-number']);
    const listed: string[] = [];
    for await (const u of wa.blockUsers.list({ limit: 2 })) listed.push(u.wa_id);
    expect(listed).toEqual(['16505550601', '16505550602', '16505550603']);
    const unblocked = await wa.blockUsers.unblock(['+16505550602', '+16505550699']);
    expect(unblocked.block_users.removed_users?.map((u) => u.wa_id)).toEqual(['16505550602']);
    expect(unblocked.block_users.failed_users?.[0]?.input).toBe('+16505550699');
    expect((await wa.blockUsers.list().all()).map((u) => u.wa_id)).toEqual(['16505550601', '16505550603']);
    expect(await rejection(wa.blockUsers.block([]))).toBeInstanceOf(ValidationError);
  });

  it("accepts the spec's block and unblock examples", async () => {
    const phone = h.emu.seed!.phoneNumberId;
    const [block] = specExamples('POST', '/{Version}/{Phone-Number-ID}/block_users');
    const [unblock] = specExamples('DELETE', '/{Version}/{Phone-Number-ID}/block_users');
    const b = await graphCall(h, 'POST', `${phone}/block_users`, block!.body);
    expect(b.json).toEqual({
      messaging_product: 'whatsapp',
      block_users: { added_users: [{ input: '+16505551234', wa_id: '16505551234' }] },
    });
    const u = await graphCall(h, 'DELETE', `${phone}/block_users`, unblock!.body);
    expect(u.json.block_users.removed_users).toEqual([{ input: '+16505551234', wa_id: '16505551234' }]);
    const bad = await graphCall(h, 'POST', `${phone}/block_users`, { block_users: [{ user: '1' }] });
    expect(bad.json.error.message).toMatch(/messaging_product is required/);
  });
});

describe('wa.qrCodes', () => {
  it('creates, lists with fields, gets, updates, deletes; refuses long messages', async () => {
    const wa = h.client();
    const qr = await wa.qrCodes.create({ prefilledMessage: 'Show me the deals', image: 'SVG' });
    expect(qr.code).toMatch(/^[A-Z2-7]{14}$/);
    expect(qr.deep_link_url).toBe(`https://wa.me/message/${qr.code}`);
    await wa.qrCodes.create({ prefilledMessage: 'Second' });
    const listed = await wa.qrCodes.list({ fields: 'prefilled_message', limit: 1 }).all();
    expect(listed.map((x) => x.prefilled_message)).toEqual(['Show me the deals', 'Second']);
    expect(Object.keys(listed[0]!).sort()).toEqual(['code', 'prefilled_message']);
    expect((await wa.qrCodes.get(qr.code)).prefilled_message).toBe('Show me the deals');
    expect((await wa.qrCodes.update(qr.code, 'New text')).prefilled_message).toBe('New text');
    expect((await wa.qrCodes.list({ code: qr.code }).all()).map((x) => x.prefilled_message)).toEqual([
      'New text',
    ]);
    expect(await wa.qrCodes.delete(qr.code)).toEqual({ success: true });
    const gone = (await rejection(wa.qrCodes.get(qr.code))) as unknown as GraphError;
    expect(gone.details).toMatch(/does not exist/);
    expect(await rejection(wa.qrCodes.create({ prefilledMessage: 'x'.repeat(141) }))).toBeInstanceOf(
      ValidationError,
    );
    const raw = await graphCall(h, 'POST', `${h.emu.seed!.phoneNumberId}/message_qrdls`, {
      prefilled_message: 'x'.repeat(141),
    });
    expect(raw.json.error.message).toMatch(/at most 140/);
  });

  it("the spec's examples: three creates accepted; the update names a code that doesn't exist here", async () => {
    const phone = h.emu.seed!.phoneNumberId;
    const out: Record<string, { status: number; json: Record<string, unknown> }> = {};
    for (const ex of specExamples('POST', '/{Version}/{Phone-Number-ID}/message_qrdls')) {
      out[ex.name] = await graphCall(h, 'POST', `${phone}/message_qrdls`, ex.body);
    }
    for (const name of ['create_qr_code', 'create_qr_code_png', 'create_qr_code_no_image']) {
      expect(out[name]!.json.code, name).toMatch(/^[A-Z2-7]{14}$/);
    }
    expect(out.update_existing_qr_code!.status).toBe(400);
    expect(JSON.stringify(out.update_existing_qr_code!.json)).toMatch(/ANED2T5QRU7HG1 does not exist/);
  });
});

describe('wa.numberSettings', () => {
  it('conversational automation: set, kept across partial updates, limits refused; the four spec examples accepted', async () => {
    const wa = h.client();
    const phone = h.emu.seed!.phoneNumberId;
    const commands = [{ command_name: 'help', command_description: 'Get help' }];
    expect(
      await wa.numberSettings.setConversationalAutomation({ enableWelcomeMessage: true, commands }),
    ).toEqual({
      success: true,
    });
    await wa.numberSettings.setConversationalAutomation({ prompts: ['Track my order'] });
    expect(h.emu.state.phoneNumbers.get(phone)?.surface?.automation).toEqual({
      enableWelcomeMessage: true,
      prompts: ['Track my order'],
      commands,
    });
    expect(
      await rejection(wa.numberSettings.setConversationalAutomation({ prompts: ['a', 'b', 'c', 'd', 'e'] })),
    ).toBeInstanceOf(ValidationError);
    const long = await graphCall(h, 'POST', `${phone}/conversational_automation`, {
      prompts: ['x'.repeat(81)],
    });
    expect(long.json.error.message).toMatch(/at most 80/);
    const badName = await graphCall(h, 'POST', `${phone}/conversational_automation`, {
      commands: [{ command_name: 'two words', command_description: 'x' }],
    });
    expect(badName.json.error.message).toMatch(/command_name/);
    for (const ex of specExamples('POST', '/{Version}/{Phone-Number-ID}/conversational_automation')) {
      expect(
        (await graphCall(h, 'POST', `${phone}/conversational_automation`, ex.body)).json,
        ex.name,
      ).toEqual({
        success: true,
      });
    }
    expect(h.emu.state.phoneNumbers.get(phone)?.surface?.automation).toEqual({
      enableWelcomeMessage: false,
      prompts: [],
      commands: [],
    });
  });

  it('commerce settings: none until set, then read back; bad booleans refused', async () => {
    const wa = h.client();
    expect(await wa.numberSettings.commerce()).toBeUndefined();
    expect(await wa.numberSettings.updateCommerce({ isCartEnabled: false })).toEqual({ success: true });
    expect(await wa.numberSettings.commerce()).toMatchObject({
      is_cart_enabled: false,
      is_catalog_visible: true,
    });
    await wa.numberSettings.updateCommerce({ isCatalogVisible: false });
    expect(await wa.numberSettings.commerce()).toMatchObject({
      is_cart_enabled: false,
      is_catalog_visible: false,
    });
    const bad = await graphCall(
      h,
      'POST',
      `${h.emu.seed!.phoneNumberId}/whatsapp_commerce_settings?is_cart_enabled=maybe`,
    );
    expect(bad.json.error.message).toMatch(/must be a boolean/);
  });
});
