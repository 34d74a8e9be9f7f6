import { join } from 'node:path';
import { WacloudError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import { createEmulator, type Emulator } from '../emulator/emulator.js';

export interface Sandbox {
  emulator: Emulator;
  url: string;
  appId: string;
  appSecret: string;
  /**
   * The sandbox app's Login for Business configuration for Embedded Signup (business integration system user token,
   * WhatsApp permissions, never expires): `WA_LOGIN_CONFIG_ID` when given, else the one seeded on first start.
   */
  embeddedSignupConfigId: string;
  /** Points the emulator's app at the broker: its login redirect and its webhook callback. */
  connect(brokerUrl: string, webhookPath: string, verifyToken: Secret): Promise<void>;
  close(): Promise<void>;
}

async function control(
  emulator: Emulator,
  method: string,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const res = await emulator.fetch(`http://sandbox/_emulator${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok)
    throw new WacloudError(
      'CONFIG_INVALID',
      `sandbox setup failed on ${path}: HTTP ${res.status} ${await res.text()}`,
    );
  return (await res.json()) as Record<string, unknown>;
}

/**
 * With no Meta app configured the broker runs against an embedded emulator, so the whole flow (connect, renew,
 * send, webhooks) works offline on a fresh machine. Its world is kept in the data dir, so tokens the broker stored
 * stay valid across restarts.
 */
export async function startSandbox(options: {
  dataDir: string;
  port?: number;
  host?: string;
  /** `WA_LOGIN_CONFIG_ID`: the configuration to use (created in the sandbox when missing). */
  loginConfigId?: string | undefined;
}): Promise<Sandbox> {
  const emulator = createEmulator({ stateFile: join(options.dataDir, 'sandbox-emulator.json') });
  const url = await emulator.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const seed = emulator.seed;
  if (!seed) {
    await emulator.close();
    throw new WacloudError('CONFIG_INVALID', 'the sandbox emulator has no seeded app');
  }
  const configs = emulator.state.apps.get(seed.appId)?.configs ?? {};
  let embeddedSignupConfigId = options.loginConfigId;
  if (embeddedSignupConfigId === undefined)
    embeddedSignupConfigId = Object.values(configs).find((x) => x.tokenType === 'system_user')?.id;
  if (embeddedSignupConfigId === undefined || !configs[embeddedSignupConfigId]) {
    try {
      const made = await control(emulator, 'POST', `/apps/${seed.appId}/configs`, {
        ...(embeddedSignupConfigId ? { id: embeddedSignupConfigId } : {}),
        token_type: 'system_user',
        expiry: 'never',
      });
      embeddedSignupConfigId = String(made.id);
    } catch (err) {
      await emulator.close();
      throw err;
    }
  }
  return {
    emulator,
    url,
    appId: seed.appId,
    appSecret: seed.appSecret,
    embeddedSignupConfigId,
    async connect(brokerUrl, webhookPath, verifyToken) {
      const app = emulator.state.apps.get(seed.appId);
      const redirects = [`${brokerUrl}/connect/callback`, `${brokerUrl}/connect/embedded-signup/callback`];
      await control(emulator, 'PATCH', `/apps/${seed.appId}`, {
        redirect_uris: [...new Set([...(app?.redirectUris ?? []), ...redirects])],
      });
      await control(emulator, 'POST', `/apps/${seed.appId}/webhook`, {
        callback_url: `${brokerUrl}${webhookPath}`,
        verify_token: verifyToken.reveal(),
      });
    },
    close: () => emulator.close(),
  };
}
