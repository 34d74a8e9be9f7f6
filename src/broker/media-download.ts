import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import type { Secret } from '../core/secret.js';
import { appSecretProofParams } from '../graph/appsecret-proof.js';
import { sendGraphError } from './graph-error-body.js';
import type { ProxyPrincipal, ProxyToken } from './graph-proxy.js';
import { createMediaUrls, type MediaUrls, rewriteMediaAnswer } from './media-urls.js';

export interface MediaDownloadOptions {
  urls: MediaUrls;
  dispatcher: Dispatcher;
  clock: Clock;
  appSecret?: Secret | undefined;
  /** The Graph upstream (Meta's, or the sandbox emulator's): plain http is accepted only from its origin. */
  upstreamUrl: string;
  authenticate(
    apiKey: string,
    req: IncomingMessage,
  ): ProxyPrincipal | undefined | Promise<ProxyPrincipal | undefined>;
  ownerOf(objectId: string): Promise<string | undefined>;
  tokenFor(tenantId: string, objectId: string): ProxyToken | undefined | Promise<ProxyToken | undefined>;
  timeoutMs?: number;
}

/** Headers of Meta's media answer passed back: what a client needs to store the file, nothing about Meta. */
const MEDIA_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-disposition',
  'etag',
  'last-modified',
];

const deny = sendGraphError;

/**
 * `GET /media/{media-id}?tenant=…&exp=…&src=…&sig=…` (a URL the proxy put in a media answer): checks the signature and
 * expiry, that the caller's API key is the bound tenant's and that the tenant owns the media id, then streams the
 * bytes from Meta's URL fetched with the tenant's token (never buffered whole; backpressure both ways).
 */
export function createMediaDownload(options: MediaDownloadOptions) {
  const upstreamOrigin = new URL(options.upstreamUrl).origin;
  const timeoutMs = options.timeoutMs ?? 60_000;

  return async function handleMediaDownload(
    req: IncomingMessage,
    res: ServerResponse,
    subpath: string,
  ): Promise<void> {
    try {
      const q = subpath.indexOf('?');
      const mediaId = (q < 0 ? subpath : subpath.slice(0, q)).replace(/^\/+|\/+$/g, '');
      const query = new URLSearchParams(q < 0 ? '' : subpath.slice(q + 1));
      if (req.method !== 'GET' && req.method !== 'HEAD') return deny(res, 405, 100, 'Only GET is supported');
      if (!/^\d{1,32}$/.test(mediaId)) return deny(res, 404, 100, 'Unknown media URL');
      const bound = options.urls.verify(mediaId, query);
      if ('refused' in bound) return deny(res, 403, 200, `(#200) ${bound.refused}`);
      const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
      if (!auth) return deny(res, 401, 104, 'A broker API key is required (Authorization: Bearer <key>)');
      const principal = await options.authenticate(auth, req);
      if (!principal) return deny(res, 401, 190, 'Invalid broker API key');
      // The URL is the bound tenant's; another tenant's key (even holding the URL) gets nothing.
      if (principal.tenantId !== bound.tenantId || (await options.ownerOf(mediaId)) !== bound.tenantId) {
        return deny(res, 403, 200, `(#200) This API key may not access media ${mediaId}`);
      }
      let source: URL;
      try {
        source = new URL(bound.source);
      } catch {
        return deny(res, 502, 2, 'The media URL Graph gave is not a URL');
      }
      if (source.protocol !== 'https:' && source.origin !== upstreamOrigin) {
        return deny(res, 502, 2, 'The media URL Graph gave is not https');
      }
      const token = await options.tokenFor(bound.tenantId, mediaId);
      if (!token) {
        return deny(
          res,
          503,
          2,
          'The tenant has no working WhatsApp token; reconnect it in the broker dashboard',
        );
      }
      const proof = appSecretProofParams('classic', token.token, options.appSecret, options.clock.now());
      if (proof) for (const [k, v] of Object.entries(proof)) source.searchParams.set(k, v);
      const up = await options.dispatcher.request({
        origin: source.origin,
        path: `${source.pathname}${source.search}`,
        method: 'GET',
        headers: { authorization: `Bearer ${token.token.reveal()}`, 'user-agent': 'wacloud-broker' },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const head: Record<string, string> = { 'cache-control': 'private, no-store' };
      for (const h of MEDIA_RESPONSE_HEADERS) {
        const v = up.headers[h];
        if (typeof v === 'string') head[h] = v;
      }
      res.writeHead(up.statusCode, head);
      if (req.method === 'HEAD') {
        await up.body.dump();
        res.end();
        return;
      }
      await pipeline(up.body, res);
    } catch (err) {
      if (!res.headersSent) {
        const code = (err as { code?: string }).code;
        deny(res, 502, 2, `Media unreachable from the broker${code ? ` (${code})` : ''}`);
      } else {
        res.destroy();
      }
    }
  };
}

/**
 * The broker's media URLs, wired: signed with a key every instance derives from the master key (through the session
 * key), served over a pool of its own. `rewrite` is the proxy's hook for media answers.
 */
export function createBrokerMedia(
  options: Omit<MediaDownloadOptions, 'urls' | 'dispatcher'> & { sessionKey: Secret },
) {
  const urls = createMediaUrls({
    key: createHmac('sha256', options.sessionKey.reveal()).update('wacloud:media-url').digest(),
    clock: options.clock,
  });
  const agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  return {
    handle: createMediaDownload({ ...options, urls, dispatcher: agent }),
    rewrite: (json: Buffer, publicUrl: string, tenantId: string, mediaId: string) =>
      rewriteMediaAnswer(json, urls, publicUrl, tenantId, mediaId),
    close: () => agent.close(),
  };
}
