import { WacloudError } from '../core/errors.js';
import { scrubText } from '../core/secret.js';
import type { TransportFailure } from './types.js';

/** The request never produced an HTTP response. */
export class TransportError extends WacloudError {
  readonly failure: TransportFailure;
  /**
   * False only when the request certainly never reached the server (refused, DNS, connect timeout). A message send
   * whose request may have been delivered must not be blindly re-sent.
   */
  readonly mayHaveReachedServer: boolean;

  constructor(failure: TransportFailure, message: string, cause?: unknown) {
    super('TRANSPORT', message, { cause });
    this.name = 'TransportError';
    this.failure = failure;
    this.mayHaveReachedServer = !(
      failure === 'connect-refused' ||
      failure === 'dns' ||
      failure === 'connect-timeout'
    );
  }
}

const CODE_TO_FAILURE: Record<string, TransportFailure> = {
  ECONNREFUSED: 'connect-refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  UND_ERR_CONNECT_TIMEOUT: 'connect-timeout',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_CLOSED: 'reset',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  UND_ERR_ABORTED: 'aborted',
  ABORT_ERR: 'aborted',
  UND_ERR_INVALID_ARG: 'other',
  HPE_INVALID_CONSTANT: 'bad-response',
  UND_ERR_RESPONSE_STATUS_CODE: 'bad-response',
};

function errorCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 5 && cur && typeof cur === 'object'; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code in CODE_TO_FAILURE) return code;
    if ((cur as { name?: unknown }).name === 'AbortError') return 'ABORT_ERR';
    if ((cur as { name?: unknown }).name === 'TimeoutError') return 'ETIMEDOUT';
    // undici's parser errors (bytes that are not HTTP) often carry no code.
    if ((cur as { name?: unknown }).name === 'HTTPParserError') return 'HPE_INVALID_CONSTANT';
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Fields of socket / undici errors that say what failed without carrying request or response content. */
const SAFE_FIELDS = ['code', 'errno', 'syscall', 'address', 'port'] as const;

/**
 * A copy of a low-level error that is safe to keep as `cause`: name, scrubbed message, stack frames and the
 * diagnostic fields above, nothing else. undici's parser errors carry the bytes the peer sent in `data`, and a
 * broken peer may echo our request back, Authorization header and appsecret_proof included.
 */
function safeCause(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return typeof err === 'string' ? scrubText(err) : undefined;
  const copy = new Error(scrubText(err.message));
  copy.name = err.name;
  const frames = err.stack?.split('\n').filter((line) => /^\s+at /.test(line));
  copy.stack = [`${copy.name}: ${copy.message}`, ...(frames ?? [])].join('\n');
  const source = err as unknown as Record<string, unknown>;
  const target = copy as unknown as Record<string, unknown>;
  for (const key of SAFE_FIELDS) {
    const v = source[key];
    if (typeof v === 'string' || typeof v === 'number') target[key] = v;
  }
  if (err.cause !== undefined && depth < 4) copy.cause = safeCause(err.cause, depth + 1);
  return copy;
}

/** Maps an undici / fetch / socket error to a TransportError with a clear message naming the host, not the URL. */
export function toTransportError(err: unknown, url: string, timedOut = false): TransportError {
  if (err instanceof TransportError) return err;
  const code = errorCode(err);
  const failure: TransportFailure = timedOut
    ? 'timeout'
    : code
      ? (CODE_TO_FAILURE[code] ?? 'other')
      : 'other';
  let host = 'the server';
  try {
    host = new URL(url).host;
  } catch {
    // keep the generic name
  }
  const why: Record<TransportFailure, string> = {
    'connect-refused': `connection refused by ${host}`,
    'connect-timeout': `timed out connecting to ${host}`,
    dns: `could not resolve ${host}`,
    reset: `connection to ${host} was reset`,
    timeout: `request to ${host} timed out`,
    aborted: `request to ${host} was aborted`,
    'bad-response': `${host} sent a malformed HTTP response`,
    other: `request to ${host} failed`,
  };
  const detail = err instanceof Error && failure === 'other' ? `: ${err.message}` : '';
  return new TransportError(failure, `${why[failure]}${detail}`, safeCause(err));
}
