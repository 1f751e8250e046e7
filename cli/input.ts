import { readFileSync } from 'node:fs';
import { usageError } from './exit-codes';

/**
 * Robot input from the command line: `--input '{"url": "..."}'` or `--input @input.json`, plus
 * `--set name=value` for single string fields (applied last, so they override the JSON).
 */
export function robotInputOf(input: string | undefined, sets: readonly string[] = []): Record<string, unknown> {
  const base = input === undefined ? {} : jsonObjectOf(input.startsWith('@') ? readInputFile(input.slice(1)) : input, '--input');
  return { ...base, ...keyValuesOf(sets, '--set') };
}

/** `name=value` pairs (the first `=` separates them); values stay strings. */
export function keyValuesOf(pairs: readonly string[], flag: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of pairs) {
    const separator = pair.indexOf('=');
    if (separator < 1) throw usageError(`${flag} ${pair}: expected name=value`);
    values[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  return values;
}

export function jsonObjectOf(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw usageError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw usageError(`${what} must be a JSON object`);
  return parsed as Record<string, unknown>;
}

/** A positive whole number option (--limit 20, --poll-interval 2). */
export function positiveInteger(flag: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < 1 || number > max) throw usageError(`${flag} must be a whole number from 1 to ${max}, not "${value}"`);
    return number;
  };
}

/** Collects a repeatable option into a list. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

function readInputFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(`Cannot read --input file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
