import { describe, expect, it } from 'vitest';
import { createJsonLogger, silentLogger } from './logger.js';
import { Secret } from './secret.js';

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
  const lines: string[] = [];
  const logger = createJsonLogger({
    ...(level ? { level } : {}),
    write: (l) => lines.push(l),
    base: { svc: 'sdk' },
  });
  return { lines, logger, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createJsonLogger', () => {
  it('writes one JSON object per line with level, time, msg, base and fields', () => {
    const { logger, parsed } = capture();
    logger.info('hello', { n: 1 });
    const [line] = parsed();
    expect(line).toMatchObject({ level: 'info', msg: 'hello', svc: 'sdk', n: 1 });
    expect(Number.isNaN(Date.parse(String(line!.time)))).toBe(false);
  });

  it('filters below the level (info by default)', () => {
    const { logger, lines } = capture();
    logger.debug('hidden');
    logger.warn('shown');
    expect(lines).toHaveLength(1);
    const dbg = capture('debug');
    dbg.logger.debug('now shown');
    expect(dbg.lines).toHaveLength(1);
    const err = capture('error');
    err.logger.warn('hidden');
    err.logger.error('shown');
    expect(err.lines).toHaveLength(1);
  });

  it('serialises errors with their diagnostic fields, Secrets as fingerprints, and scrubs the line', () => {
    const { logger, parsed, lines } = capture();
    const token = 'EAAloggerTestToken0123456789abcdefgh';
    const err = Object.assign(new Error(`bad token ${token}`), {
      code: 'GRAPH',
      graphCode: 190,
      fbtraceId: 'T',
    });
    logger.error('failed', { err, token: new Secret(token, 'access-token'), raw: `access_token=${token}` });
    expect(lines[0]).not.toContain(token);
    const [line] = parsed();
    expect(line!.err).toMatchObject({ name: 'Error', code: 'GRAPH', graphCode: 190, fbtraceId: 'T' });
    expect(String(line!.token)).toMatch(/^\[access-token sha256:[0-9a-f]{8}\]$/);
    expect(line!.raw).toBe('access_token=[redacted]');
  });

  it('never throws on fields it cannot serialise', () => {
    const { logger, parsed } = capture();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => logger.warn('circular', { circular, big: 10n })).not.toThrow();
    expect(parsed()[0]).toMatchObject({ level: 'warn', msg: 'circular' });
  });
});

describe('silentLogger', () => {
  it('accepts every level and does nothing', () => {
    for (const m of ['debug', 'info', 'warn', 'error'] as const) expect(silentLogger[m]('x')).toBeUndefined();
  });
});
