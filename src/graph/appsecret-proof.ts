import { createHmac } from 'node:crypto';
import { reveal, type Secret } from '../core/secret.js';

/**
 * `appsecret_proof`: HMAC-SHA256 of the access token keyed by the app secret, hex (graph-api-facts.md §5).
 * With `timeSec`, the time-stamped form Meta documents today: HMAC(token + "|" + time), sent with `appsecret_time`;
 * Meta treats it as expired after 5 minutes.
 *
 * @see https://developers.facebook.com/docs/facebook-login/security/#appsecret
 */
export function appSecretProof(
  accessToken: Secret | string,
  appSecret: Secret | string,
  timeSec?: number,
): string {
  const message = timeSec === undefined ? reveal(accessToken) : `${reveal(accessToken)}|${timeSec}`;
  return createHmac('sha256', reveal(appSecret)).update(message).digest('hex');
}

export type AppSecretProofMode = 'off' | 'classic' | 'timestamped';

/** The query parameters to add for a proof mode, or none. */
export function appSecretProofParams(
  mode: AppSecretProofMode,
  accessToken: Secret,
  appSecret: Secret | undefined,
  nowMs: number,
): Record<string, string> | undefined {
  if (mode === 'off' || !appSecret) return undefined;
  if (mode === 'classic') return { appsecret_proof: appSecretProof(accessToken, appSecret) };
  const timeSec = Math.floor(nowMs / 1000);
  return {
    appsecret_proof: appSecretProof(accessToken, appSecret, timeSec),
    appsecret_time: String(timeSec),
  };
}
