import { describe, expect, it } from 'vitest';
import { parseUsageHeaders, retryAfterSeconds } from './usage.js';

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0);

describe('parseUsageHeaders', () => {
  it('reads the OpenAPI spec sample BUC header (several objects and types)', () => {
    const usage = parseUsageHeaders({
      'x-business-use-case-usage':
        '{"102290129340398":[{"type":"whatsapp_business_management","call_count":1,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0},{"type":"whatsapp","call_count":1,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0}],"999":[{"type":"whatsapp","call_count":"95","estimated_time_to_regain_access":3}]}',
    });
    expect(usage.app).toBeUndefined();
    // Object key order puts small integer-like ids first; compare as a set.
    expect(usage.businessUseCase.map((u) => [u.objectId, u.type, u.callCount])).toEqual(
      expect.arrayContaining([
        ['102290129340398', 'whatsapp_business_management', 1],
        ['102290129340398', 'whatsapp', 1],
        ['999', 'whatsapp', 95],
      ]),
    );
    expect(usage.businessUseCase).toHaveLength(3);
    expect(usage.businessUseCase.find((u) => u.objectId === '999')).toMatchObject({
      totalCputime: 0,
      estimatedTimeToRegainAccessMin: 3,
    });
  });

  it('ignores malformed headers and entries instead of throwing', () => {
    expect(parseUsageHeaders({ 'x-app-usage': '{', 'x-business-use-case-usage': 'null' })).toEqual({
      app: undefined,
      businessUseCase: [],
    });
    const odd = parseUsageHeaders({
      'x-app-usage': '{"call_count":"abc","total_time":12}',
      'x-business-use-case-usage': '{"1":"not-an-array","2":[null,7,{"call_count":5}]}',
    });
    expect(odd.app).toEqual({ callCount: 0, totalCputime: 0, totalTime: 12 });
    expect(odd.businessUseCase).toEqual([
      {
        objectId: '2',
        type: 'unknown',
        callCount: 5,
        totalCputime: 0,
        totalTime: 0,
        estimatedTimeToRegainAccessMin: 0,
      },
    ]);
  });
});

describe('retryAfterSeconds', () => {
  it('reads Retry-After as seconds or as an HTTP date against the given now', () => {
    expect(retryAfterSeconds({ 'retry-after': ' 30 ' }, NOW)).toBe(30);
    expect(retryAfterSeconds({ 'retry-after': new Date(NOW + 90_500).toUTCString() }, NOW)).toBe(90);
    expect(retryAfterSeconds({ 'retry-after': new Date(NOW - 5_000).toUTCString() }, NOW)).toBe(0);
    expect(retryAfterSeconds({ 'retry-after': 'soon' }, NOW)).toBeUndefined();
  });

  it('falls back on the largest estimated_time_to_regain_access, in seconds', () => {
    const buc =
      '{"1":[{"type":"whatsapp","estimated_time_to_regain_access":2}],"2":[{"type":"x","estimated_time_to_regain_access":5}]}';
    expect(retryAfterSeconds({ 'x-business-use-case-usage': buc }, NOW)).toBe(300);
    expect(retryAfterSeconds({ 'retry-after': '4', 'x-business-use-case-usage': buc }, NOW)).toBe(4);
    const zero = '{"1":[{"type":"whatsapp","estimated_time_to_regain_access":0}]}';
    expect(retryAfterSeconds({ 'x-business-use-case-usage': zero }, NOW)).toBeUndefined();
    expect(retryAfterSeconds({}, NOW)).toBeUndefined();
  });
});
