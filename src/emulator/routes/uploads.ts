import type { Hono } from 'hono';
import { unknownObject } from '../access.js';
import {
  authenticate,
  type EmuContext,
  type EmuEnv,
  type EmulatorCore,
  readBodyBytes,
  requestParams,
} from '../context.js';
import { graphError } from '../graph-errors.js';
import { base62 } from '../ids.js';
import { mark } from './shared.js';

/**
 * Meta's Resumable Upload API (https://developers.facebook.com/docs/graph-api/guides/upload): `POST /{app-id}/uploads`
 * opens a session (`file_length`, `file_type`, `file_name`), `POST /upload:<session>` sends bytes from the
 * `file_offset` header on, `GET /upload:<session>` says where to resume. The last chunk answers `{ h }`, the handle
 * profile pictures (`profile_picture_handle`) and template samples (`header_handle`) take.
 * UNVERIFIED: Meta's exact error for a wrong `file_offset`; the emulator answers #100 naming the expected offset.
 * Sessions and handles live in memory (a restarted emulator forgets them, as an expired Meta session would be).
 */

const FILE_TYPES = new Set(['application/pdf', 'image/jpeg', 'image/jpg', 'image/png', 'video/mp4']);

interface UploadSession {
  id: string;
  appId: string;
  fileName: string;
  fileType: string;
  fileLength: number;
  chunks: Buffer[];
  offset: number;
  handle: string | undefined;
}

const sessionsByCore = new WeakMap<EmulatorCore, Map<string, UploadSession>>();
const sessionsOf = (core: EmulatorCore) => {
  let m = sessionsByCore.get(core);
  if (!m) {
    m = new Map();
    sessionsByCore.set(core, m);
  }
  return m;
};

/** The file a handle from a finished upload stands for, or undefined (unknown or unfinished). */
export function uploadedFile(
  core: EmulatorCore,
  handle: string,
): { fileType: string; bytes: number } | undefined {
  for (const s of sessionsOf(core).values())
    if (s.handle === handle) return { fileType: s.fileType, bytes: s.fileLength };
  return undefined;
}

function sessionFor(core: EmulatorCore, c: EmuContext, appId: string): UploadSession {
  const s = sessionsOf(core).get(c.req.param('id') as string);
  // Another app's session is as unknown as a missing one.
  if (!s || s.appId !== appId) throw unknownObject(c.req.method, c.req.param('id') as string);
  return s;
}

export function registerUploadRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  app.post(`${prefix}/:id/uploads`, async (c) => {
    mark(c, 'POST /{app-id}/uploads');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const appId = c.req.param('id');
    if (!core.state.apps.has(appId)) throw unknownObject('post', appId);
    if (p.app.id !== appId)
      throw graphError(10, '(#10) Application does not have permission for this action');
    const length = Number(params.file_length);
    if (!Number.isInteger(length) || length <= 0 || length > core.settings.maxMediaBytes)
      throw graphError(
        100,
        `(#100) Param file_length must be a positive integer up to ${core.settings.maxMediaBytes}.`,
      );
    const type = params.file_type;
    if (!type || !FILE_TYPES.has(type))
      throw graphError(100, `(#100) Param file_type must be one of ${[...FILE_TYPES].join(', ')}.`);
    const id = `upload:${base62(40)}`;
    sessionsOf(core).set(id, {
      id,
      appId,
      fileName: params.file_name ?? 'file',
      fileType: type,
      fileLength: length,
      chunks: [],
      offset: 0,
      handle: undefined,
    });
    return c.json({ id });
  });

  app.get(`${prefix}/:id`, async (c, next) => {
    if (!c.req.param('id').startsWith('upload:')) return next();
    mark(c, 'GET /upload:{session}');
    const p = authenticate(core, c, await requestParams(c, core.settings.maxBodyBytes));
    const s = sessionFor(core, c, p.app.id);
    return c.json({ id: s.id, file_offset: s.offset });
  });

  app.post(`${prefix}/:id`, async (c, next) => {
    if (!c.req.param('id').startsWith('upload:')) return next();
    mark(c, 'POST /upload:{session}');
    const p = authenticate(core, c, Object.fromEntries(new URL(c.req.url).searchParams));
    const s = sessionFor(core, c, p.app.id);
    const offsetHeader = c.req.header('file_offset');
    const offset = Number(offsetHeader);
    if (offsetHeader === undefined || !Number.isInteger(offset))
      throw graphError(100, '(#100) The header file_offset is required.');
    if (s.handle) return c.json({ h: s.handle });
    if (offset !== s.offset)
      throw graphError(
        100,
        `(#100) file_offset ${offset} does not match the uploaded length: resume at ${s.offset}.`,
      );
    const bytes = await readBodyBytes(c, core.settings.maxMediaBytes);
    if (s.offset + bytes.length > s.fileLength)
      throw graphError(100, `(#100) The upload is longer than file_length ${s.fileLength}.`);
    s.chunks.push(bytes);
    s.offset += bytes.length;
    if (s.offset < s.fileLength) return c.json({ id: s.id, file_offset: s.offset });
    // Meta's handles: `4:<base64 file name>:<base64 type>:<opaque>` (the spec's examples).
    s.handle = `4:${Buffer.from(s.fileName).toString('base64')}:${Buffer.from(s.fileType).toString('base64')}:${base62(60)}`;
    s.chunks = [];
    return c.json({ h: s.handle });
  });
}
