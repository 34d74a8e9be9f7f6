import { afterAll, beforeAll } from 'vitest';
import { createEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/index.js';
import endpointsJson from '../../src/emulator/spec/endpoints.json' with { type: 'json' };
import { WhatsApp } from '../../src/whatsapp/whatsapp.js';
import type { LooseJson } from './emulator-support.js';

/** One emulator listening on a loopback port, and WhatsApp clients over real HTTP to it, for a test file. */
export interface AreaHarness {
  emu: Emulator;
  url: string;
  /** A client of the seeded number and WABA (extra env overrides). */
  client(env?: Record<string, string>): WhatsApp;
}

export function useSdkEmulator(options: EmulatorOptions = {}): AreaHarness {
  const clients: WhatsApp[] = [];
  const h = {} as AreaHarness;
  beforeAll(async () => {
    const emu = createEmulator({ seed: { recipients: ['16505551234'] }, ...options });
    h.emu = emu;
    h.url = await emu.listen();
    h.client = (env = {}) => {
      const seed = emu.seed!;
      const wa = new WhatsApp({
        retry: { maxAttempts: 1 },
        configSource: {
          env: {
            CLOUD_API_ACCESS_TOKEN: seed.accessToken,
            WA_PHONE_NUMBER_ID: seed.phoneNumberId,
            WA_BUSINESS_ACCOUNT_ID: seed.wabaId,
            WA_GRAPH_URL: h.url,
            ...env,
          },
          envFile: false,
        },
      });
      clients.push(wa);
      return wa;
    };
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await h.emu?.close();
  });
  return h;
}

export async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

/** Raw Graph call to the emulator (for spec examples sent as they are). */
export async function graphCall(
  h: AreaHarness,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: LooseJson }> {
  const res = await fetch(`${h.url}/v23.0/${path}`, {
    method,
    headers: {
      authorization: `Bearer ${h.emu.seed!.accessToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as LooseJson };
}

/** The request examples Meta's OpenAPI document gives for one endpoint (src/emulator/spec/endpoints.json). */
export function specExamples(method: string, path: string): Array<{ name: string; body: unknown }> {
  return endpointsJson.endpoints.find((e) => e.method === method && e.path === path)?.examples ?? [];
}
