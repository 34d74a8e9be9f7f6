import { resolve } from 'node:path';
import { booleanFlag, intFlag, parseCliArgs, stringFlag } from '../args.js';
import { type CliCommand, CliExit, EXIT } from '../io.js';

const usage =
  'wacloud emulator [--port 4010] [--host 127.0.0.1] [--state FILE] [--mps N] [--redirect-uri URI ...] [--media-origin https://lookaside.fbsbx.com] [--json]';

/**
 * `wacloud emulator`: a local WhatsApp Cloud API. Prints the seeded credentials (on purpose: a sandbox, like Meta's
 * dashboard) and a ready curl, then serves until SIGINT/SIGTERM.
 */
export const command: CliCommand = {
  summary: 'run a local Graph API / WhatsApp Cloud API emulator',
  usage,
  async run(args, io) {
    const { values } = parseCliArgs(
      args,
      {
        port: { type: 'string' },
        host: { type: 'string' },
        state: { type: 'string' },
        mps: { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        'media-origin': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      usage,
    );
    const port = intFlag(values, 'port', 0, 65_535, usage) ?? 4010;
    const mps = intFlag(values, 'mps', 1, 1_000_000, usage);
    const host = stringFlag(values, 'host') ?? '127.0.0.1';
    const stateFlag = stringFlag(values, 'state');
    const stateFile = stateFlag ? resolve(io.cwd, stateFlag) : undefined;
    const redirectUris = (values['redirect-uri'] as string[] | undefined) ?? [];
    for (const uri of redirectUris) {
      if (!URL.canParse(uri))
        throw new CliExit(EXIT.usage, `--redirect-uri "${uri}" is not a URL\nUsage: ${usage}`);
    }
    const json = booleanFlag(values, 'json');
    const mediaOrigin = stringFlag(values, 'media-origin');

    const { createEmulator } = await import('../../emulator/emulator.js');
    let emulator: ReturnType<typeof createEmulator>;
    try {
      emulator = createEmulator({
        ...(stateFile ? { stateFile } : {}),
        ...(mps ? { throughput: { mps } } : {}),
        ...(mediaOrigin ? { mediaUrlOrigin: mediaOrigin } : {}),
        seed: redirectUris.length ? { redirectUris } : {},
      });
    } catch (err) {
      throw new CliExit(EXIT.config, (err as Error).message);
    }
    let url: string;
    try {
      url = await emulator.listen({ port, host });
    } catch (err) {
      await emulator.close();
      const code = (err as { code?: string }).code;
      throw new CliExit(
        EXIT.failure,
        code === 'EADDRINUSE'
          ? `port ${port} is already in use (try --port 0 for a free one)`
          : (err as Error).message,
      );
    }
    if (json) {
      const seed = emulator.seed;
      io.stdout(
        `${JSON.stringify({ url, ...(seed ?? {}), curl: seed ? emulator.curl(url) : undefined }, null, 2)}\n`,
      );
    } else {
      io.stdout(emulator.banner(url));
    }
    await new Promise<void>((done) => {
      if (io.stopSignal.aborted) return done();
      io.stopSignal.addEventListener('abort', () => done(), { once: true });
    });
    await emulator.close();
    if (!json) io.stderr('wacloud emulator: stopped\n');
    return EXIT.ok;
  },
};
