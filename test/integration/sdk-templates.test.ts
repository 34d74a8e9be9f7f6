import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { GraphError } from '../../src/core/graph-error.js';
import { templateComponents as tc, templateProblems } from '../../src/whatsapp/template-components.js';
import { graphCall, rejection, specExamples, useSdkEmulator } from './sdk-area-support.js';

/** wa.templates against the emulator over HTTP, and the spec's template request examples. */

const h = useSdkEmulator();

describe('wa.templates against the emulator', () => {
  it('pages through every template with limit, fields and Meta cursors', async () => {
    const wa = h.client();
    const waba = h.emu.seed!.wabaId;
    for (let i = 0; i < 5; i++) {
      h.emu.world.createTemplate({ wabaId: waba, name: `paged_${i}`, language: 'en_US' });
    }
    const it = wa.templates.list({ limit: 2, fields: 'name,status' });
    const first = await it.page();
    expect(first.data).toHaveLength(2);
    expect(Object.keys(first.data[0]!).sort()).toEqual(['id', 'name', 'status']);
    expect(first.paging?.next).toBeDefined();
    expect(first.paging?.next).not.toContain('access_token');
    expect(first.usage.businessUseCase[0]?.objectId).toBe(waba);
    const names: string[] = [];
    for await (const t of wa.templates.list({ limit: 2 })) names.push(t.name);
    const all = [...h.emu.state.templates.values()].filter((t) => t.wabaId === waba).map((t) => t.name);
    expect(names).toEqual(all);
    expect(new Set(names).size).toBe(names.length);
    let pages = 0;
    for await (const p of wa.templates.list({ limit: 2 }).pages()) pages += p.data.length > 0 ? 1 : 0;
    expect(pages).toBe(Math.ceil(all.length / 2));
    expect(await rejection(wa.templates.list({ limit: 0 }).page())).toBeInstanceOf(ValidationError);
  });

  it('creates with the builders, gets by id and by name, edits, deletes by id and by name', async () => {
    const wa = h.client();
    const created = await wa.templates.create({
      name: 'shipping_update',
      language: 'en_US',
      category: 'UTILITY',
      components: [
        tc.textHeader({ text: 'Order {{1}}', samples: ['#42'] }),
        tc.body({ text: 'Hi {{1}}, your parcel leaves on {{2}}.', samples: ['Ana', 'Monday'] }),
        tc.footer('Reply STOP to opt out'),
        tc.buttons(tc.url('Track', 'https://example.com/t/{{1}}', 'abc'), tc.quickReply('Thanks')),
      ],
    });
    expect(created).toMatchObject({ status: 'APPROVED', category: 'UTILITY' });
    await wa.templates.create({
      name: 'shipping_update',
      language: 'pt_BR',
      category: 'UTILITY',
      components: [tc.body({ text: 'Oi {{1}}, tudo certo.', samples: ['Ana'] })],
    });
    const got = await wa.templates.get(created.id, 'name,language,status');
    expect(got).toEqual({ id: created.id, name: 'shipping_update', language: 'en_US', status: 'APPROVED' });
    const byName = await wa.templates.getByName('shipping_update');
    expect(byName.map((t) => t.language).sort()).toEqual(['en_US', 'pt_BR']);

    const body = tc.body({ text: 'Hello {{1}}, your parcel left today.', samples: ['Ana'] });
    expect(await wa.templates.edit(created.id, { components: [body] })).toEqual({ success: true });
    expect((await wa.templates.get(created.id)).components).toEqual([body]);
    // Meta: an approved template takes one edit a day, and its category can't change.
    const again = await rejection(wa.templates.edit(created.id, { components: [body] }));
    expect(again).toBeInstanceOf(GraphError);
    expect((again as unknown as GraphError).userMessage).toMatch(/once in 24 hours/);
    const category = await rejection(wa.templates.edit(created.id, { category: 'MARKETING' }));
    expect((category as unknown as GraphError).userMessage).toMatch(/category of an approved template/);

    expect(await wa.templates.deleteById(created.id, 'shipping_update')).toEqual({ success: true });
    expect((await wa.templates.getByName('shipping_update')).map((t) => t.language)).toEqual(['pt_BR']);
    expect(await wa.templates.delete({ name: 'shipping_update' })).toEqual({ success: true });
    expect(await wa.templates.getByName('shipping_update')).toEqual([]);
    const gone = await rejection(wa.templates.get(created.id));
    expect((gone as unknown as GraphError).graphSubcode).toBe(33);
  });

  it('refuses what Meta refuses, in the SDK before sending and in the emulator when sent raw', async () => {
    const wa = h.client();
    const cases: Array<[string, unknown[], RegExp]> = [
      [
        'gap',
        [{ type: 'BODY', text: 'Hi {{1}} and {{3}} ok', example: { body_text: [['a', 'b']] } }],
        /without gaps/,
      ],
      ['unsampled', [{ type: 'BODY', text: 'Hi {{1}} there' }], /sample/],
      [
        'edge variable',
        [{ type: 'BODY', text: '{{1}} is here', example: { body_text: [['a']] } }],
        /start or end/,
      ],
      [
        'header format',
        [
          { type: 'HEADER', format: 'GIF' },
          { type: 'BODY', text: 'x' },
        ],
        /format must be/,
      ],
      [
        'media header without sample',
        [
          { type: 'HEADER', format: 'IMAGE' },
          { type: 'BODY', text: 'x' },
        ],
        /header_handle/,
      ],
      [
        'too many buttons',
        [
          { type: 'BODY', text: 'x' },
          tc.buttons(...Array.from({ length: 11 }, (_, i) => tc.quickReply(`b${i}`))),
        ],
        /at most 10/,
      ],
      [
        'three URL buttons',
        [{ type: 'BODY', text: 'x' }, tc.buttons(...[1, 2, 3].map((i) => tc.url(`u${i}`, 'https://e.com')))],
        /at most 2 URL/,
      ],
      ['no body', [tc.footer('x')], /BODY is required/],
    ];
    for (const [name, components, reason] of cases) {
      expect(templateProblems(components).join(';'), name).toMatch(reason);
      const sdk = await rejection(
        wa.templates.create({ name: 'bad_one', language: 'en_US', category: 'MARKETING', components }),
      );
      expect(sdk, name).toBeInstanceOf(ValidationError);
      const raw = await graphCall(h, 'POST', `${h.emu.seed!.wabaId}/message_templates`, {
        name: 'bad_one',
        language: 'en_US',
        category: 'MARKETING',
        components,
      });
      expect(raw.status, name).toBe(400);
      expect(raw.json.error.code, name).toBe(100);
      expect(raw.json.error.error_user_msg, name).toMatch(reason);
    }
    expect(await wa.templates.getByName('bad_one')).toEqual([]);
  });

  it('browses the template library and creates from it; upserts an authentication template in two languages', async () => {
    const wa = h.client();
    const library = await wa.templates.library({ topic: 'order_management' }).all();
    expect(library.map((t) => t.name)).toContain('delivery_update_1');
    const made = await wa.templates.createFromLibrary({
      name: 'my_delivery_update',
      language: 'en_US',
      category: 'UTILITY',
      libraryTemplateName: 'delivery_update_1',
      libraryTemplateButtonInputs: [{ type: 'URL', url: { base_url: 'https://shop.example/track/{{1}}' } }],
    });
    const t = await wa.templates.get(made.id);
    expect(JSON.stringify(t.components)).toContain('https://shop.example/track/{{1}}');
    const unknown = await rejection(
      wa.templates.createFromLibrary({
        name: 'x_lib',
        language: 'en_US',
        category: 'UTILITY',
        libraryTemplateName: 'nope',
      }),
    );
    expect(unknown).toBeInstanceOf(GraphError);

    const auth = [
      { type: 'BODY', add_security_recommendation: true },
      { type: 'FOOTER', code_expiration_minutes: 10 },
      { type: 'BUTTONS', buttons: [{ type: 'OTP', otp_type: 'COPY_CODE', text: 'Copy code' }] },
    ];
    const up = await wa.templates.upsertAuthentication({
      name: 'login_code',
      languages: ['en_US', 'es'],
      components: auth,
    });
    expect(up.data.map((d) => d.language)).toEqual(['en_US', 'es']);
    const again = await wa.templates.upsertAuthentication({
      name: 'login_code',
      languages: ['en_US'],
      components: auth,
    });
    expect(again.data[0]!.id).toBe(up.data[0]!.id);
    expect((await wa.templates.getByName('login_code')).every((x) => x.category === 'AUTHENTICATION')).toBe(
      true,
    );
  });
});

