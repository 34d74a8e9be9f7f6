import { randomBytes } from 'node:crypto';

export type MultipartPart =
  | { name: string; value: string }
  | { name: string; filename: string; contentType: string; data: Uint8Array };

function escapeQuoted(value: string): string {
  return value.replace(/["\r\n\\]/g, (c) => encodeURIComponent(c));
}

/** Encodes multipart/form-data once, into one buffer, so every transport (undici, fetch, in-process) sends the same bytes. */
export function encodeMultipart(parts: MultipartPart[]): { body: Uint8Array; contentType: string } {
  const boundary = `----wacloud${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeQuoted(part.name)}"`;
    if ('data' in part) {
      head += `; filename="${escapeQuoted(part.filename)}"\r\nContent-Type: ${part.contentType}\r\n\r\n`;
      chunks.push(
        Buffer.from(head),
        Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength),
      );
    } else {
      head += `\r\n\r\n${part.value}`;
      chunks.push(Buffer.from(head));
    }
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}
