import type { Emulator, EmulatorSeed } from '../../src/emulator/index.js';
import { generateFlowKeyPair } from '../../src/flows/crypto.js';
import type { WhatsApp } from '../../src/whatsapp/whatsapp.js';

/** A static Flow (no data_api_version, so no endpoint is needed to publish it). */
const STATIC_FLOW = {
  version: '6.0',
  screens: [
    {
      id: 'THANKS',
      title: 'Thanks',
      terminal: true,
      layout: {
        type: 'SingleColumnLayout',
        children: [
          { type: 'TextBody', text: 'Thank you.' },
          { type: 'Footer', label: 'Close', 'on-click-action': { name: 'complete', payload: {} } },
        ],
      },
    },
  ],
};

/** What the coverage calls share: the client, the emulator, and ids earlier calls created. */
export interface CoverageContext {
  wa: WhatsApp;
  emu: Emulator;
  seed: EmulatorSeed;
  recipient: string;
  mediaId?: string;
  mediaUrl?: string;
  templateId?: string;
  [key: string]: unknown;
}

export interface CoverageEntry {
  /** An SDK call that reaches the endpoint and succeeds against the emulator. */
  call: (ctx: CoverageContext) => Promise<unknown>;
  /** The request path when it is not the spec's (media downloads go to the URL Meta hands out). */
  path?: RegExp;
}

const V = '/{Version}';

