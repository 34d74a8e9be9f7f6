import type { Hono } from 'hono';
import type { EmuContext, EmuEnv, EmulatorCore } from '../context.js';
import { graphError } from '../graph-errors.js';
import { numericId } from '../ids.js';
import { surfaceOf } from '../surface-state.js';
import { arrayParam, changed, mark, phoneRequest } from './shared.js';

/**
 * Conversational components (https://developers.facebook.com/docs/whatsapp/cloud-api/phone-numbers/conversational-components:
 * welcome message, at most 4 ice breakers of 80 characters, at most 30 commands with a name of 32 and a description
 * of 256 characters) and commerce settings (cart and catalog visibility) of a number.
 */

const MAX_PROMPTS = 4;
const MAX_PROMPT = 80;
const MAX_COMMANDS = 30;
const MAX_COMMAND_NAME = 32;
const MAX_COMMAND_DESCRIPTION = 256;

/** Graph booleans: true/false (1/0); anything else is #100 naming the parameter. */
function boolParam(params: Record<string, string>, name: string): boolean | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw graphError(100, `(#100) Param ${name} must be a boolean - got "${v.slice(0, 40)}".`);
}

function prompts(params: Record<string, string>): string[] | undefined {
  if (params.prompts === undefined) return undefined;
  const list = arrayParam(params, 'prompts');
  if (list.length > MAX_PROMPTS)
    throw graphError(100, `(#100) Param prompts must have at most ${MAX_PROMPTS} items.`);
  return list.map((p) => {
    if (typeof p !== 'string' || !p.trim() || [...p].length > MAX_PROMPT) {
      throw graphError(
        100,
        `(#100) Param prompts[] must be non-empty text of at most ${MAX_PROMPT} characters.`,
      );
    }
    return p;
  });
}

function commands(params: Record<string, string>) {
  if (params.commands === undefined) return undefined;
  const list = arrayParam(params, 'commands');
  if (list.length > MAX_COMMANDS)
    throw graphError(100, `(#100) Param commands must have at most ${MAX_COMMANDS} items.`);
  return list.map((raw) => {
    const c = (raw ?? {}) as { command_name?: unknown; command_description?: unknown };
    const name = c.command_name;
    const description = c.command_description;
    if (typeof name !== 'string' || !/^[a-z0-9_]+$/i.test(name) || name.length > MAX_COMMAND_NAME) {
      throw graphError(
        100,
        `(#100) Param commands[].command_name must be letters, digits or _ (at most ${MAX_COMMAND_NAME}).`,
      );
    }
    if (
      typeof description !== 'string' ||
      !description.trim() ||
      [...description].length > MAX_COMMAND_DESCRIPTION
    ) {
      throw graphError(
        100,
        `(#100) Param commands[].command_description must be text of at most ${MAX_COMMAND_DESCRIPTION} characters.`,
      );
    }
    return { command_name: name, command_description: description };
  });
}

export function registerNumberSettingsRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const phoneFor = (c: EmuContext) => phoneRequest(core, c);

  app.post(`${prefix}/:id/conversational_automation`, async (c) => {
    mark(c, 'POST /{phone-number-id}/conversational_automation');
    const { params, phone } = await phoneFor(c);
    const welcome = boolParam(params, 'enable_welcome_message');
    const p = prompts(params);
    const cmds = commands(params);
    if (welcome === undefined && p === undefined && cmds === undefined) {
      throw graphError(100, '(#100) Pass enable_welcome_message, prompts or commands.');
    }
    const surface = surfaceOf(phone);
    const now = surface.automation ?? { enableWelcomeMessage: false, prompts: [], commands: [] };
    surface.automation = {
      enableWelcomeMessage: welcome ?? now.enableWelcomeMessage,
      prompts: p ?? now.prompts,
      commands: cmds ?? now.commands,
    };
    changed(core);
    return c.json({ success: true });
  });

  app.get(`${prefix}/:id/whatsapp_commerce_settings`, async (c) => {
    mark(c, 'GET /{phone-number-id}/whatsapp_commerce_settings');
    const { phone } = await phoneFor(c);
    const s = surfaceOf(phone).commerce;
    return c.json({
      data: s ? [{ id: s.id, is_cart_enabled: s.isCartEnabled, is_catalog_visible: s.isCatalogVisible }] : [],
    });
  });

  app.post(`${prefix}/:id/whatsapp_commerce_settings`, async (c) => {
    mark(c, 'POST /{phone-number-id}/whatsapp_commerce_settings');
    const { params, phone } = await phoneFor(c);
    const cart = boolParam(params, 'is_cart_enabled');
    const catalog = boolParam(params, 'is_catalog_visible');
    if (cart === undefined && catalog === undefined) {
      throw graphError(100, '(#100) Pass is_cart_enabled or is_catalog_visible.');
    }
    const surface = surfaceOf(phone);
    const now = surface.commerce ?? { id: numericId(15), isCartEnabled: true, isCatalogVisible: true };
    surface.commerce = {
      id: now.id,
      isCartEnabled: cart ?? now.isCartEnabled,
      isCatalogVisible: catalog ?? now.isCatalogVisible,
    };
    changed(core);
    return c.json({ success: true });
  });
}
