import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedUrl } from '../../test/support/shared.js';
import { WacloudError } from './errors.js';
import {
  classifyGraphError,
  createGraphError,
  GraphError,
  type GraphErrorKind,
  GraphInvalidParameterError,
  GraphInvalidSessionError,
  GraphNotFoundError,
  GraphPermissionError,
  GraphPolicyError,
  GraphThrottledError,
  GraphTokenExpiredError,
  GraphTransientError,
  GraphUnknownError,
  graphErrorFromResponse,
} from './graph-error.js';

const ERRORS_DIR = sharedUrl('fixtures/errors/');

interface IndexEntry {
  file: string;
  http_status: number | null;
}
const INDEX = JSON.parse(readFileSync(new URL('INDEX.json', ERRORS_DIR), 'utf8')) as IndexEntry[];

type Expectation = {
  kind: GraphErrorKind;
  cls: new (...args: never[]) => GraphError;
  fbtraceId?: string;
  isTransient: boolean;
  details?: string;
  userTitle?: string;
};

const SPEC_TRACE = 'AXsgnV2Cm3ZMGF3dF_cfYIn';

/**
 * Expected handling of every fixture, decided from the Graph `code`/`error_subcode` (graph-api-facts.md §8.2/§8.3),
 * never from the HTTP status in the file name (the spec's statuses are partly machine-generated, §8.3).
 */
const EXPECTED: Record<string, Expectation> = {
  // code 100 is "invalid parameter"; 2207051 is a WhatsApp subcode of it (number not registered).
  'openapi-400-100-2207051-phone-not-registered.json': {
    kind: 'invalid-parameter',
    cls: GraphInvalidParameterError,
    fbtraceId: SPEC_TRACE,
    isTransient: false,
  },
  'openapi-400-100-invalid-parameter.json': {
    kind: 'invalid-parameter',
    cls: GraphInvalidParameterError,
    fbtraceId: SPEC_TRACE,
    isTransient: false,
  },
  'openapi-400-100-invalid-template-parameters.json': {
    kind: 'invalid-parameter',
    cls: GraphInvalidParameterError,
    isTransient: false,
  },
  'openapi-400-100-malformed-request.json': {
    kind: 'invalid-parameter',
    cls: GraphInvalidParameterError,
    isTransient: false,
  },
  // 104: no token was sent; like the 190 family it is fixed by (re)obtaining a token, so it is a session error.
  'openapi-401-104-missing-access-token.json': {
    kind: 'invalid-session',
    cls: GraphInvalidSessionError,
    isTransient: false,
  },
  // 190/460: password changed, session invalidated: not renewable by waiting, so invalid rather than expired.
  'openapi-401-190-460-invalid-oauth-token.json': {
    kind: 'invalid-session',
    cls: GraphInvalidSessionError,
    isTransient: false,
  },
  // 190/463 is the one "expired" subcode.
  'openapi-401-190-463-invalid-oauth-token.json': {
    kind: 'expired',
    cls: GraphTokenExpiredError,
    fbtraceId: SPEC_TRACE,
    isTransient: false,
  },
  // 190 without a subcode: invalid / malformed token.
  'openapi-401-190-invalid-oauth-token-minimal.json': {
    kind: 'invalid-session',
    cls: GraphInvalidSessionError,
    isTransient: false,
  },
  'openapi-403-10-not-supported.json': { kind: 'permission', cls: GraphPermissionError, isTransient: false },
  'openapi-403-200-1349174-permission-denied-user-msg.json': {
    kind: 'permission',
    cls: GraphPermissionError,
    fbtraceId: SPEC_TRACE,
    isTransient: false,
    userTitle: 'Permission Denied',
  },
  'openapi-403-200-1349176-missing-whatsapp-permissions.json': {
    kind: 'permission',
    cls: GraphPermissionError,
    fbtraceId: SPEC_TRACE,
    isTransient: false,
  },
  // The spec files this under 404 "Template not found", but its Graph code is 132000, which Meta's WhatsApp
  // error-code table defines as "Number of parameters does not match the expected number of params" (a template
  // parameter mismatch, §8.3: 132000-132015). The classifier follows the code, not the status or the message:
  // it is an invalid-parameter error, not a not-found one.
  'openapi-404-132000-template-not-found.json': {
    kind: 'invalid-parameter',
    cls: GraphInvalidParameterError,
    isTransient: false,
  },
  // 803: "Some of the aliases you requested do not exist" (GraphMethodException), i.e. unknown id.
  'openapi-404-803-not-found.json': {
    kind: 'not-found',
    cls: GraphNotFoundError,
    fbtraceId: SPEC_TRACE,
    isTransient: false,
  },
  // 613: "Calls to this API have exceeded the rate limit".
  'openapi-422-613-too-many-code-requests.json': {
    kind: 'throttled',
    cls: GraphThrottledError,
    fbtraceId: SPEC_TRACE,
    isTransient: false,
  },
  'openapi-429-17-2446079-user-request-limit.json': {
    kind: 'throttled',
    cls: GraphThrottledError,
    fbtraceId: SPEC_TRACE,
    isTransient: true,
  },
  'openapi-429-4-2446079-app-request-limit-transient.json': {
    kind: 'throttled',
    cls: GraphThrottledError,
    fbtraceId: SPEC_TRACE,
    isTransient: true,
  },
  'openapi-429-4-rate-limit-minimal.json': {
    kind: 'throttled',
    cls: GraphThrottledError,
    isTransient: false,
  },
  'openapi-429-80007-2446079-business-request-limit.json': {
    kind: 'throttled',
    cls: GraphThrottledError,
    fbtraceId: SPEC_TRACE,
    isTransient: true,
  },
  // 1: API Unknown ("temporary", retry); 2: API Service (downtime, retry).
  'openapi-500-1-unexpected-minimal.json': {
    kind: 'transient',
    cls: GraphTransientError,
    isTransient: false,
  },
  'openapi-500-2-unexpected-transient.json': {
    kind: 'transient',
    cls: GraphTransientError,
    fbtraceId: SPEC_TRACE,
    isTransient: true,
  },
  // 131047: re-engagement window closed: a policy outcome, retrying the same send cannot help.
  'pywa-131047-reengagement.json': {
    kind: 'policy',
    cls: GraphPolicyError,
    isTransient: false,
    details:
      'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
  },
  // 131053: media upload error, a problem with the media the request named.
  'pywa-131053-media-upload-error.json': {
    kind: 'invalid-parameter',
    cls: GraphInvalidParameterError,
    isTransient: false,
    details: 'Downloading media from weblink failed with http code 429, status message Too Many Requests',
  },
  'pywa-190-463-expired-session.json': {
    kind: 'expired',
    cls: GraphTokenExpiredError,
    fbtraceId: 'ACEyrTehk6IAd0lm05Ixogh',
    isTransient: false,
  },
  'secreto-190-cannot-parse-token.json': {
    kind: 'invalid-session',
    cls: GraphInvalidSessionError,
    fbtraceId: 'Azr7Sq738VC5zzOnPvZzPwj',
    isTransient: false,
  },
};

