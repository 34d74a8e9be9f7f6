import { describe, expect, it } from 'vitest';
import { mockGraph } from '../../test/support/mock-graph.js';
import { ValidationError } from '../core/errors.js';
import { WhatsApp } from '../whatsapp/whatsapp.js';
import { generateFlowKeyPair } from './crypto.js';
import { formatFlowValidationErrors } from './management-api.js';

const GRAPH = 'https://graph.facebook.com';

function client() {
  const g = mockGraph([GRAPH]);
  const wa = new WhatsApp({
    transport: g.transport,
    retry: { maxAttempts: 1 },
    configSource: {
      env: {
        CLOUD_API_ACCESS_TOKEN: 'EAAFlowsTestToken0123456789abcdefghij',
        WA_PHONE_NUMBER_ID: '111',
        WA_BUSINESS_ACCOUNT_ID: '222',
      },
      envFile: false,
    },
  });
  return { g, wa };
}

describe('wa.flows request shapes (Meta Flows API)', () => {
  it('uploads the Flow JSON as the multipart asset Meta expects and returns validation_errors', async () => {
    const { g, wa } = client();
    const errors = [
      {
        error: 'INVALID_PROPERTY_VALUE',
        error_type: 'FLOW_JSON_ERROR',
        message: "Invalid value found for property 'type'.",
        line_start: 10,
        line_end: 10,
        column_start: 21,
        column_end: 34,
      },
    ];
    g.script.push({ status: 200, body: { success: true, validation_errors: errors } });
    const out = await wa.flows.uploadJson('333', { version: '7.0', screens: [] });
    expect(out.validation_errors).toEqual(errors);
    expect(formatFlowValidationErrors(out.validation_errors)).toEqual([
      "line 10, column 21: Invalid value found for property 'type'. (INVALID_PROPERTY_VALUE)",
    ]);
    const seen = g.seen[0]!;
    expect(seen.method).toBe('POST');
    expect(seen.url.pathname).toMatch(/\/333\/assets$/);
    const body = Buffer.from(seen.body as Uint8Array).toString('utf8');
    expect(body).toContain('name="name"\r\n\r\nflow.json');
    expect(body).toContain('name="asset_type"\r\n\r\nFLOW_JSON');
    expect(body).toContain('name="file"; filename="flow.json"');
    await wa.close();
  });

  it('asks for preview, health and metrics with Graph field modifiers', async () => {
    const { g, wa } = client();
    g.script.push({
      body: { id: '333', preview: { preview_url: 'https://x/p', expires_at: '2026-01-01T00:00:00+0000' } },
    });
    g.script.push({ body: { id: '333', health_status: { can_send_message: 'AVAILABLE', entities: [] } } });
    g.script.push({
      body: { id: '333', metric: { name: 'ENDPOINT_REQUEST_COUNT', granularity: 'DAY', data_points: [] } },
    });
    await wa.flows.preview('333', { invalidate: true });
    await wa.flows.healthStatus('333');
    await wa.flows.metrics('333', {
      name: 'ENDPOINT_REQUEST_COUNT',
      granularity: 'DAY',
      since: '2026-01-01',
      until: '2026-01-31',
    });
    expect(g.seen.map((s) => s.url.searchParams.get('fields'))).toEqual([
      'preview.invalidate(true)',
      'health_status',
      'metric.name(ENDPOINT_REQUEST_COUNT).granularity(DAY).since(2026-01-01).until(2026-01-31)',
    ]);
    await wa.close();
  });

  it('sets the business public key on the sender number, form-encoded', async () => {
    const { g, wa } = client();
    const { publicKeyPem } = generateFlowKeyPair();
    await wa.flows.setBusinessPublicKey(publicKeyPem);
    expect(g.seen[0]!.url.pathname).toMatch(/\/111\/whatsapp_business_encryption$/);
    expect(new URLSearchParams(String(g.seen[0]!.body)).get('business_public_key')).toBe(publicKeyPem);
    await wa.close();
  });

  it('refuses bad input before any request', async () => {
    const { g, wa } = client();
    const bad: Array<Promise<unknown>> = [
      wa.flows.create({ name: '', categories: ['OTHER'] }),
      wa.flows.create({ name: 'x', categories: ['NOPE' as 'OTHER'] }),
      wa.flows.create({ name: 'x', categories: ['OTHER'], endpoint_uri: 'http://example.com/flow' }),
      wa.flows.get('../me'),
      wa.flows.metrics('333', { name: 'ENDPOINT_REQUEST_COUNT', granularity: 'DAY', since: 'yesterday' }),
      wa.flows.setBusinessPublicKey('not a key'),
      wa.flows.updateMetadata('333', {}),
    ];
    for (const p of bad) await expect(p).rejects.toBeInstanceOf(ValidationError);
    expect(g.seen).toEqual([]);
    await wa.close();
  });
});
