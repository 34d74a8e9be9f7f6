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
    // The cause is a sanitised copy: same name, message and code.
    expect(t.cause).toBeInstanceOf(Error);
    expect((t.cause as Error).name).toBe(err.name);
    expect((t.cause as Error).message).toBe(err.message);
    expect((t.cause as { code?: unknown }).code).toBe((err as { code?: unknown }).code);
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

  it("keeps no peer data in the cause: a parser error's echoed request is dropped", () => {
    const parser = Object.assign(new Error('Response does not match the HTTP/1.1 protocol'), {
      name: 'HTTPParserError',
      data: 'XX POST /v26.0/1/messages?appsecret_proof=abc HTTP/1.1\r\nauthorization: Bearer EAAechoedTokenXXXXXXXXXXXXXXX',
    });
    const fetchErr = new TypeError('fetch failed', { cause: parser });
    const t = toTransportError(fetchErr, URL_);
    expect(t.failure).toBe('bad-response');
    const inner = (t.cause as Error).cause as Error & { data?: unknown };
    expect(inner.name).toBe('HTTPParserError');
    expect(inner.data).toBeUndefined();
    expect(JSON.stringify(t) + String(t.stack)).not.toContain('EAAechoed');
    const sys = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
      code: 'ECONNREFUSED',
      errno: -111,
      syscall: 'connect',
      address: '127.0.0.1',
      port: 9,
    });
    expect(toTransportError(sys, URL_).cause).toMatchObject({
      code: 'ECONNREFUSED',
      errno: -111,
      syscall: 'connect',
      address: '127.0.0.1',
      port: 9,
    });
  });

  it('scrubs a token that an underlying error message carried', () => {
    const t = toTransportError(new Error('failed GET /?access_token=EAAsecretsecretsecretsecret123'), URL_);
    expect(t.message).not.toContain('EAAsecret');
  });
});
