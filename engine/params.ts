/**
 * Parameter schemas for stages, sinks and sources, and their validation.
 *
 * @module
 */
import { closestName } from "./suggest.ts";

interface ParamBase {
  /** One line for `describe` and error messages. */
  doc: string;
  required?: boolean;
  /**
   * A graph file may also give this parameter as a map whose fields set it and its siblings: field name -> the
   * parameter it sets (`batch: { max: 4, wait_ms: 5 }` with `{ max: "batch", wait_ms: "batch_wait_ms" }`).
   */
  fields?: Readonly<Record<string, string>>;
}

/** The schema of one parameter. */
export type ParamSpec =
  | ParamBase & { type: "integer"; default?: number; min?: number; max?: number }
  | ParamBase & { type: "number"; default?: number; min?: number; max?: number }
  | ParamBase & { type: "boolean"; default?: boolean }
  | ParamBase & { type: "string"; default?: string; oneOf?: readonly string[] }
  | ParamBase & { type: "numbers"; default?: number[]; length?: number }
  | ParamBase & { type: "strings"; default?: string[]; oneOf?: readonly string[] }
  | ParamBase & { type: "model" };

/** Parameters of a stage kind, by name. */
export type ParamSchema = Record<string, ParamSpec>;

type ValueOf<P> = P extends { type: "integer" | "number" } ? number
  : P extends { type: "boolean" } ? boolean
  : P extends { type: "numbers" } ? number[]
  : P extends { type: "strings" } ? string[]
  : P extends { type: "string"; oneOf: readonly (infer T extends string)[] } ? T
  : string;

/**
 * The validated parameter values for a schema; those with neither default nor `required` may be absent. A
 * string with a `oneOf` declared `as const` (or typed as a union) is typed as that union.
 */
export type ParamValues<S extends ParamSchema> = {
  [K in keyof S]: S[K] extends { default: unknown } | { required: true } ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined;
};

const describeType: Record<ParamSpec["type"], string> = {
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  string: "a string",
  numbers: "a list of numbers",
  strings: "a list of names",
  model: "the name of a model listed under 'models'",
};

/**
 * A value as a message shows it: JSON, except that NaN and infinities read as YAML writes them (`.nan`,
 * `.inf`; JSON would say `null`) and long values are cut.
 */
export function showValue(value: unknown): string {
  const text = JSON.stringify(value, (_key, v) => {
    if (typeof v !== "number" || Number.isFinite(v)) return v;
    return Number.isNaN(v) ? "\u0000.nan" : v > 0 ? "\u0000.inf" : "\u0000-.inf";
  }) ?? String(value);
  const shown = text.replace(/"\\u0000([^"]*)"/g, "$1");
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}

/**
 * Checks one value against its spec and returns it.
 *
 * @throws {TypeError} with a message that names the parameter and the value, for the caller to place.
 */
export function checkParam(name: string, spec: ParamSpec, value: unknown): unknown {
  const got = showValue(value);
  const fail = (what: string, hint = ""): never => {
    throw new TypeError(`'${name}' must be ${what}, got ${got}${hint}`);
  };
  switch (spec.type) {
    case "integer":
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) fail(describeType[spec.type]);
      const n = value as number;
      if (spec.type === "integer" && !Number.isInteger(n)) fail("an integer");
      if (spec.min !== undefined && n < spec.min) fail(`at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) fail(`at most ${spec.max}`);
      if (spec.type === "integer" && !Number.isSafeInteger(n)) fail(`at most ${Number.MAX_SAFE_INTEGER}`);
      return n;
    }
    case "boolean":
      if (typeof value !== "boolean") fail(describeType.boolean);
      return value;
    case "string":
    case "model":
      if (typeof value !== "string" || value === "") fail(describeType[spec.type]);
      if (spec.type === "string" && spec.oneOf && !spec.oneOf.includes(value as string)) {
        // Ties go to a name of the same length: `cuad!` means `cuda!` rather than `cuda`.
        const text = value as string;
        const byLength = [...spec.oneOf].sort((a, b) =>
          Math.abs(a.length - text.length) - Math.abs(b.length - text.length)
        );
        const closest = closestName(text, byLength);
        fail(`one of ${spec.oneOf.map((v) => `'${v}'`).join(", ")}`, closest && ` (did you mean '${closest}'?)`);
      }
      return value;
    case "numbers":
      if (!Array.isArray(value) || value.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
        fail(describeType.numbers);
      }
      if (spec.length !== undefined && (value as number[]).length !== spec.length) {
        fail(`a list of ${spec.length} numbers`);
      }
      return value;
    case "strings": {
      const list = typeof value === "string" ? [value] : value;
      if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) fail(describeType.strings);
      const bad = spec.oneOf ? (list as string[]).find((v) => !spec.oneOf!.includes(v)) : undefined;
      if (bad !== undefined) fail(`a list of ${spec.oneOf!.map((v) => `'${v}'`).join(", ")} (not '${bad}')`);
      return list;
    }
  }
}

/** The default values of a schema (parameters without one are left out). */
export function paramDefaults(schema: ParamSchema): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    if ("default" in spec && spec.default !== undefined) values[name] = spec.default;
  }
  return values;
}