describe("the spec's template request examples", () => {
  const create = specExamples('POST', '/{Version}/{WABA-ID}/message_templates');

  it('are accepted, or refused for the reason Meta would', async () => {
    expect(create.length).toBe(11);
    const outcomes: Record<string, string> = {};
    for (const ex of create) {
      const res = await graphCall(h, 'POST', `${h.emu.seed!.wabaId}/message_templates`, ex.body);
      outcomes[ex.name] =
        res.status === 200 ? res.json.status : `${res.json.error.code}/${res.json.error.error_subcode ?? ''}`;
      if (res.status !== 200)
        outcomes[ex.name] += ` ${res.json.error.error_data?.details ?? res.json.error.error_user_msg}`;
    }
    for (const [name, outcome] of Object.entries(outcomes)) {
      if (name.startsWith('Create Flow Template')) {
        // The three Flow examples keep the placeholder name "<TEMPLATE_NAME>": not lowercase letters, digits, _.
        expect(outcome, name).toMatch(/^100\/ .*lowercase letters/);
      } else if (name === 'Create catalog template') {
        // Its body is the one-tap autofill example again, same name and language: Meta refuses the duplicate.
        expect(outcome, name).toMatch(/^100\/2388024 /);
      } else expect(outcome, name).toBe('APPROVED');
    }
  });

  it('the edit example is accepted on a rejected template of that name (its category changes too)', async () => {
    const [edit] = specExamples('POST', '/{Version}/{TEMPLATE_ID}');
    const t = h.emu.world.createTemplate({
      wabaId: h.emu.seed!.wabaId,
      name: '2023_april_promo',
      language: 'en_US',
      category: 'UTILITY',
      status: 'REJECTED',
      components: [{ type: 'BODY', text: 'x' }],
    });
    const res = await graphCall(h, 'POST', t.id, edit!.body);
    expect(res.json).toEqual({ success: true });
    expect(h.emu.state.templates.get(t.id)).toMatchObject({ category: 'MARKETING', status: 'APPROVED' });
    // On an approved template the same example is refused: Meta doesn't change an approved template's category.
    const approved = h.emu.world.createTemplate({
      wabaId: h.emu.seed!.wabaId,
      name: '2023_april_promo',
      language: 'en_GB',
      category: 'UTILITY',
    });
    const refused = await graphCall(h, 'POST', approved.id, { ...(edit!.body as object), language: 'en_GB' });
    expect(refused.json.error.error_user_msg).toMatch(/category of an approved template/);
  });
});
