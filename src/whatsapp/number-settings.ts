import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';

export interface BotCommand {
  command_name: string;
  command_description: string;
}

export interface CommerceSettings {
  id: string;
  is_cart_enabled: boolean;
  is_catalog_visible: boolean;
}

/** Meta's limits on conversational components. */
const MAX_PROMPTS = 4;
const MAX_COMMANDS = 30;

/**
 * `wa.numberSettings`: the sender number's conversational components (welcome message, ice breakers, commands) and
 * commerce settings (cart, catalog visibility).
 */
export class NumberSettingsApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly sender: () => string,
  ) {}

  async setConversationalAutomation(input: {
    enableWelcomeMessage?: boolean;
    prompts?: string[];
    commands?: BotCommand[];
  }): Promise<{ success: boolean }> {
    if (input.prompts && input.prompts.length > MAX_PROMPTS)
      throw new ValidationError(`at most ${MAX_PROMPTS}`, 'prompts');
    if (input.commands && input.commands.length > MAX_COMMANDS)
      throw new ValidationError(`at most ${MAX_COMMANDS}`, 'commands');
    if (input.enableWelcomeMessage === undefined && !input.prompts && !input.commands) {
      throw new ValidationError('needs enableWelcomeMessage, prompts or commands', 'input');
    }
    return this.graph.post(`${this.sender()}/conversational_automation`, {
      ...(input.enableWelcomeMessage !== undefined
        ? { enable_welcome_message: input.enableWelcomeMessage }
        : {}),
      ...(input.prompts ? { prompts: input.prompts } : {}),
      ...(input.commands ? { commands: input.commands } : {}),
    });
  }

  async commerce(): Promise<CommerceSettings | undefined> {
    const res = await this.graph.get<{ data?: CommerceSettings[] }>(
      `${this.sender()}/whatsapp_commerce_settings`,
    );
    return res.data?.[0];
  }

  /** Meta takes these as query parameters (the spec's `is_cart_enabled`, `is_catalog_visible`). */
  async updateCommerce(input: {
    isCartEnabled?: boolean;
    isCatalogVisible?: boolean;
  }): Promise<{ success: boolean }> {
    if (input.isCartEnabled === undefined && input.isCatalogVisible === undefined) {
      throw new ValidationError('needs isCartEnabled or isCatalogVisible', 'input');
    }
    return this.graph.post(`${this.sender()}/whatsapp_commerce_settings`, undefined, {
      query: { is_cart_enabled: input.isCartEnabled, is_catalog_visible: input.isCatalogVisible },
    });
  }
}