const files = readdirSync(ERRORS_DIR).filter((f) => f.endsWith('.json') && f !== 'INDEX.json');

describe('Graph error fixtures', () => {
  it('covers every fixture file (a new fixture needs an expectation here)', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...files].sort());
    expect(INDEX.map((e) => e.file).sort()).toEqual([...files].sort());
  });

  it.each(files)('%s', (file) => {
    const expected = EXPECTED[file]!;
    const text = readFileSync(new URL(file, ERRORS_DIR), 'utf8');
    const raw = (JSON.parse(text) as { error: Record<string, unknown> }).error;
    const status = INDEX.find((e) => e.file === file)?.http_status ?? 400;
    const err = graphErrorFromResponse(status, text, { path: '106540352242922/messages' });

    expect(err).toBeInstanceOf(expected.cls);
    expect(err).toBeInstanceOf(GraphError);
    expect(err).toBeInstanceOf(WacloudError);
    expect(err.kind).toBe(expected.kind);
    expect(err.name).toBe(expected.cls.name);
    expect(err.code).toBe('GRAPH');
    expect(err.httpStatus).toBe(status);
    expect(err.graphCode).toBe(raw.code);
    expect(err.graphSubcode).toBe(raw.error_subcode);
    expect(err.graphType).toBe(raw.type);
    expect(err.fbtraceId).toBe(expected.fbtraceId);
    expect(err.isTransient).toBe(expected.isTransient);
    expect(err.details).toBe(expected.details);
    expect(err.userTitle).toBe(expected.userTitle);
    expect(err.path).toBe('106540352242922/messages');
    // The message names the code and keeps Meta's text, so a log line is enough to act on.
    expect(err.message).toContain(`code ${raw.code}`);
    expect(err.message).toContain(String(raw.message));
    expect(err.retryable).toBe(expected.kind === 'throttled' || expected.kind === 'transient');
    expect(err.isTokenError).toBe(expected.kind === 'expired' || expected.kind === 'invalid-session');

    // The HTTP status is unreliable: the same body classifies the same under any status.
    for (const s of [200, 400, 401, 403, 404, 429, 500, 503]) {
      expect(classifyGraphError(raw, s), `status ${s}`).toBe(expected.kind);
    }
  });
});

