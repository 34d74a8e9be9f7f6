import { DEFAULT_API_VERSION, DEFAULT_DIALOG_URL, parseBaseUrl } from '../core/config.js';
import { OAuthError } from './oauth-errors.js';

/** Options for {@link buildLoginDialogUrl}. */
export interface LoginDialogOptions {
  /** The Meta app id (`client_id`). */
  appId: string;
  /**
   * Exactly as listed in the app's "Valid OAuth redirect URIs" (Strict Mode compares the whole URI). The same value
   * must be sent with the code exchange.
   */
  redirectUri: string;
  /** An unguessable value tying the callback to this login (see `createOAuthState`). */
  state: string;
  /** Permissions, e.g. `whatsapp_business_management`. Optional with `configId` (Meta recommends leaving it out). */
  scopes?: readonly string[] | undefined;
  /** Facebook Login for Business configuration id. */
  configId?: string | undefined;
  /** `auth_type=rerequest`: ask again for permissions the person declined before. */
  rerequest?: boolean | undefined;
  /** Default `code` (server-side flow). */
  responseType?: 'code' | 'code granted_scopes' | undefined;
  /** PKCE S256 challenge (see `createPkcePair`). */
  codeChallenge?: string | undefined;
  /** Default `https://www.facebook.com` (WA_DIALOG_URL). */
  dialogUrl?: string | undefined;
  /** Default `v26.0` (CLOUD_API_VERSION). */
  apiVersion?: string | undefined;
  /** Login for Business configurations that issue system-user tokens need `override_default_response_type=true`. */
  overrideDefaultResponseType?: boolean | undefined;
  /** `display=popup` and the like. */
  display?: 'page' | 'popup' | undefined;
  /** Sent as JSON, like the JS SDK's `FB.login` option: `{ setup: {} }` asks for Embedded Signup (facts §7). */
  extras?: Record<string, unknown> | undefined;
}

const SCOPE = /^[a-z0-9_.]+$/i;

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Checks a redirect URI the way Meta will: absolute, https (http only on loopback), no fragment. */
export function checkRedirectUri(redirectUri: string): string {
  let url: URL;
  try {
    url = new URL(redirectUri);
  } catch {
    throw new OAuthError('invalid-request', 'redirectUri is not an absolute URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new OAuthError(
      'invalid-request',
      `redirectUri must use https (plain http only on a loopback host), got ${url.protocol}//${url.hostname}`,
    );
  }
  if (url.hash) throw new OAuthError('invalid-request', 'redirectUri must not contain a fragment (#...)');
  return redirectUri;
}

/**
 * The Facebook Login dialog URL (server-side code flow).
 *
 * @example
 * const url = buildLoginDialogUrl({
 *   appId: '1234567890', redirectUri: 'https://example.com/callback', state: createOAuthState(),
 *   scopes: ['whatsapp_business_management', 'whatsapp_business_messaging'],
 * });
 * @see https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
 */
export function buildLoginDialogUrl(options: LoginDialogOptions): string {
  if (!/^\d{1,32}$/.test(options.appId))
    throw new OAuthError('invalid-request', 'appId must be a numeric Meta app id');
  checkRedirectUri(options.redirectUri);
  if (!options.state || options.state.length < 16) {
    throw new OAuthError(
      'invalid-request',
      'state must be an unguessable value of at least 16 characters (use createOAuthState())',
    );
  }
  const scopes = options.scopes ?? [];
  for (const s of scopes) {
    if (!SCOPE.test(s)) throw new OAuthError('invalid-request', `"${s}" is not a permission name`);
  }
  if (scopes.length === 0 && !options.configId) {
    throw new OAuthError('invalid-request', 'give scopes, or a Login for Business configId');
  }
  if (options.configId !== undefined && !/^\d{1,32}$/.test(options.configId)) {
    throw new OAuthError('invalid-request', 'configId must be a numeric configuration id');
  }
  const version = options.apiVersion ?? DEFAULT_API_VERSION;
  if (!/^v\d{1,3}\.\d{1,2}$/.test(version)) {
    throw new OAuthError('invalid-request', `apiVersion "${version}" is not like ${DEFAULT_API_VERSION}`);
  }
  const base = parseBaseUrl('dialogUrl', options.dialogUrl ?? DEFAULT_DIALOG_URL);
  const params = new URLSearchParams();
  params.set('client_id', options.appId);
  params.set('redirect_uri', options.redirectUri);
  params.set('state', options.state);
  params.set('response_type', options.responseType ?? 'code');
  if (scopes.length > 0) params.set('scope', scopes.join(','));
  if (options.configId) params.set('config_id', options.configId);
  if (options.overrideDefaultResponseType) params.set('override_default_response_type', 'true');
  if (options.rerequest) params.set('auth_type', 'rerequest');
  if (options.display) params.set('display', options.display);
  if (options.extras) params.set('extras', JSON.stringify(options.extras));
  if (options.codeChallenge) {
    params.set('code_challenge', options.codeChallenge);
    params.set('code_challenge_method', 'S256');
  }
  return `${base}/${version}/dialog/oauth?${params.toString()}`;
}

/** The query of the redirect back from the dialog, as Meta sends it (graph-api-facts.md §1.2). */
export interface LoginCallbackParams {
  code: string | undefined;
  state: string | undefined;
  /** `access_denied` when the person declined. */
  error: string | undefined;
  /** `user_denied` and the like. */
  errorReason: string | undefined;
  errorDescription: string | undefined;
  errorCode: string | undefined;
  /** With `response_type=code granted_scopes`. */
  grantedScopes: string[] | undefined;
}

/**
 * Reads the callback's parameters from the full redirect URL, its query string, URLSearchParams or a plain object.
 * The `#_=_` fragment Meta appends is ignored.
 */
export function parseLoginCallback(
  input: string | URL | URLSearchParams | Record<string, string | undefined>,
): LoginCallbackParams {
  let params: URLSearchParams;
  if (input instanceof URLSearchParams) params = input;
  else if (input instanceof URL) params = input.searchParams;
  else if (typeof input === 'string') {
    const noFragment = input.split('#')[0] ?? '';
    const q = noFragment.includes('?') ? noFragment.slice(noFragment.indexOf('?') + 1) : noFragment;
    params = new URLSearchParams(q);
  } else {
    params = new URLSearchParams();
    for (const [k, v] of Object.entries(input)) if (typeof v === 'string') params.set(k, v);
  }
  const get = (name: string): string | undefined => {
    const v = params.get(name);
    return v === null || v === '' ? undefined : v;
  };
  const granted = get('granted_scopes');
  return {
    code: get('code'),
    state: get('state'),
    error: get('error'),
    errorReason: get('error_reason'),
    errorDescription: get('error_description'),
    errorCode: get('error_code'),
    grantedScopes: granted ? granted.split(/[\s,]+/).filter(Boolean) : undefined,
  };
}
