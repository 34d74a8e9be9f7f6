import { type ParseArgsConfig, parseArgs } from 'node:util';

type Parsed = {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
};

import { CliExit, EXIT } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `util.parseArgs` with strict checking; a bad flag is a usage error (exit 2) that names the flag. */
export function parseCliArgs(args: string[], options: Options, usage: string): Parsed {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true }) as Parsed;
  } catch (err) {
    throw new CliExit(EXIT.usage, `${(err as Error).message}\nUsage: ${usage}`);
  }
}

/** Prints a result for people, or as one JSON document for scripts. */
export function printResult(
  io: { stdout: (t: string) => void },
  json: boolean,
  value: unknown,
  human: () => string,
): void {
  io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** A string flag's value, or undefined. */
export function stringFlag(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function booleanFlag(values: Parsed['values'], name: string): boolean {
  return values[name] === true;
}