/** Spec endpoints the SDK and the emulator both cover, with the call that proves it (run in this order). */
export const COVERED: Record<string, CoverageEntry> = {
  [`POST ${V}/{Phone-Number-ID}/messages`]: {
    call: ({ wa, recipient }) => wa.messages.text({ to: recipient, body: 'coverage' }),
  },
  [`POST ${V}/{Phone-Number-ID}/media`]: {
    call: async (ctx) => {
      const { id } = await ctx.wa.media.upload({
        data: new Uint8Array(16),
        mimeType: 'image/png',
        filename: 'a.png',
      });
      ctx.mediaId = id;
    },
  },
  [`GET ${V}/{Media-ID}`]: {
    call: async (ctx) => {
      ctx.mediaUrl = (await ctx.wa.media.getUrl(ctx.mediaId as string)).url;
    },
  },
  [`GET ${V}/{Media-URL}`]: {
    call: (ctx) => ctx.wa.media.download(ctx.mediaUrl as string),
    path: /^\/whatsapp_business\/attachments\/$/,
  },
  [`DELETE ${V}/{Media-ID}`]: { call: (ctx) => ctx.wa.media.delete(ctx.mediaId as string) },
  [`GET ${V}/{Phone-Number-ID}`]: { call: ({ wa, seed }) => wa.phoneNumbers.get(seed.phoneNumberId) },
  [`GET ${V}/{WABA-ID}/phone_numbers`]: { call: ({ wa }) => wa.phoneNumbers.list().all() },
  [`GET ${V}/{Phone-Number-ID}/whatsapp_business_profile`]: { call: ({ wa }) => wa.profile.get() },
  [`POST ${V}/{Phone-Number-ID}/whatsapp_business_profile`]: {
    call: ({ wa }) => wa.profile.update({ about: 'coverage' }),
  },
  [`POST ${V}/{Phone-Number-ID}/request_code`]: {
    call: ({ wa }) => wa.registration.requestCode({ codeMethod: 'SMS' }),
  },
  [`POST ${V}/{Phone-Number-ID}/verify_code`]: {
    call: async ({ wa, emu, seed }) => {
      const code = emu.state.phoneNumbers.get(seed.phoneNumberId)?.pendingCode as string;
      return wa.registration.verifyCode(code);
    },
  },
  [`POST ${V}/{Phone-Number-ID}/deregister`]: { call: ({ wa }) => wa.registration.deregister() },
  [`POST ${V}/{Phone-Number-ID}/register`]: { call: ({ wa }) => wa.registration.register({ pin: '123456' }) },
  [`GET ${V}/{WABA-ID}/subscribed_apps`]: { call: ({ wa }) => wa.subscriptions.list() },
  [`POST ${V}/{WABA-ID}/subscribed_apps`]: { call: ({ wa }) => wa.subscriptions.subscribe() },
  [`DELETE ${V}/{WABA-ID}/subscribed_apps`]: { call: ({ wa }) => wa.subscriptions.unsubscribe() },
  [`GET ${V}/{WABA-ID}/message_templates`]: { call: ({ wa }) => wa.templates.list({ limit: 1 }).all() },
  [`POST ${V}/{WABA-ID}/message_templates`]: {
    call: async (ctx) => {
      const t = await ctx.wa.templates.create({
        name: 'coverage_notice',
        language: 'en_US',
        category: 'UTILITY',
        components: [{ type: 'BODY', text: 'Your code {{1}} is ready.', example: { body_text: [['42']] } }],
      });
      ctx.templateId = t.id;
    },
  },
  [`GET ${V}/{TEMPLATE_ID}`]: { call: (ctx) => ctx.wa.templates.get(ctx.templateId as string) },
  [`POST ${V}/{TEMPLATE_ID}`]: {
    call: (ctx) =>
      ctx.wa.templates.edit(ctx.templateId as string, {
        components: [{ type: 'BODY', text: 'Your order {{1}} is ready.', example: { body_text: [['42']] } }],
      }),
  },
  [`DELETE ${V}/{WABA-ID}/message_templates`]: {
    call: (ctx) => ctx.wa.templates.deleteById(ctx.templateId as string, 'coverage_notice'),
  },
  [`POST ${V}/{Phone-Number-ID}/groups`]: {
    call: ({ wa }) => wa.groups.create({ subject: 'Coverage', joinApprovalMode: 'approval_required' }),
  },
  [`GET ${V}/{Phone-Number-ID}/groups`]: {
    call: async (ctx) => {
      ctx.groupId = (await ctx.wa.groups.list().all()).find((g) => g.subject === 'Coverage')?.id;
    },
  },
  [`GET ${V}/{group_id}`]: { call: (ctx) => ctx.wa.groups.get(ctx.groupId as string) },
  [`POST ${V}/{group_id}`]: {
    call: (ctx) => ctx.wa.groups.update(ctx.groupId as string, { description: 'covered' }),
  },
  [`POST ${V}/{group_id}/invite_link`]: {
    call: async (ctx) => {
      const { invite_link } = await ctx.wa.groups.resetInviteLink(ctx.groupId as string);
      // Two users ask to join through it (the emulator plays them).
      for (const wa_id of ['16505550301', '16505550302']) {
        await ctx.emu.fetch(
          new Request(`http://emu/_emulator/groups/${ctx.groupId}/join`, {
            method: 'POST',
            body: JSON.stringify({ wa_id, invite_link }),
          }),
        );
      }
    },
  },
  [`GET ${V}/{group_id}/join_requests`]: {
    call: async (ctx) => {
      ctx.joinRequests = (await ctx.wa.groups.joinRequests(ctx.groupId as string).all()).map(
        (r) => r.join_request_id,
      );
    },
  },
  [`POST ${V}/{group_id}/join_requests`]: {
    call: (ctx) =>
      ctx.wa.groups.approveJoinRequests(ctx.groupId as string, [(ctx.joinRequests as string[])[0]!]),
  },
  [`DELETE ${V}/{group_id}/join_requests`]: {
    call: (ctx) =>
      ctx.wa.groups.rejectJoinRequests(ctx.groupId as string, [(ctx.joinRequests as string[])[1]!]),
  },
  [`POST ${V}/{group_id}/participants`]: {
    call: (ctx) => ctx.wa.groups.addParticipants(ctx.groupId as string, ['+16505550303']),
  },
  [`DELETE ${V}/{group_id}/participants`]: {
    call: (ctx) => ctx.wa.groups.removeParticipants(ctx.groupId as string, ['+16505550303']),
  },
  [`DELETE ${V}/{group_id}/invite_link`]: {
    call: (ctx) => ctx.wa.groups.deleteInviteLink(ctx.groupId as string),
  },
  [`DELETE ${V}/{group_id}`]: { call: (ctx) => ctx.wa.groups.delete(ctx.groupId as string) },
  [`POST ${V}/{Phone-Number-ID}/settings`]: {
    call: ({ wa }) => wa.calling.updateSettings({ calling: { status: 'enabled' } }),
  },
  [`GET ${V}/{Phone-Number-ID}/settings`]: { call: ({ wa }) => wa.calling.settings() },
  [`GET ${V}/{Phone-Number-ID}/call_permissions`]: {
    call: async ({ wa, emu }) => {
      await emu.fetch(
        new Request('http://emu/_emulator/call-permissions', {
          method: 'POST',
          body: '{"wa_id":"16505550500"}',
        }),
      );
      return wa.calling.permissions('16505550500');
    },
  },
  [`POST ${V}/{Phone-Number-ID}/calls`]: {
    call: async ({ wa }) => {
      const sdp = 'v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\n';
      const { calls } = await wa.calling.connect({ to: '16505550500', sdp });
      return wa.calling.terminate(calls[0]!.id);
    },
  },
  [`POST ${V}/{Phone-Number-ID}/block_users`]: { call: ({ wa }) => wa.blockUsers.block(['+16505550700']) },
  [`GET ${V}/{Phone-Number-ID}/block_users`]: { call: ({ wa }) => wa.blockUsers.list().all() },
  [`DELETE ${V}/{Phone-Number-ID}/block_users`]: {
    call: ({ wa }) => wa.blockUsers.unblock(['+16505550700']),
  },
  [`POST ${V}/{Phone-Number-ID}/message_qrdls`]: {
    call: async (ctx) => {
      ctx.qrCode = (await ctx.wa.qrCodes.create({ prefilledMessage: 'Hello' })).code;
    },
  },
  [`GET ${V}/{Phone-Number-ID}/message_qrdls`]: { call: ({ wa }) => wa.qrCodes.list().all() },
  [`GET ${V}/{Phone-Number-ID}/message_qrdls/{QR-Code-ID}`]: {
    call: (ctx) => ctx.wa.qrCodes.get(ctx.qrCode as string),
  },
  [`DELETE ${V}/{Phone-Number-ID}/message_qrdls/{QR-Code-ID}`]: {
    call: (ctx) => ctx.wa.qrCodes.delete(ctx.qrCode as string),
  },
  [`POST ${V}/{Phone-Number-ID}/conversational_automation`]: {
    call: ({ wa }) => wa.numberSettings.setConversationalAutomation({ enableWelcomeMessage: true }),
  },
  [`POST ${V}/{Phone-Number-ID}/whatsapp_commerce_settings`]: {
    call: ({ wa }) => wa.numberSettings.updateCommerce({ isCartEnabled: true }),
  },
  [`GET ${V}/{Phone-Number-ID}/whatsapp_commerce_settings`]: {
    call: ({ wa }) => wa.numberSettings.commerce(),
  },
  [`POST ${V}/{Phone-Number-ID}/marketing_messages`]: {
    call: ({ wa, emu, seed, recipient }) => {
      emu.world.createTemplate({
        wabaId: seed.wabaId,
        name: 'coverage_sale',
        language: 'en_US',
        category: 'MARKETING',
      });
      return wa.marketingMessages.send({
        to: `+${recipient}`,
        name: 'coverage_sale',
        productPolicy: 'STRICT',
      });
    },
  },
  [`POST ${V}/{WABA-ID}/flows`]: {
    call: async (ctx) => {
      const { id } = await ctx.wa.flows.create({
        name: 'coverage_flow',
        categories: ['APPOINTMENT_BOOKING'],
      });
      ctx.flowId = id;
    },
  },
  [`GET ${V}/{WABA-ID}/flows`]: { call: ({ wa }) => wa.flows.list({ limit: 10 }) },
  [`GET ${V}/{Flow-ID}`]: { call: (ctx) => ctx.wa.flows.get(ctx.flowId as string, ['name', 'status']) },
  [`POST ${V}/{Flow-ID}`]: {
    call: (ctx) => ctx.wa.flows.updateMetadata(ctx.flowId as string, { name: 'coverage_flow_2' }),
  },
  [`POST ${V}/{Flow-ID}/assets`]: {
    call: async (ctx) => {
      const { validation_errors } = await ctx.wa.flows.uploadJson(ctx.flowId as string, STATIC_FLOW);
      if (validation_errors.length > 0) throw new Error(JSON.stringify(validation_errors));
    },
  },
  [`GET ${V}/{Flow-ID}/assets`]: { call: (ctx) => ctx.wa.flows.assets(ctx.flowId as string) },
  [`POST ${V}/{WABA-ID}/migrate_flows`]: {
    call: async (ctx) => {
      // Meta migrates between two WABAs of one business: the flow moves from a second WABA into the configured one.
      const source = ctx.emu.world.createWaba({ businessId: ctx.seed.businessId });
      // The user grants the app that WABA too (what re-running Embedded Signup does).
      for (const g of ctx.emu.state.tokens.get(ctx.seed.accessToken)?.granularScopes ?? [])
        g.targetIds?.push(source.id);
      const { id } = await ctx.wa.flows.create({
        name: 'coverage_migrated',
        categories: ['OTHER'],
        wabaId: source.id,
      });
      const out = await ctx.wa.flows.migrate({ sourceWabaId: source.id });
      if (out.migrated_flows[0]?.source_id !== id) throw new Error(JSON.stringify(out));
      ctx.migratedFlowId = out.migrated_flows[0].migrated_id;
    },
  },
  [`DELETE ${V}/{Flow-ID}`]: { call: (ctx) => ctx.wa.flows.delete(ctx.migratedFlowId as string) },
  [`POST ${V}/{Flow-ID}/publish`]: { call: (ctx) => ctx.wa.flows.publish(ctx.flowId as string) },
  [`POST ${V}/{Flow-ID}/deprecate`]: { call: (ctx) => ctx.wa.flows.deprecate(ctx.flowId as string) },
  [`POST ${V}/{Phone-Number-ID}/whatsapp_business_encryption`]: {
    call: ({ wa }) => wa.flows.setBusinessPublicKey(generateFlowKeyPair().publicKeyPem),
  },
  [`GET ${V}/{Phone-Number-ID}/whatsapp_business_encryption`]: {
    call: ({ wa }) => wa.flows.getBusinessPublicKey(),
  },
  [`POST ${V}/{Phone-Number-ID}`]: {
    call: ({ wa, seed }) => wa.phoneNumbers.update(seed.phoneNumberId, { newDisplayName: 'Coverage Shop' }),
  },
  [`GET ${V}/{WABA-ID}`]: { call: ({ wa }) => wa.account.get('name,health_status') },
  [`POST ${V}/{WABA-ID}`]: { call: ({ wa }) => wa.account.update({ timezoneId: '1' }) },
  [`POST ${V}/{WhatsApp-Business-Account-ID}/assigned_users`]: {
    call: ({ wa, seed }) => wa.account.assignUser(seed.systemUserId, ['MANAGE']),
  },
  [`GET ${V}/{WhatsApp-Business-Account-ID}/assigned_users`]: {
    call: ({ wa }) => wa.account.assignedUsers(),
  },
  [`DELETE ${V}/{WhatsApp-Business-Account-ID}/assigned_users`]: {
    call: ({ wa, seed }) => wa.account.unassignUser(seed.systemUserId),
  },
};

