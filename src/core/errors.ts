import { scrubText } from './secret.js';

/** Every error wacloud throws carries one of these codes, so `switch (err.code)` narrows. */
export type WacloudErrorCode =
  | 'CONFIG_INVALID'
  | 'VALIDATION'
  | 'GRAPH'
  | 'TRANSPORT'
  | 'OAUTH'
  | 'SIGNATURE'
  | 'CRYPTO'
  | 'STORE'
  | 'CONFLICT'
  | 'SECRET_SOURCE'
  | 'TOKEN_UNAVAILABLE';

export interface WacloudErrorOptions {
  cause?: unknown;
}

/** Base class. Messages are scrubbed of anything token-like before they are stored. */
export class WacloudError extends Error {
  readonly code: WacloudErrorCode;

  constructor(code: WacloudErrorCode, message: string, options: WacloudErrorOptions = {}) {
    super(scrubText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = 'WacloudError';
  }
}

/** A configuration value is missing or malformed. `variable` names the option or environment variable. */
export class ConfigError extends WacloudError {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super('CONFIG_INVALID', `${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Input rejected before any request was made (bad message body, bad phone number, ...). */
export class ValidationError extends WacloudError {
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super('VALIDATION', field ? `${field}: ${message}` : message);
    this.name = 'ValidationError';
    this.field = field;
  }
}
