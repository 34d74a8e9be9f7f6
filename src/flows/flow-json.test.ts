import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkScreenData, validateFlowJson } from './flow-json.js';

const booking = readFileSync(new URL('../../docs/examples/booking.flow.json', import.meta.url), 'utf8');

describe('validateFlowJson (offline Flow JSON rules)', () => {
  it('accepts the worked example', () => {
    const { errors, flow } = validateFlowJson(booking);
    expect(errors).toEqual([]);
    expect(flow?.screens.map((s) => s.id)).toEqual(['PICK_SLOT', 'CONFIRM']);
  });

  it("points at the offending value with Meta's line/column and path", () => {
    const text = booking.replace('"id": "CONFIRM"', '"id": "CONFIRM-2"');
    const { errors } = validateFlowJson(text);
    const bad = errors.find((e) => e.error === 'INVALID_SCREEN_ID');
    const line = text.split('\n').findIndex((l) => l.includes('CONFIRM-2')) + 1;
    expect(bad).toMatchObject({ line_start: line, pointers: [{ path: 'screens[1].id' }] });
    expect(bad?.column_start).toBe(text.split('\n')[line - 1]!.indexOf('"CONFIRM-2"') + 1);
    // The routing model and terminal rules follow from the renamed screen.
    expect(errors.map((e) => e.error)).toContain('INVALID_ROUTING_MODEL');
  });

  it('finds each kind of mistake', () => {
    // biome-ignore lint/suspicious/noExplicitAny: free-form mutation of a parsed fixture
    const cases: Array<[string, (f: Record<string, any>) => void]> = [
      ['INVALID_FLOW_JSON_VERSION', (f) => (f.version = '1.0')],
      ['MISSING_TERMINAL_SCREEN', (f) => delete f.screens[1].terminal],
      ['MISSING_FOOTER', (f) => f.screens[1].layout.children.pop()],
      ['INVALID_DATA_REFERENCE', (f) => delete f.screens[1].data.summary],
      ['INVALID_PROPERTY_VALUE', (f) => (f.screens[1].data.slot.__example__ = 3)],
      ['MISSING_REQUIRED_PROPERTY', (f) => delete f.routing_model],
      ['DUPLICATE_SCREEN_ID', (f) => (f.screens[1].id = 'PICK_SLOT')],
      ['RESERVED_SCREEN_ID', (f) => (f.screens[0].id = 'SUCCESS')],
      ['INVALID_ACTION', (f) => (f.screens[0].layout.children[1]['on-click-action'] = { name: 'complete' })],
      [
        'INVALID_NAVIGATION',
        (f) =>
          (f.screens[0].layout.children[1]['on-click-action'] = {
            name: 'navigate',
            next: { type: 'screen', name: 'NOPE' },
          }),
      ],
      ['INVALID_DATA_API_VERSION', (f) => (f.data_api_version = '2.0')],
    ];
    for (const [code, mutate] of cases) {
      const f = JSON.parse(booking);
      mutate(f);
      const codes = validateFlowJson(JSON.stringify(f, null, 2)).errors.map((e) => e.error);
      expect(codes, code).toContain(code);
    }
  });

  it('reports a syntax error with its position, and never throws on junk', () => {
    const { errors } = validateFlowJson('{\n  "version": "7.0",\n  "screens": [}\n');
    expect(errors[0]).toMatchObject({ error: 'INVALID_JSON', line_start: 3 });
    for (const junk of [
      '',
      '[]',
      'null',
      '"x"',
      '{"screens": 5}',
      '{"version":"7.0","screens":[1,{"id":3}]}',
    ]) {
      expect(validateFlowJson(junk).errors.length, junk).toBeGreaterThan(0);
    }
  });

  it('checks endpoint data against the screen declarations', () => {
    const { flow } = validateFlowJson(booking);
    expect(checkScreenData(flow!, 'CONFIRM', { summary: 'Mon', slot: 'mon-10' })).toEqual([]);
    expect(checkScreenData(flow!, 'CONFIRM', { summary: 3, slot: 'mon-10' })).toEqual([
      expect.stringContaining('must be string'),
    ]);
    expect(checkScreenData(flow!, 'CONFIRM', { summary: 'x' })).toEqual([expect.stringContaining('missing')]);
    expect(checkScreenData(flow!, 'PICK_SLOT', { slots: [{ id: 1 }] })[0]).toContain('must be array');
    expect(checkScreenData(flow!, 'NOWHERE', {})[0]).toContain('does not exist');
  });
});
