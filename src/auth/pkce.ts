import { createHash, randomBytes } from 'node:crypto';
import { Secret } from '../core/secret.js';

/** A PKCE pair (RFC 7636): the verifier stays on the server, the S256 challenge goes in the dialog URL. */
export interface PkcePair {
  /** 43 characters of base64url (32 random bytes): inside RFC 7636's 43–128 characters of `[A-Za-z0-9-._~]`. */
  codeVerifier: Secret;
  codeChallenge: string;
  codeChallengeMethod: 'S256';
}

/** `BASE64URL(SHA256(verifier))`, no padding (graph-api-facts.md §1.4). */
export function pkceChallenge(codeVerifier: Secret | string): string {
  const value = codeVerifier instanceof Secret ? codeVerifier.reveal() : codeVerifier;
  return createHash('sha256').update(value).digest('base64url');
}

/**
 * A fresh PKCE pair from the system CSPRNG.
 *
 * @example
 * const { codeVerifier, codeChallenge } = createPkcePair();
 * @see https://developers.facebook.com/documentation/facebook-login/guides/advanced/oidc-token
 */
export function createPkcePair(random: (size: number) => Uint8Array = randomBytes): PkcePair {
  const codeVerifier = new Secret(Buffer.from(random(32)).toString('base64url'), 'pkce-verifier');
  return { codeVerifier, codeChallenge: pkceChallenge(codeVerifier), codeChallengeMethod: 'S256' };
}

/** An unguessable `state` value: 32 random bytes, base64url (256 bits). */
export function createOAuthState(random: (size: number) => Uint8Array = randomBytes): string {
  return Buffer.from(random(32)).toString('base64url');
}

/** SHA-256 of a state value, hex: what stores keep, so a leaked table cannot be replayed. */
export function hashOAuthState(state: string, binding?: string): string {
  // A bound state is stored under the hash of state and binding: the same state with another binding finds nothing.
  const hash = createHash('sha256').update(state);
  if (binding !== undefined) hash.update('\u0000').update(binding);
  return hash.digest('hex');
}
