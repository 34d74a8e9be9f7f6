import { randomBytes } from 'node:crypto';

/** A Graph-shaped error body, so SDKs talking to the broker parse our refusals like Meta's own. */
export function graphErrorBody(
  code: number,
  message: string,
  type = 'OAuthException',
  subcode?: number,
): string {
  return JSON.stringify({
    error: {
      message,
      type,
      code,
      ...(subcode === undefined ? {} : { error_subcode: subcode }),
      fbtrace_id: `wacloud-${randomBytes(8).toString('base64url')}`,
    },
  });
}