describe('graphErrorFromResponse with bodies that are not Graph errors', () => {
  it('an empty 502 is a transient error with a clear message', () => {
    const err = graphErrorFromResponse(502, '');
    expect(err).toBeInstanceOf(GraphTransientError);
    expect(err.message).toContain('HTTP 502 with an empty body');
    expect(err.graphCode).toBeUndefined();
    expect(err.fbtraceId).toBeUndefined();
  });

  it('an HTML page from a proxy is typed and says so', () => {
    const html = '<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>';
    const err = graphErrorFromResponse(502, html);
    expect(err).toBeInstanceOf(GraphTransientError);
    expect(err.message).toContain('an HTML page');
    const notFound = graphErrorFromResponse(404, '<html>Not Found</html>');
    expect(notFound).toBeInstanceOf(GraphUnknownError);
    expect(notFound.message).toContain('HTTP 404 with an HTML page');
  });

  it('plain text and truncated JSON are typed non-JSON errors', () => {
    const text = graphErrorFromResponse(400, 'Bad Request');
    expect(text).toBeInstanceOf(GraphUnknownError);
    expect(text.message).toContain('a non-JSON body');
    const truncated = graphErrorFromResponse(400, '{"error":{"message":"cut');
    expect(truncated).toBeInstanceOf(GraphUnknownError);
    expect(truncated.message).toContain('HTTP 400');
  });

  it('a status-only 429 is throttled and keeps Retry-After', () => {
    const err = graphErrorFromResponse(429, 'Too Many Requests', { retryAfterSec: 30 });
    expect(err).toBeInstanceOf(GraphThrottledError);
    expect(err.retryAfterSec).toBe(30);
  });

  it('JSON without an error object says what it got', () => {
    const err = graphErrorFromResponse(400, '{"success":false}');
    expect(err).toBeInstanceOf(GraphUnknownError);
    expect(err.message).toContain('HTTP 400');
    expect(err.message).not.toContain('non-JSON');
  });

  it('a string error (OAuth-style) becomes the message', () => {
    const err = graphErrorFromResponse(400, '{"error":"invalid_request"}');
    expect(err.message).toContain('invalid_request');
  });

  it('scrubs a token echoed in an error message', () => {
    const token = 'EAAGsecretTokenThatGraphEchoed0123456789';
    const err = graphErrorFromResponse(
      400,
      JSON.stringify({ error: { message: `Malformed access token ${token}`, code: 190 } }),
    );
    expect(err.message).not.toContain(token);
    expect(err).toBeInstanceOf(GraphInvalidSessionError);
  });
});

describe('classifyGraphError edge cases', () => {
  it.each([
    [{ code: 190, error_subcode: 458 }, 'invalid-session'],
    [{ code: 190, error_subcode: 467 }, 'invalid-session'],
    [{ code: 190, error_subcode: 493 }, 'invalid-session'],
    [{ code: 102 }, 'invalid-session'],
    [{ code: 130429 }, 'throttled'],
    [{ code: 131056 }, 'throttled'],
    [{ code: 131048 }, 'throttled'],
    [{ code: 341 }, 'throttled'],
    [{ code: 131000 }, 'transient'],
    [{ code: 3 }, 'permission'],
    [{ code: 299 }, 'permission'],
    [{ code: 131005 }, 'permission'],
    [{ code: 368 }, 'policy'],
    [{ code: 131026 }, 'policy'],
    [{ code: 131031 }, 'policy'],
    [{ code: 100, error_subcode: 33 }, 'not-found'],
    [{ code: 131008 }, 'invalid-parameter'],
    [{ code: 133010 }, 'invalid-parameter'],
    [{ code: 99999, is_transient: true }, 'transient'],
    [{ code: 99999 }, 'unknown'],
  ] as const)('%j → %s', (body, kind) => {
    expect(classifyGraphError(body, 400)).toBe(kind);
    expect(createGraphError({ httpStatus: 400, body }).kind).toBe(kind);
  });
});
