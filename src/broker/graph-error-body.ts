import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

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

/** Answers `res` with a Graph-shaped error (the proxy's and the media route's refusals). */
export function sendGraphError(res: ServerResponse, status: number, code: number, message: string): void {
  const body = graphErrorBody(code, message);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
