import { booleanFlag, parseCliArgs, printResult, stringFlag } from '../args.js';
import { type CliCommand, CliExit, EXIT } from '../io.js';

const usage =
  'wacloud send (--to NUMBER | --recipient BSUID) (--text "..." | --template NAME [--lang en_US]) [--from PHONE_NUMBER_ID] [--json]';

/** `wacloud send`: one message with the environment's token and sender (CLOUD_API_ACCESS_TOKEN, WA_PHONE_NUMBER_ID). */
export const command: CliCommand = {
  summary: 'send a text or template message',
  usage,
  async run(args, io) {
    const { values } = parseCliArgs(
      args,
      {
        to: { type: 'string' },
        recipient: { type: 'string' },
        text: { type: 'string' },
        template: { type: 'string' },
        lang: { type: 'string' },
        from: { type: 'string' },
        'reply-to': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      usage,
    );
    const to = stringFlag(values, 'to');
    // A business-scoped user id (US.1349…): the address of a user Meta shares no phone number for.
    const recipient = stringFlag(values, 'recipient');
    const text = stringFlag(values, 'text');
    const template = stringFlag(values, 'template');
    const from = stringFlag(values, 'from');
    const replyTo = stringFlag(values, 'reply-to');
    const json = booleanFlag(values, 'json');
    if (!to && !recipient) throw new CliExit(EXIT.usage, `--to or --recipient is required\nUsage: ${usage}`);
    if (!text === !template) {
      throw new CliExit(EXIT.usage, `give exactly one of --text or --template\nUsage: ${usage}`);
    }
    const { WhatsApp } = await import('../../whatsapp/whatsapp.js');
    // CLOUD_API_ACCESS_TOKEN and WA_APP_SECRET may be secret references: fetched before the client is built.
    const { resolveConfigEnv } = await import('../../vault/secret-sources/config-references.js');
    const { env } = await resolveConfigEnv({
      env: io.env,
      cwd: io.cwd,
      secrets: ['CLOUD_API_ACCESS_TOKEN', 'WA_APP_SECRET'],
    });
    const wa = new WhatsApp({ configSource: { env, envFile: false, cwd: io.cwd } });
    try {
      if (!wa.graph.hasToken) {
        throw new CliExit(EXIT.config, 'CLOUD_API_ACCESS_TOKEN is not set (or run "wacloud login")');
      }
      const common = {
        ...(to ? { to } : {}),
        ...(recipient ? { recipient } : {}),
        ...(replyTo ? { replyTo } : {}),
      };
      const options = from ? { phoneNumberId: from } : {};
      const res = text
        ? await wa.messages.text({ ...common, body: text }, options)
        : await wa.messages.template(
            { ...common, name: template as string, language: stringFlag(values, 'lang') ?? 'en_US' },
            options,
          );
      const id = res.messages?.[0]?.id ?? '(no id)';
      printResult(io, json, res, () => {
        const contact = res.contacts?.[0];
        const who = contact?.wa_id ?? contact?.user_id;
        return `sent ${id}${who ? ` to ${who}` : ''}`;
      });
      return EXIT.ok;
    } finally {
      await wa.close();
    }
  },
};
