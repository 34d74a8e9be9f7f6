import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedUrl } from '../../test/support/shared.js';
import { createGraphError, graphErrorFromResponse } from '../core/graph-error.js';
import { TransportError } from '../transport/transport-error.js';
import {
  AppCredentialsError,
  AuthorizationCodeError,
  type OAuthError,
  OAuthUnavailableError,
  TokenExchangeError,
  toOAuthError,
} from './oauth-errors.js';
import {
  allTargetIds,
  credentialKindOf,
  describeTokenSubcode,
  parseDebugToken,
  targetIdsFor,
} from './token-inspection.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(sharedUrl(`fixtures/responses/${name}`), 'utf8')) as unknown;

describe('parseDebugToken with real responses', () => {
  it('reads the Embedded Signup sample: user token, times, scopes, granular target ids', () => {
    const t = parseDebugToken(fixture('metadocs-debug-token-embedded-signup-granular-scopes.json'));
    expect(t).toMatchObject({
      kind: 'user',
      type: 'USER',
      isValid: true,
      appId: '670843887433847',
      application: 'JaspersMarket',
      userId: '10222270944537964',
      expiresAtMs: 1665090000_000,
      dataAccessExpiresAtMs: 1672092840_000,
      issuedAtMs: null,
      error: undefined,
    });
    expect(t.scopes).toEqual([
      'whatsapp_business_management',
      'whatsapp_business_messaging',
      'public_profile',
    ]);
    expect(targetIdsFor(t, 'whatsapp_business_management')).toEqual(['102289599326934', '101569239400667']);
    expect(targetIdsFor(t, 'public_profile')).toBeUndefined();
    expect(allTargetIds(t)).toEqual(['102289599326934', '101569239400667']);
  });

  it('reads the invalid-token sample: nested error with `subcode`, metadata, profile id', () => {
    const t = parseDebugToken(fixture('phpgraphsdk-debug-token-invalid-190-463.json'));
    expect(t.isValid).toBe(false);
    expect(t.kind).toBe('unknown');
    expect(t.error).toEqual({ message: 'Foo error message.', code: 190, subcode: 463 });
    expect(t.issuedAtMs).toBe(1422110200_000);
    expect(t.expiresAtMs).toBe(1422115200_000);
    expect(t.profileId).toBe('1000');
    expect(t.granularScopes).toEqual([]);
  });

  it("reads Meta's SYSTEM_USER sample: 0 means never, target ids omitted means unrestricted", () => {
    const t = parseDebugToken({
      data: {
        app_id: '634974688087057',
        type: 'SYSTEM_USER',
        application: 'Lucky Shrub',
        data_access_expires_at: 0,
        expires_at: 0,
        is_valid: true,
        issued_at: 1712099387,
        scopes: ['whatsapp_business_management', 'whatsapp_business_messaging'],
        granular_scopes: [
          { scope: 'whatsapp_business_management' },
          { scope: 'whatsapp_business_messaging' },
        ],
        user_id: '104169029247128',
      },
    });
    expect(t.kind).toBe('system-user');
    expect(t.expiresAtMs).toBeNull();
    expect(t.dataAccessExpiresAtMs).toBeNull();
    expect(t.granularScopes).toEqual([
      { scope: 'whatsapp_business_management', targetIds: null },
      { scope: 'whatsapp_business_messaging', targetIds: null },
    ]);
    expect(targetIdsFor(t, 'whatsapp_business_management')).toBeUndefined();
  });

  it('accepts numeric ids, a bare data object, and garbage-token answers', () => {
    const t = parseDebugToken({ app_id: 123, user_id: 456, type: 'PAGE', is_valid: true, profile_id: 789 });
    expect(t).toMatchObject({ appId: '123', userId: '456', kind: 'page', profileId: '789' });
    const garbage = parseDebugToken({
      data: { error: { message: 'The access token could not be decrypted' } },
    });
    expect(garbage.isValid).toBe(false);
    expect(garbage.error).toEqual({
      message: 'The access token could not be decrypted',
      code: undefined,
      subcode: undefined,
    });
    expect(parseDebugToken({ data: { type: 'APP', is_valid: true } }).kind).toBe('app');
    expect(parseDebugToken({ data: { type: 'SOMETHING_NEW', is_valid: true } }).kind).toBe('unknown');
  });

  it('refuses answers without a data object', () => {
    expect(() => parseDebugToken(null)).toThrow(/without a data object/);
    expect(() => parseDebugToken({ data: [] })).toThrow(/without a data object/);
  });
});