/** Spec endpoints neither the SDK nor the emulator covers yet: this list may only shrink. */
export const NOT_YET_COVERED: string[] = [
  `GET ${V}/{Application-ID}/connected_client_businesses`,
  `POST ${V}/{Application-ID}/whatsapp_business_solution`,
  `GET ${V}/{Application-ID}/whatsapp_business_solutions`,
  `POST ${V}/{Business-ID}/add_phone_numbers`,
  `GET ${V}/{Business-ID}`,
  `GET ${V}/{Business-ID}/preverified_numbers`,
  `GET ${V}/{Business-ID}/client_whatsapp_business_accounts`,
  `POST ${V}/{Business-ID}/onboard_partners_to_mm_lite`,
  `GET ${V}/{Business-ID}/owned_whatsapp_business_accounts`,
  `POST ${V}/{Business-ID}/share_preverified_numbers`,
  `POST ${V}/{Phone-Number-ID}/messages_encrypted`,
  `GET ${V}/{Phone-Number-ID}/official_business_account`,
  `POST ${V}/{Phone-Number-ID}/official_business_account`,
  `GET ${V}/{Phone-Number-ID}/message_history`,
  `GET ${V}/{Phone-Number-ID}/business_compliance_info`,
  `POST ${V}/{Phone-Number-ID}/business_compliance_info`,
  `GET ${V}/{Message-History-ID}/events`,
  `GET ${V}/{Migration-Intent-ID}`,
  `GET ${V}/{Pre-Verified-Phone-Number-ID}`,
  `DELETE ${V}/{Pre-Verified-Phone-Number-ID}`,
  `GET ${V}/{Pre-Verified-Phone-Number-ID}/partners`,
  `POST ${V}/{Pre-Verified-Phone-Number-ID}/request_code`,
  `POST ${V}/{Pre-Verified-Phone-Number-ID}/verify_code`,
  `GET ${V}/{Solution-ID}/access_token`,
  `POST ${V}/{Solution-ID}/accept_deactivation_request`,
  `POST ${V}/{Solution-ID}/accept`,
  `GET ${V}/{Solution-ID}`,
  `POST ${V}/{Solution-ID}/reject_deactivation_request`,
  `POST ${V}/{Solution-ID}/reject`,
  `POST ${V}/{Solution-ID}/send_deactivation_request`,
  `GET ${V}/{User-ID}/assigned_whatsapp_business_accounts`,
  `GET ${V}/{WhatsApp-Account-Number-ID}`,
  `GET ${V}/{Business-ID}/extendedcredits`,
  `GET ${V}/{WABA-ID}/in_progress_onbehalf_request`,
  `GET ${V}/{OBO-Mobility-Intent-ID}`,
  `POST ${V}/{WABA-ID}/obo_mobility_intent`,
  `POST ${V}/{WABA-ID}/phone_numbers`,
  `GET ${V}/{WABA-ID}/schedules`,
  `POST ${V}/{WABA-ID}/schedules`,
  `POST ${V}/{WABA-ID}/set_obo_mobility_intent`,
  `POST ${V}/{WABA-ID}/set_solution_migration_intent`,
  `GET ${V}/{WABA-ID}/solutions`,
  `GET ${V}/{WABA-ID}/activities`,
  `GET ${V}/{WABA-Bot-ID}`,
  `GET ${V}/{WhatsApp-Business-Profile-ID}`,
  `POST ${V}/{WhatsApp-Business-Profile-ID}`,
  // Not a Graph endpoint: the document describes the webhook Meta POSTs to you (src/webhooks parses it).
  `POST /whatsapp/webhooks`,
];
