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
