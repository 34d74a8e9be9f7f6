import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';

/**
 * Media download URLs a tenant can use. Meta answers `GET /{media-id}` with a lookaside URL that needs the Meta token
 * (which a tenant never holds), so the proxy rewrites that `url` to one on the broker: `/media/{media-id}?tenant=…
 * &exp=…&src=…&sig=…`, an HMAC over the tenant, the media id, the expiry and Meta's URL. The broker serves it by
 * streaming the bytes from Meta's URL with the tenant's token (src/broker/media-download.ts). Short-lived like Meta's
 * own URL (5 minutes), bound to one tenant (its API key is required too) and one media id; the key is derived from
 * the master key, so every instance accepts what any instance signed.
 */
export interface MediaUrls {
  /** The broker URL for `mediaId` of `tenantId`, fetching `source` (Meta's URL) when used. */
  sign(publicUrl: string, tenantId: string, mediaId: string, source: string): string;
  /** The tenant and Meta URL a request's query binds, or why it is refused. */
  verify(mediaId: string, query: URLSearchParams): { tenantId: string; source: string } | { refused: string };
}

/** Meta's media URLs are valid for 5 minutes (Cloud API Media reference, "Retrieve media URL"); ours no longer. */
export const MEDIA_URL_TTL_MS = 5 * 60 * 1000;

export function createMediaUrls(options: { key: Buffer; clock: Clock; ttlMs?: number }): MediaUrls {
  const ttlMs = options.ttlMs ?? MEDIA_URL_TTL_MS;
  const mac = (tenantId: string, mediaId: string, exp: string, src: string) =>
    createHmac('sha256', options.key)
      .update(`wacloud-media-url\n${tenantId}\n${mediaId}\n${exp}\n${src}`)
      .digest();
  return {
    sign(publicUrl, tenantId, mediaId, source) {
      const exp = String(Math.floor((options.clock.now() + ttlMs) / 1000));
      const src = Buffer.from(source, 'utf8').toString('base64url');
      const sig = mac(tenantId, mediaId, exp, src).toString('base64url');
      const q = new URLSearchParams({ tenant: tenantId, exp, src, sig });
      return `${publicUrl.replace(/\/+$/, '')}/media/${mediaId}?${q.toString()}`;
    },
    verify(mediaId, query) {
      const tenantId = query.get('tenant');
      const exp = query.get('exp');
      const src = query.get('src');
      const sig = query.get('sig');
      if (!tenantId || !exp || !src || !sig || !/^\d{1,12}$/.test(exp)) {
        return { refused: 'not a media URL this broker signed (tenant, exp, src and sig are required)' };
      }
      const expected = mac(tenantId, mediaId, exp, src);
      const given = Buffer.from(sig, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return { refused: 'the media URL signature does not match' };
      }
      if (options.clock.now() > Number(exp) * 1000) {
        return { refused: 'the media URL has expired; ask GET /{media-id} for a new one' };
      }
      return { tenantId, source: Buffer.from(src, 'base64url').toString('utf8') };
    },
  };
}

/**
 * A Graph media answer (`{url, mime_type, sha256, file_size, id, messaging_product}`) with its `url` replaced by a
 * signed broker URL; undefined when the body is not such an answer (left as Graph sent it).
 */
export function rewriteMediaAnswer(
  json: Buffer,
  urls: MediaUrls,
  publicUrl: string,
  tenantId: string,
  mediaId: string,
): Buffer | undefined {
  // Most GETs are not media answers: no parse unless the body names a url.
  if (!json.includes('"url"')) return undefined;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof parsed.url !== 'string' || typeof parsed.mime_type !== 'string') return undefined;
  if (parsed.id !== undefined && parsed.id !== mediaId) return undefined;
  parsed.url = urls.sign(publicUrl, tenantId, mediaId, parsed.url);
  return Buffer.from(JSON.stringify(parsed), 'utf8');
}
