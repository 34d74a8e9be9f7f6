import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';

export interface MediaUrlResponse {
  messaging_product: 'whatsapp';
  url: string;
  mime_type: string;
  sha256: string;
  file_size: number | string;
  id: string;
}

/** Meta's upload size caps per media class (Cloud API reference, "Supported media types"). */
export const MEDIA_MAX_BYTES: Record<string, number> = {
  audio: 16 * 1024 * 1024,
  video: 16 * 1024 * 1024,
  image: 5 * 1024 * 1024,
  document: 100 * 1024 * 1024,
  sticker: 500 * 1024,
};

function mediaClass(mimeType: string): string {
  if (mimeType === 'image/webp') return 'sticker';
  const top = mimeType.split('/')[0] ?? '';
  return top === 'audio' || top === 'video' || top === 'image' ? top : 'document';
}

/** `wa.media`: upload, look up, download and delete media. */
export class MediaApi {
  readonly #graph: GraphClient;
  readonly #sender: () => string;

  constructor(graph: GraphClient, sender: () => string) {
    this.#graph = graph;
    this.#sender = sender;
  }

  /** Uploads bytes; returns the media id to send by id. */
  async upload(input: {
    data: Uint8Array;
    mimeType: string;
    filename?: string;
    phoneNumberId?: string;
  }): Promise<{ id: string }> {
    if (!/^[\w.+-]+\/[\w.+-]+$/.test(input.mimeType))
      throw new ValidationError('is not a MIME type', 'mimeType');
    if (input.data.byteLength === 0) throw new ValidationError('is empty', 'data');
    const kind = mediaClass(input.mimeType);
    const max = MEDIA_MAX_BYTES[kind] ?? MEDIA_MAX_BYTES.document!;
    if (input.data.byteLength > max && input.mimeType !== 'image/webp') {
      throw new ValidationError(`is ${input.data.byteLength} bytes; Meta's ${kind} limit is ${max}`, 'data');
    }
    const res = await this.#graph.request<{ id: string }>({
      method: 'POST',
      path: `${input.phoneNumberId ?? this.#sender()}/media`,
      multipart: [
        { name: 'messaging_product', value: 'whatsapp' },
        { name: 'type', value: input.mimeType },
        { name: 'file', filename: input.filename ?? 'upload', contentType: input.mimeType, data: input.data },
      ],
    });
    return res.data;
  }

  /** The short-lived download URL and metadata of a media id. */
  async getUrl(mediaId: string): Promise<MediaUrlResponse> {
    return this.#graph.get<MediaUrlResponse>(encodeURIComponent(mediaId));
  }

  /** Downloads media bytes by id (looks the URL up first) or by a URL from `getUrl`. The token is sent as Meta requires. */
  async download(idOrUrl: string): Promise<{ data: Uint8Array; mimeType: string | undefined }> {
    let url = idOrUrl;
    let mimeType: string | undefined;
    if (!/^https?:\/\//.test(idOrUrl)) {
      const meta = await this.getUrl(idOrUrl);
      url = meta.url;
      mimeType = meta.mime_type;
    }
    const res = await this.#graph.request<Uint8Array>({
      method: 'GET',
      path: '',
      absoluteUrl: url,
      responseType: 'bytes',
    });
    return { data: res.data, mimeType: mimeType ?? res.headers['content-type'] };
  }

  async delete(mediaId: string): Promise<{ success: boolean }> {
    return this.#graph.delete<{ success: boolean }>(encodeURIComponent(mediaId));
  }
}