describe('credentialKindOf', () => {
  const now = Date.UTC(2026, 0, 1);
  const user = (expiresInMs: number | null, issued?: number) =>
    parseDebugToken({
      data: {
        type: 'USER',
        is_valid: true,
        expires_at: expiresInMs === null ? 0 : (now + expiresInMs) / 1000,
        issued_at: issued,
      },
    });
  it('tells short, temporary and long-lived user tokens apart by lifetime', () => {
    expect(credentialKindOf(user(3_600_000), now)).toBe('user-short');
    expect(credentialKindOf(user(2 * 3_600_000), now)).toBe('user-short');
    expect(credentialKindOf(user(24 * 3_600_000), now)).toBe('temporary');
    expect(credentialKindOf(user(59 * 86_400_000), now)).toBe('user-long');
    expect(credentialKindOf(user(null), now)).toBe('user-long');
    // A long-lived token near its end is still long-lived: issued_at says so.
    expect(credentialKindOf(user(3_600_000, (now - 59 * 86_400_000) / 1000), now)).toBe('user-long');
  });
  it('keeps a business-integration hint for system-user-typed tokens', () => {
    const su = parseDebugToken({ data: { type: 'SYSTEM_USER', is_valid: true } });
    expect(credentialKindOf(su, now)).toBe('system-user');
    expect(credentialKindOf(su, now, 'business-integration')).toBe('business-integration');
  });
});

describe('describeTokenSubcode', () => {
  it('names every design.md invalidating subcode', () => {
    for (const sub of [458, 459, 460, 463, 464, 467, 492, 493]) {
      expect(describeTokenSubcode(sub)).not.toBe(describeTokenSubcode(undefined));
    }
  });
});

describe('toOAuthError', () => {
  const graph = (status: number, error: Record<string, unknown>) =>
    graphErrorFromResponse(status, JSON.stringify({ error }), { path: 'oauth/access_token' });

  it.each([
    [
      { code: 100, error_subcode: 36009, message: 'This authorization code has been used.' },
      'code-used',
      /already used/,
    ],
    [
      { code: 100, error_subcode: 36007, message: 'This authorization code has expired.' },
      'code-expired',
      /expired/,
    ],
    [
      { code: 100, error_subcode: 36008, message: 'Error validating verification code.' },
      'redirect-mismatch',
      /redirect URI does not match/,
    ],
    // The 2018 capture without a subcode: matched on the message.
    [
      { code: 100, message: 'This authorization code has been used.', type: 'OAuthException' },
      'code-used',
      /already used/,
    ],
    [{ code: 100, message: '(#100) Invalid code_verifier' }, 'verifier-mismatch', /code_verifier/],
    [
      { code: 100, message: 'Invalid verification code format.' },
      'code-invalid',
      /rejected the authorization code/,
    ],
  ])('maps code-exchange error %j to %s', (error, reason, message) => {
    const e = toOAuthError(graph(400, error), 'code-exchange') as OAuthError;
    expect(e).toBeInstanceOf(AuthorizationCodeError);
    expect(e.reason).toBe(reason);
    expect(e.code).toBe('OAUTH');
    expect(e.message).toMatch(message);
    expect(e.graphCode).toBe(100);
    expect(e.cause).toBeDefined();
  });

  it('maps app credential, token and transport failures', () => {
    const secret = toOAuthError(
      graph(400, { code: 1, message: 'Error validating client secret.' }),
      'token-exchange',
    );
    expect(secret).toBeInstanceOf(AppCredentialsError);
    const badId = toOAuthError(graph(400, { code: 101, message: 'Invalid Client ID' }), 'code-exchange');
    expect((badId as OAuthError).reason).toBe('app-credentials');
    const expired = toOAuthError(
      graph(400, { code: 190, error_subcode: 463, message: 'Session has expired' }),
      'token-exchange',
    ) as OAuthError;
    expect(expired).toBeInstanceOf(TokenExchangeError);
    expect(expired.reason).toBe('token-expired');
    expect(expired.message).toMatch(/cannot be exchanged/);
    const revoked = toOAuthError(
      graph(400, { code: 190, error_subcode: 467, message: 'x' }),
      'refresh',
    ) as OAuthError;
    expect(revoked.reason).toBe('token-invalid');
    const wrongApp = toOAuthError(
      graph(400, { code: 100, message: '(#100) fb_exchange_token was issued to app 1, not to client_id 2.' }),
      'token-exchange',
    ) as OAuthError;
    expect(wrongApp.reason).toBe('wrong-app');
    const down = toOAuthError(
      graph(503, { code: 2, message: 'Service temporarily unavailable' }),
      'token-exchange',
    );
    expect(down).toBeInstanceOf(OAuthUnavailableError);
    const html = toOAuthError(graphErrorFromResponse(502, '<html>bad gateway</html>'), 'code-exchange');
    expect((html as OAuthError).reason).toBe('unavailable');
    const refused = toOAuthError(
      new TransportError('connect-refused', 'refused'),
      'code-exchange',
    ) as OAuthError;
    expect(refused.reason).toBe('unavailable');
    expect(refused.message).toMatch(/Try again/);
    const reset = toOAuthError(new TransportError('reset', 'reset'), 'code-exchange') as OAuthError;
    expect(reset.message).toMatch(/code may be spent/);
    const other = new Error('x');
    expect(toOAuthError(other, 'inspect')).toBe(other);
  });

  it('never carries a token, code or secret in its message', () => {
    const token = `EAAB${'x'.repeat(40)}`;
    const e = toOAuthError(
      createGraphError({
        httpStatus: 400,
        body: { code: 999, message: `weird error echoing access_token=${token} code=AQDsecretcode` },
      }),
      'token-exchange',
    ) as OAuthError;
    expect(e.message).not.toContain(token);
    expect(e.message).not.toContain('AQDsecretcode');
  });
});
