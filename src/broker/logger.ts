import { pino } from 'pino';
import type { LogFields, Logger, LogLevel } from '../core/logger.js';
import { scrubText } from '../core/secret.js';

/**
 * The broker's JSON logs: pino, with secret-carrying paths redacted and every finished line passed through
 * scrubText as a last line of defence (a token that reached a message by mistake is still masked).
 */
export function createBrokerLogger(
  options: { level?: LogLevel; destination?: { write(line: string): void } } = {},
): Logger {
  const destination = options.destination ?? process.stdout;
  const log = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'wacloud' },
      redact: {
        paths: [
          'token',
          '*.token',
          'accessToken',
          '*.accessToken',
          'secret',
          '*.secret',
          'authorization',
          '*.authorization',
          'key',
          '*.key',
        ],
        censor: '[redacted]',
      },
      hooks: {
        streamWrite: (line: string) => scrubText(line),
      },
    },
    { write: (line: string) => destination.write(line) },
  );
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (fields) log[level](fields, msg);
      else log[level](msg);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
