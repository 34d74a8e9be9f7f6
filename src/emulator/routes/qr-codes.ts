import { randomInt } from 'node:crypto';
import type { Hono } from 'hono';
import { type EmuContext, type EmuEnv, type EmulatorCore, fieldsParam, pickFields } from '../context.js';
import { graphError } from '../graph-errors.js';
import { page } from '../paging.js';
import type { QrCodeRecord } from '../surface-state.js';
import { changed, mark, phoneRequest, required } from './shared.js';

/**
 * QR codes with a prefilled message (the spec's /message_qrdls): create, update (same path with `code`), list,
 * get, delete. Codes are 14 characters; the message at most 140; `generate_qr_image` PNG or SVG. The emulator
 * renders no QR images: `qr_image_url` (a CDN URL at Meta) is left out of its answers.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const MAX_MESSAGE = 140;

function newCode(): string {
  return Array.from({ length: 14 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
}

function messageParam(params: Record<string, string>): string {
  const text = required(params, 'prefilled_message');
  if ([...text].length > MAX_MESSAGE) {
    throw graphError(100, `(#100) Param prefilled_message must be at most ${MAX_MESSAGE} characters.`);
  }
  return text;
}

function qrObject(q: QrCodeRecord): Record<string, unknown> {
  return {
    code: q.id,
    prefilled_message: q.prefilledMessage,
    deep_link_url: `https://wa.me/message/${q.id}`,
  };
}

export function registerQrCodeRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const s = core.state;
  const phoneFor = (c: EmuContext) => phoneRequest(core, c);
  const codeOf = (phoneId: string, code: string): QrCodeRecord => {
    const q = s.qrCodes.get(code);
    if (!q || q.phoneNumberId !== phoneId) {
      throw graphError(100, '(#100) Invalid parameter', {
        details: `QR code ${code.slice(0, 20)} does not exist on this number.`,
      });
    }
    return q;
  };
  // `code` always comes back (the spec: "always included").
  const render = (params: Record<string, string>) => {
    const fields = fieldsParam(params);
    return (q: QrCodeRecord) => ({ ...pickFields(qrObject(q), fields), code: q.id });
  };

  app.post(`${prefix}/:id/message_qrdls`, async (c) => {
    mark(c, 'POST /{phone-number-id}/message_qrdls');
    const { params, phone } = await phoneFor(c);
    const message = messageParam(params);
    const format = params.generate_qr_image?.toUpperCase();
    if (format !== undefined && format !== 'PNG' && format !== 'SVG') {
      throw graphError(
        100,
        `(#100) Param generate_qr_image must be one of {PNG, SVG} - got "${params.generate_qr_image?.slice(0, 20)}".`,
      );
    }
    if (params.code !== undefined) {
      const q = codeOf(phone.id, params.code);
      q.prefilledMessage = message;
      changed(core);
      return c.json(qrObject(q));
    }
    const q: QrCodeRecord = {
      id: newCode(),
      phoneNumberId: phone.id,
      prefilledMessage: message,
      createdAtMs: core.clock.now(),
    };
    s.qrCodes.set(q.id, q);
    changed(core);
    return c.json(qrObject(q));
  });

  app.get(`${prefix}/:id/message_qrdls`, async (c) => {
    mark(c, 'GET /{phone-number-id}/message_qrdls');
    const { params, phone } = await phoneFor(c);
    const list = [...s.qrCodes.values()].filter(
      (q) => q.phoneNumberId === phone.id && (!params.code || q.id === params.code),
    );
    return c.json(page(list, params, render(params), c));
  });

  app.get(`${prefix}/:id/message_qrdls/:code`, async (c) => {
    mark(c, 'GET /{phone-number-id}/message_qrdls/{code}');
    const { params, phone } = await phoneFor(c);
    // The spec's response wraps the code in `data` like a one-item list.
    return c.json({ data: [render(params)(codeOf(phone.id, c.req.param('code')))] });
  });

  app.delete(`${prefix}/:id/message_qrdls/:code`, async (c) => {
    mark(c, 'DELETE /{phone-number-id}/message_qrdls/{code}');
    const { phone } = await phoneFor(c);
    s.qrCodes.delete(codeOf(phone.id, c.req.param('code')).id);
    changed(core);
    return c.json({ success: true });
  });
}
