import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import type { GraphError } from '../../src/core/graph-error.js';
import { graphCall, rejection, specExamples, useSdkEmulator } from './sdk-area-support.js';

/** wa.marketingMessages against the emulator over HTTP, and the spec's three examples. */

const h = useSdkEmulator({ seed: { recipients: ['16505551234', '16315552222'] } });

describe('wa.marketingMessages', () => {
  it('sends a MARKETING template with the pacing fields; a UTILITY template or another type is refused', async () => {
    const wa = h.client();
    const waba = h.emu.seed!.wabaId;
    h.emu.world.createTemplate({
      wabaId: waba,
      name: 'spring_sale',
      language: 'en_US',
      category: 'MARKETING',
    });
    h.emu.world.createTemplate({ wabaId: waba, name: 'receipt', language: 'en_US', category: 'UTILITY' });
    const sent = await wa.marketingMessages.send({
      to: '+16505551234',
      name: 'spring_sale',
      productPolicy: 'STRICT',
      messageActivitySharing: true,
    });
    expect(sent.messages?.[0]?.id).toMatch(/^wamid\./);
    expect(h.emu.sentMessages().at(-1)).toMatchObject({ type: 'template' });
    const utility = (await rejection(
      wa.marketingMessages.send({ to: '+16505551234', name: 'receipt' }),
    )) as unknown as GraphError;
    expect(utility.details).toMatch(/MARKETING templates only/);
    const phone = h.emu.seed!.phoneNumberId;
    const text = await graphCall(h, 'POST', `${phone}/marketing_messages`, {
      messaging_product: 'whatsapp',
      to: '16505551234',
      type: 'text',
      text: { body: 'hi' },
    });
    expect(text.json.error.message).toMatch(/marketing templates only/);
    const policy = await graphCall(h, 'POST', `${phone}/marketing_messages`, {
      messaging_product: 'whatsapp',
      to: '16505551234',
      type: 'template',
      template: { name: 'spring_sale', language: { code: 'en_US' } },
      product_policy: 'LOOSE',
    });
    expect(policy.json.error.message).toMatch(/product_policy/);
    expect(await rejection(wa.marketingMessages.send({ to: 'nope', name: 'spring_sale' }))).toBeInstanceOf(
      ValidationError,
    );
  });

  it("the spec's examples are accepted once their templates exist as MARKETING templates", async () => {
    const waba = h.emu.seed!.wabaId;
    h.emu.world.createTemplate({ wabaId: waba, name: 'hello_world', language: 'en', category: 'MARKETING' });
    h.emu.world.createTemplate({
      wabaId: waba,
      name: 'welcome_offer',
      language: 'en_US',
      category: 'MARKETING',
    });
    h.emu.world.createTemplate({
      wabaId: waba,
      name: 'promotional_offer',
      language: 'en',
      category: 'MARKETING',
      components: [
        { type: 'BODY', text: 'Hi {{1}}, take {{2}} off.', example: { body_text: [['A', '$1']] } },
      ],
    });
    const examples = specExamples('POST', '/{Version}/{Phone-Number-ID}/marketing_messages');
    expect(examples).toHaveLength(3);
    for (const ex of examples) {
      const res = await graphCall(h, 'POST', `${h.emu.seed!.phoneNumberId}/marketing_messages`, ex.body);
      expect(res.status, `${ex.name}: ${JSON.stringify(res.json)}`).toBe(200);
      expect(res.json.messages[0].id, ex.name).toMatch(/^wamid\./);
    }
  });
});
