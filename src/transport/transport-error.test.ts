import { describe, expect, it } from 'vitest';
import { WacloudError } from '../core/errors.js';
import { TransportError, toTransportError } from './transport-error.js';

const URL_ = 'https://graph.facebook.com/v26.0/123/messages?access_token=EAAshouldNeverBePrinted0123456789';

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });
const named = (name: string, message = name) => Object.assign(new Error(message), { name });

describe('toTransportError', () => {
  it.each([
    [coded('ECONNREFUSED'), 'connect-refused', false],
    [coded('ENOTFOUND'), 'dns', false],
    [coded('EAI_AGAIN'), 'dns', false],
    [coded('UND_ERR_CONNECT_TIMEOUT'), 'connect-timeout', false],
    [coded('ECONNRESET'), 'reset', true],
    [coded('EPIPE'), 'reset', true],
    [coded('UND_ERR_SOCKET'), 'reset', true],
    [coded('UND_ERR_HEADERS_TIMEOUT'), 'timeout', true],
    [coded('UND_ERR_BODY_TIMEOUT'), 'timeout', true],
    [named('TimeoutError'), 'timeout', true],
    [named('AbortError'), 'aborted', true],
    [named('HTTPParserError', 'Response does not match the HTTP/1.1 protocol'), 'bad-response', true],
    [new Error('weird'), 'other', true],
  ] as const)('%s → %s', (err, failure, reached) => {
    const t = toTransportError(err, URL_);
    expect(t).toBeInstanceOf(TransportError);
    expect(t).toBeInstanceOf(WacloudError);
    expect(t.code).toBe('TRANSPORT');
    expect(t.failure).toBe(failure);
    expect(t.mayHaveReachedServer).toBe(reached);
    expect(t.cause).toBe(err);
    // Names the host, never the URL (which may carry a token in its query).
    expect(t.message).toContain('graph.facebook.com');
    expect(t.message).not.toContain('access_token');
    expect(t.message).not.toContain('EAAshould');
  });

  it('finds the code in a fetch-style cause chain', () => {
    const fetchErr = new TypeError('fetch failed', { cause: coded('ECONNREFUSED') });
    expect(toTransportError(fetchErr, URL_).failure).toBe('connect-refused');
    const deep = new TypeError('fetch failed', {
      cause: new Error('x', { cause: named('HTTPParserError') }),
    });
    expect(toTransportError(deep, URL_).failure).toBe('bad-response');
  });

  it('reports a timeout when the caller knows the deadline fired, whatever the error says', () => {
    expect(toTransportError(named('AbortError'), URL_, true).failure).toBe('timeout');
  });

  it('passes a TransportError through and survives a bad URL', () => {
    const t = new TransportError('reset', 'x');
    expect(toTransportError(t, URL_)).toBe(t);
    expect(toTransportError(coded('ECONNRESET'), 'not a url').message).toContain('the server');
  });

  it('scrubs a token that an underlying error message carried', () => {
    const t = toTransportError(new Error('failed GET /?access_token=EAAsecretsecretsecretsecret123'), URL_);
    expect(t.message).not.toContain('EAAsecret');
  });
});
