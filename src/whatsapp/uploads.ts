import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import { objectId } from './require-waba.js';

/** The types Meta's Resumable Upload API takes. */
export type UploadFileType = 'application/pdf' | 'image/jpeg' | 'image/jpg' | 'image/png' | 'video/mp4';

/** Default chunk: 4 MiB (Meta takes the whole file in one request too; chunks let a broken upload resume). */
const CHUNK_BYTES = 4 << 20;
const SESSION = /^upload:[A-Za-z0-9_=-]+$/;

/**
 * `wa.uploads`: Meta's Resumable Upload API. `upload()` opens a session on the app (`WA_APP_ID`), sends the bytes
 * in chunks from the offset Meta reports, and returns the handle `wa.profile.update({ profile_picture_handle })` and
 * template samples (`header_handle`) take. `resume()` continues a session after a failure.
 */
export class UploadsApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly appId: () => string | undefined,
  ) {}

  /** `POST /{app-id}/uploads`: a session id (`upload:…`). */
  async start(file: { fileLength: number; fileType: UploadFileType; fileName?: string }): Promise<string> {
    const app = this.appId();
    if (!app) throw new ValidationError('is required for uploads: set WA_APP_ID', 'appId');
    if (!Number.isInteger(file.fileLength) || file.fileLength <= 0)
      throw new ValidationError('must be a positive integer', 'fileLength');
    const out = await this.graph.post<{ id: string }>(`${objectId(app, 'appId')}/uploads`, undefined, {
      query: { file_length: file.fileLength, file_type: file.fileType, file_name: file.fileName },
    });
    return out.id;
  }

  /** `GET /upload:{session}`: how many bytes Meta has. */
  async offset(sessionId: string): Promise<number> {
    const out = await this.graph.get<{ file_offset: number }>(checkSession(sessionId));
    return out.file_offset;
  }

  /** Sends `data` from the offset Meta reports until the handle comes back. */
  async resume(sessionId: string, data: Uint8Array, options: { chunkBytes?: number } = {}): Promise<string> {
    const chunk = options.chunkBytes ?? CHUNK_BYTES;
    if (!Number.isInteger(chunk) || chunk <= 0)
      throw new ValidationError('must be a positive integer', 'chunkBytes');
    let offset = await this.offset(sessionId);
    for (;;) {
      const out = await this.graph.request<{ h?: string; file_offset?: number }>({
        method: 'POST',
        path: checkSession(sessionId),
        raw: { body: data.subarray(offset, offset + chunk), headers: { file_offset: String(offset) } },
      });
      if (out.data.h) return out.data.h;
      if (typeof out.data.file_offset !== 'number' || out.data.file_offset <= offset)
        throw new ValidationError('Meta reported no progress for this upload', 'sessionId');
      offset = out.data.file_offset;
    }
  }

  /** The whole upload: a session, then the bytes; returns the file handle. */
  async upload(
    file: { data: Uint8Array; fileType: UploadFileType; fileName?: string },
    options: { chunkBytes?: number } = {},
  ): Promise<string> {
    const session = await this.start({
      fileLength: file.data.byteLength,
      fileType: file.fileType,
      fileName: file.fileName,
    });
    return this.resume(session, file.data, options);
  }
}

function checkSession(id: string): string {
  if (typeof id !== 'string' || !SESSION.test(id))
    throw new ValidationError('is not an upload session id', 'sessionId');
  return id;
}
