/**
 * Reading a parameter map of a graph file (a stage's, the source's, `execution:`) against its schema: unknown
 * names with a "did you mean", each value checked by `checkParam`, required ones present, old names renamed.
 *
 * @module
 */
import type { Node } from "yaml";
import { UsageError } from "./errors.ts";
import { checkParam, paramDefaults, type ParamSchema, type ParamValues } from "./params.ts";
import type { ParamRename } from "./registry.ts";
import { renamedValue, type Warn } from "./graph_renames.ts";
import { suggest } from "./suggest.ts";
import type { YamlSource } from "./yaml_source.ts";

/** What else {@linkcode readParams} reads besides the map. */
export interface ReadParamsOptions {
  /** Values from flags (`--input`, `--size`), which win over the file; checked like the file's. */
  flags?: Record<string, unknown>;
  /** Keys of the map that are not parameters (`id`, `kind`, `in`, ...). */
  skip?: readonly string[];
  /** Reads only the entries that pass (the `--set` ones, when `--input` replaces the file's source). */
  only?: (key: string, valueNode: Node | null) => boolean;
  /** Old parameter names still accepted for one release, each with a warning through `warn`. */
  renames?: ReadonlyMap<string, ParamRename>;
  /** Where the warnings about old names go. */
  warn?: Warn;
}

/**
 * Validates a parameter map against a schema and returns the values, defaults filled in, typed from the schema.
 *
 * @param node the map in the file, or `null` when the file has none (defaults and flags only).
 * @param owner names the map in messages (`stage 'seg'`, `source`, `execution`).
 * @throws {GraphError} placed at the offending key or value; {@linkcode UsageError} for a bad flag value.
 * @example
 * ```ts
 * readParams(yaml, yaml.get(root, "execution") ?? null, executionSchema, "execution");
 * // test.yaml:7:18: execution: 'max_in_flight' must be at least 1, got 0
 * ```
 */
export function readParams<S extends ParamSchema>(
  yaml: YamlSource,
  node: Node | null,
  schema: S,
  owner: string,
  options: ReadParamsOptions = {},
): ParamValues<S> {
  const values = paramDefaults(schema);
  const place = (at: Node | null | undefined, error: unknown) =>
    yaml.error(at ?? node, `${owner}: ${(error as Error).message}`);
  if (node) {
    const entries = yaml.entries(node);
    for (const [key, keyNode, value] of entries) {
      if (options.skip?.includes(key) || (options.only && !options.only(key, value))) continue;
      const rename = options.renames?.get(key);
      if (rename) {
        if (entries.some(([other]) => other === rename.to)) {
          throw yaml.error(keyNode, `${owner}: '${key}' is the old name of '${rename.to}'; keep '${rename.to}' only`);
        }
        try {
          const renamed = renamedValue(owner, key, rename, yaml.value(value));
          options.warn?.(yaml.error(keyNode, renamed.note).message);
          values[rename.to] = checkParam(rename.to, schema[rename.to]!, renamed.value);
        } catch (error) {
          throw place(value, error);
        }
        continue;
      }
      const spec = schema[key];
      if (!spec) {
        // A `--set` value on a key the file has is reported naming the flag, not the file's line.
        const at = value && yaml.fromFlag(value) ? value : keyNode;
        throw yaml.error(at, `${owner}: unknown parameter '${key}'${suggest(key, [...Object.keys(schema)])}`);
      }
      const given = yaml.value(value);
      if (spec.fields && typeof given === "object" && given !== null && !Array.isArray(given)) {
        for (const [field, part] of Object.entries(given)) {
          const target = spec.fields[field];
          if (target && target !== key && entries.some(([other]) => other === target)) {
            throw place(value, new Error(`'${key}.${field}' and '${target}' set the same thing; keep one`));
          }
          if (!target) {
            throw place(
              (value && yaml.get(value, field)) ?? value,
              new Error(`'${key}' has no field '${field}' (its fields: ${Object.keys(spec.fields).join(", ")})`),
            );
          }
          try {
            values[target] = checkParam(`${key}.${field}`, schema[target]!, part);
          } catch (error) {
            throw place((value && yaml.get(value, field)) ?? value, error);
          }
        }
        continue;
      }
      try {
        values[key] = checkParam(key, spec, given);
      } catch (error) {
        throw place(value, error);
      }
    }
  }
  for (const [key, value] of Object.entries(options.flags ?? {})) {
    const spec = schema[key];
    if (!spec || value === undefined) continue;
    try {
      values[key] = checkParam(key, spec, value);
    } catch (error) {
      throw new UsageError(`${owner}: ${(error as Error).message}`);
    }
  }
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.required && values[key] === undefined) {
      throw yaml.error(node, `${owner}: parameter '${key}' is required (${spec.doc})`);
    }
  }
  // Every key of the schema was checked against its spec above (or took its default, or is absent and not
  // required), which is what `ParamValues<S>` says.
  return values as ParamValues<S>;
}
