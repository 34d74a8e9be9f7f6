import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';

const load = (env: Record<string, string>) => loadConfig({}, { env, envFile: false });

function refused(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('scale-out configuration', () => {
  it('defaults: one instance, 80 messages per second per number, no overrides, no listen URL', () => {
    const c = load({});
    expect(c.instances).toBe(1);
    expect(c.sendRateLimit).toBe(80);
    expect(c.sendRateLimitOverrides).toEqual({});
    expect(c.databaseListenUrl).toBeUndefined();
  });

  it('reads WACLOUD_INSTANCES, WACLOUD_SEND_RATE_LIMIT(_OVERRIDES), DATABASE_LISTEN_URL, REDIS_URL', () => {
    const c = load({
      WACLOUD_INSTANCES: '3',
      WACLOUD_SEND_RATE_LIMIT: '0',
      WACLOUD_SEND_RATE_LIMIT_OVERRIDES: '106540352242922=1000, 222=20',
      DATABASE_URL: 'postgres://u@db:6432/w',
      DATABASE_LISTEN_URL: 'postgresql://u@db:5432/w',
      REDIS_URL: 'rediss://cache:6380/0',
    });
    expect(c.instances).toBe(3);
    expect(c.sendRateLimit).toBe(0);
    expect(c.sendRateLimitOverrides).toEqual({ '106540352242922': 1000, '222': 20 });
    expect(c.databaseListenUrl?.reveal()).toBe('postgresql://u@db:5432/w');
    expect(String(c.databaseListenUrl)).not.toContain('db:5432');
    expect(c.redisUrl?.reveal()).toBe('rediss://cache:6380/0');
  });

  it('one clear error naming the variable, and never echoing a URL (it may carry a password)', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ REDIS_URL: 'http://user:hunter2@cache:6379' }, 'REDIS_URL'],
      [
        { DATABASE_URL: 'postgres://db/w', DATABASE_LISTEN_URL: 'mysql://u:hunter2@db/w' },
        'DATABASE_LISTEN_URL',
      ],
      [{ DATABASE_LISTEN_URL: 'postgres://u:hunter2@db/w' }, 'DATABASE_LISTEN_URL'],
      [{ WACLOUD_INSTANCES: '0' }, 'WACLOUD_INSTANCES'],
      [{ WACLOUD_INSTANCES: 'three' }, 'WACLOUD_INSTANCES'],
      [{ WACLOUD_SEND_RATE_LIMIT: '-1' }, 'WACLOUD_SEND_RATE_LIMIT'],
      [{ WACLOUD_SEND_RATE_LIMIT: '80mps' }, 'WACLOUD_SEND_RATE_LIMIT'],
      [{ WACLOUD_SEND_RATE_LIMIT_OVERRIDES: '106540352242922:1000' }, 'WACLOUD_SEND_RATE_LIMIT_OVERRIDES'],
      [{ WACLOUD_SEND_RATE_LIMIT_OVERRIDES: '222=0' }, 'WACLOUD_SEND_RATE_LIMIT_OVERRIDES'],
    ];
    for (const [env, variable] of cases) {
      const err = refused(env);
      expect(err.message).toContain(variable);
      expect(err.message).not.toContain('hunter2');
    }
  });
});
