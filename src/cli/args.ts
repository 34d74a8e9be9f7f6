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
    throw new CliExit(EXIT.usage, `${describeArgsError(err as Error & { code?: string })}\nUsage: ${usage}`);
  }
}

/** Node's parseArgs text, said as what to do instead (its flag name quoted as the user typed it). */
function describeArgsError(err: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1] ?? 'an option';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return `${flag} is not an option of this command (see --help); a value that starts with "-" goes after "--"`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /does not take an argument/.test(err.message)
      ? `${flag} is a switch and takes no value: write ${flag} alone`
      : `${flag} needs a value: write ${flag} <value>`;
  }
  return err.message;
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

/** An integer flag within a range, or undefined; out of range is a usage error naming the flag. */
export function intFlag(
  values: Parsed['values'],
  name: string,
  min: number,
  max: number,
  usage: string,
): number | undefined {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CliExit(EXIT.usage, `--${name} must be an integer between ${min} and ${max}\nUsage: ${usage}`);
  }
  return n;
}
