import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import type { GraphError } from '../../src/core/graph-error.js';
import { templateComponents as tc } from '../../src/whatsapp/template-components.js';
import { rejection, useSdkEmulator } from './sdk-area-support.js';

/** wa.uploads (Meta's Resumable Upload API) against the emulator over HTTP, and the handles it returns in use. */

const h = useSdkEmulator();
const png = new Uint8Array(10_000).map((_, i) => i % 251);

describe('wa.uploads', () => {
  it('uploads in chunks and the handle sets the profile picture and a template sample', async () => {
    const wa = h.client({ WA_APP_ID: h.emu.seed!.appId });
    const handle = await wa.uploads.upload(
      { data: png, fileType: 'image/png', fileName: 'logo.png' },
      { chunkBytes: 4096 },
    );
    expect(handle).toMatch(/^4:bG9nby5wbmc=:aW1hZ2UvcG5n:/);
    await wa.profile.update({ profile_picture_handle: handle });
    expect((await wa.profile.get()).data[0]?.profile_picture_url).toMatch(/^https:\/\/pps\.whatsapp\.net\//);
    const t = await wa.templates.create({
      name: 'upload_sample',
      language: 'en_US',
      category: 'MARKETING',
      components: [tc.mediaHeader('IMAGE', handle), { type: 'BODY', text: 'New in store.' }],
    });
    expect(t.id).toMatch(/^\d+$/);
  });

  it('resumes a broken upload from the offset Meta reports; a wrong offset is refused', async () => {
    const wa = h.client({ WA_APP_ID: h.emu.seed!.appId });
    const session = await wa.uploads.start({ fileLength: png.length, fileType: 'image/png' });
    // The first 3000 bytes arrive, then the connection breaks.
    const first = await fetch(`${h.url}/v23.0/${session}`, {
      method: 'POST',
      headers: { authorization: `OAuth ${h.emu.seed!.accessToken}`, file_offset: '0' },
      body: png.subarray(0, 3000),
    });
    expect(await first.json()).toEqual({ id: session, file_offset: 3000 });
    expect(await wa.uploads.offset(session)).toBe(3000);
    const wrong = await fetch(`${h.url}/v23.0/${session}`, {
      method: 'POST',
      headers: { authorization: `OAuth ${h.emu.seed!.accessToken}`, file_offset: '0' },
      body: png.subarray(0, 10),
    });
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/resume at 3000/);
    expect(await wa.uploads.resume(session, png)).toMatch(/^4:ZmlsZQ==:aW1hZ2UvcG5n:/);
  });

  it('refuses bad input: no app id, bad types and lengths, unknown sessions', async () => {
    expect(await rejection(h.client().uploads.upload({ data: png, fileType: 'image/png' }))).toBeInstanceOf(
      ValidationError,
    );
    const wa = h.client({ WA_APP_ID: h.emu.seed!.appId });
    const badType = (await rejection(
      wa.uploads.start({ fileLength: 10, fileType: 'image/gif' as 'image/png' }),
    )) as unknown as GraphError;
    expect(badType.graphCode).toBe(100);
    expect(await rejection(wa.uploads.start({ fileLength: 0, fileType: 'image/png' }))).toBeInstanceOf(
      ValidationError,
    );
    const unknown = (await rejection(wa.uploads.offset('upload:doesnotexist'))) as unknown as GraphError;
    expect(unknown.graphCode).toBe(100);
    expect(await rejection(wa.uploads.offset('../me'))).toBeInstanceOf(ValidationError);
    // Longer than announced: refused, nothing kept.
    const session = await wa.uploads.start({ fileLength: 5, fileType: 'application/pdf' });
    const tooLong = (await rejection(wa.uploads.resume(session, png))) as unknown as GraphError;
    expect(tooLong.graphCode).toBe(100);
    expect(await wa.uploads.offset(session)).toBe(0);
  });
});
