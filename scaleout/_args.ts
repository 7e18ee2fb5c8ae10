/**
 * Flag parsing for the scale-out commands (`publish`, `worker`, `collect`): `--flag value` or `--flag=value`,
 * repeatable flags collected in order, and one-line usage errors.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../engine/errors.ts";

/** A command's flags: `string` ones take a value, `boolean` ones do not, `multiple` ones may repeat. */
export type FlagSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/** Parsed flags and the positional arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Parses `argv` against `flags`; `--debug` and `--help` are always accepted.
 *
 * @throws {UsageError} for an unknown flag or a missing value, naming the command.
 */
export function parseFlags(command: string, argv: string[], flags: FlagSpec): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...flags, debug: { type: "boolean" }, help: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs["values"], positionals };
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** A string flag's value, or undefined. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === "string" ? value : undefined;
}

/** A required string flag. */
export function requiredFlag(command: string, args: ParsedArgs, name: string, example: string): string {
  const value = stringFlag(args, name);
  if (value === undefined || value === "") {
    throw new UsageError(`${command} needs --${name} (e.g. --${name} ${example})`);
  }
  return value;
}

/** A number flag within [min, max]; `fallback` when absent. */
export function numberFlag(args: ParsedArgs, name: string, fallback: number, min: number, max: number): number {
  const text = stringFlag(args, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new UsageError(`--${name} ${text}: expected a number from ${min} to ${max}`);
  }
  return value;
}

/** The values of a repeatable flag, in order. */
export function listFlag(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  return Array.isArray(value) ? value : [];
}
