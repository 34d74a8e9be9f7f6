import { createAuthClient } from '../../src/auth/index.js';
import { createEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/index.js';
import { createFetchTransport } from '../../src/transport/index.js';

/** Any base URL works in-process; it must pass the SDK's base-URL check (https, or http on loopback). */
export const IN_PROCESS_URL = 'http://127.0.0.1:9';
export const REDIRECT_URI = 'https://app.example/auth/callback';

export interface AuthWorld {
  emu: Emulator;
  appId: string;
  appSecret: string;
  transport: ReturnType<typeof createFetchTransport>;
  auth: ReturnType<typeof createAuthClient>;
  /** Count of an emulator endpoint, e.g. `GET /oauth/access_token grant_type=fb_exchange_token`. */
  count(endpoint: string): number;
  mint(kind: string, extra?: Record<string, unknown>): Promise<string>;
  control(path: string, body?: unknown): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** An in-process emulator on a frozen virtual clock, plus an auth client for its seeded app. */
export async function createAuthWorld(options: EmulatorOptions = {}): Promise<AuthWorld> {
  const emu = createEmulator({
    clock: { frozen: true, startMs: Date.UTC(2026, 2, 1) },
    seed: { redirectUris: [REDIRECT_URI] },
    ...options,
  });
  const seed = emu.seed;
  if (!seed) throw new Error('the emulator has no seed');
  const transport = createFetchTransport(emu.fetch.bind(emu));
  const auth = createAuthClient({
    appId: seed.appId,
    appSecret: seed.appSecret,
    transport,
    graphUrl: IN_PROCESS_URL,
    clock: emu.clock,
    // Retries would hide the counts the tests assert; the manager has its own back-off.
  });
  const control = async (path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await emu.fetch(`${IN_PROCESS_URL}/_emulator/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`control ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  return {
    emu,
    appId: seed.appId,
    appSecret: seed.appSecret,
    transport,
    auth,
    count: (endpoint) => emu.counters()[endpoint] ?? 0,
    async mint(kind, extra = {}) {
      const res = await control('tokens', { kind, ...extra });
      return res.access_token as string;
    },
    control,
    async close() {
      await emu.close();
    },
  };
}

/**
 * Drives the emulator's consent page like a browser without JavaScript: GET the dialog URL, submit the form with
 * `decision`, and return the redirect's Location (the app's callback URL).
 */
export async function consent(
  fetchImpl: (url: string, init?: RequestInit) => Promise<Response>,
  dialogUrl: string,
  decision: 'continue' | 'cancel' = 'continue',
): Promise<string> {
  const page = await fetchImpl(dialogUrl);
  const html = await page.text();
  if (page.status !== 200) throw new Error(`dialog answered ${page.status}: ${html.slice(0, 300)}`);
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1];
  if (!action || !requestId) throw new Error(`no consent form in the dialog page: ${html.slice(0, 300)}`);
  const target = new URL(action.replace(/&amp;/g, '&'), dialogUrl);
  const res = await fetchImpl(target.toString(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ request_id: requestId, decision }).toString(),
    redirect: 'manual',
  });
  const location = res.headers.get('location');
  if (res.status !== 302 || !location)
    throw new Error(`the consent form answered ${res.status} without a redirect`);
  return location;
}
