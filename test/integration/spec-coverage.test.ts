import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import endpointsJson from '../../src/emulator/spec/endpoints.json' with { type: 'json' };
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import type { Transport, TransportRequest } from '../../src/transport/types.js';
import { WhatsApp } from '../../src/whatsapp/whatsapp.js';
import { COVERED, type CoverageContext, NOT_YET_COVERED } from './spec-coverage-table.js';

/**
 * The gap between Meta's OpenAPI document and this toolkit, kept visible: every endpoint of the document is either
 * covered (a call of the SDK that reaches it, and the emulator answers it successfully) or listed as not yet
 * covered. A new endpoint in the spec, a covered one that stops working, or a listed one that got covered without
 * leaving the list, all fail here.
 */

const key = (e: { method: string; path: string }) => `${e.method} ${e.path}`;
const specKeys = endpointsJson.endpoints.map(key);

/** `/{Version}/{WABA-ID}/message_templates` → a regex over request paths. */
function pathPattern(specPath: string): RegExp {
  const body = specPath
    .split('/')
    .map((seg) => {
      if (seg === '{Version}') return 'v\\d+\\.\\d+';
      if (/^\{.+\}$/.test(seg)) return '[^/]+';
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${body}$`);
}

describe('spec surface coverage', () => {
  let emu: Emulator;
  let wa: WhatsApp;
  const seen: TransportRequest[] = [];
  const ctx = {} as CoverageContext;

  beforeAll(async () => {
    emu = createEmulator({ seed: { recipients: ['16505551234'] } });
    const inner = createFetchTransport(emu.fetch);
    const recording: Transport = {
      request: (req) => {
        seen.push(req);
        return inner.request(req);
      },
      close: () => inner.close(),
    };
    const seed = emu.seed!;
    wa = new WhatsApp({
      transport: recording,
      retry: { maxAttempts: 1 },
      configSource: {
        env: {
          CLOUD_API_ACCESS_TOKEN: seed.accessToken,
          WA_PHONE_NUMBER_ID: seed.phoneNumberId,
          WA_BUSINESS_ACCOUNT_ID: seed.wabaId,
          WA_GRAPH_URL: 'https://graph.facebook.com',
        },
        envFile: false,
      },
    });
    Object.assign(ctx, { wa, emu, seed, recipient: '16505551234' });
  });

  afterAll(async () => {
    await wa.close();
    await emu.close();
  });

  it('lists every endpoint of the spec exactly once: covered or not yet covered', () => {
    const covered = Object.keys(COVERED);
    for (const k of [...covered, ...NOT_YET_COVERED])
      expect(specKeys, `${k} is not in the spec`).toContain(k);
    for (const k of covered)
      expect(NOT_YET_COVERED, `${k} is covered: drop it from NOT_YET_COVERED`).not.toContain(k);
    const missing = specKeys.filter((k) => !covered.includes(k) && !NOT_YET_COVERED.includes(k));
    expect(missing, 'spec endpoints neither covered nor listed as not yet covered').toEqual([]);
    expect(new Set(NOT_YET_COVERED).size).toBe(NOT_YET_COVERED.length);
  });

  // In table order: a later call may use what an earlier one created (ctx).
  for (const [endpoint, entry] of Object.entries(COVERED)) {
    it(`${endpoint}: the SDK reaches it and the emulator serves it`, async () => {
      const before = seen.length;
      await entry.call(ctx);
      const [method, specPath] = endpoint.split(' ') as [string, string];
      const pattern = entry.path ?? pathPattern(specPath);
      const hits = seen
        .slice(before)
        .filter((r) => r.method === method && pattern.test(new URL(r.url).pathname));
      expect(hits.length, `no ${method} request matching ${pattern} was sent`).toBeGreaterThan(0);
    });
  }

  it('reports the coverage', () => {
    const covered = Object.keys(COVERED).length;
    expect(covered + NOT_YET_COVERED.length).toBe(specKeys.length);
    console.log(`spec coverage: ${covered} of ${specKeys.length} endpoints in SDK + emulator`);
  });
});
