/**
 * Old names graph files may still use for one release: a stage kind registered with `Registry.alias`
 * (`segment` -> `model`) or a parameter registered with `Registry.renameParam` (`lag: 1` -> `pipelined: true`).
 * Each use loads as the new name and gives one warning that names its place (`file:line:column`, or the
 * `--set` flag) and the new name.
 *
 * @module
 */
import type { Node } from "yaml";
import { showValue } from "./params.ts";
import type { ParamRename, Registry } from "./registry.ts";
import type { YamlSource } from "./yaml_source.ts";

const until = "the old name is accepted until the next release";

/** Where loading puts its warnings: one line each, `file:line:column: ...` (or `--set ...: ...`). */
export type Warn = (message: string) => void;

const printed = new Set<string>();

/**
 * The default {@linkcode Warn}: `warning: <message>` on stderr, each distinct message once per process (an
 * `eval` loads the same graph once per variant).
 */
export function printWarning(message: string): void {
  if (printed.has(message)) return;
  printed.add(message);
  console.error(`warning: ${message}`);
}

/**
 * The current name of the kind at `kindNode`; an old name warns once, placed at the node.
 *
 * @example Warning text: `graph.yaml:12:11: 'kind: segment' is now 'kind: model' (the old name is accepted
 * until the next release)`.
 */
export function currentKind(yaml: YamlSource, kindNode: Node, written: string, registry: Registry, warn: Warn): string {
  const kind = registry.resolve(written);
  if (kind !== written) warn(yaml.error(kindNode, `'kind: ${written}' is now 'kind: ${kind}' (${until})`).message);
  return kind;
}

/**
 * Applies one old parameter name: the value under its new name, and the warning to give, to be placed by the
 * caller (`yaml.error(node, note).message`, or prefixed with the `--set` flag).
 *
 * @param owner names the stage in messages (`stage 's2'`).
 * @throws {TypeError} (unplaced: the caller places it) for a value the old parameter did not take.
 * @example
 * ```ts
 * renamedValue("stage 's2'", "lag", { to: "pipelined", convert: (lag) => lag === 1 }, 1);
 * // { value: true, note: "stage 's2': 'lag: 1' is now 'pipelined: true' (the old name is accepted until the next release)" }
 * ```
 */
export function renamedValue(
  owner: string,
  old: string,
  rename: ParamRename,
  value: unknown,
): { value: unknown; note: string } {
  const converted = rename.convert ? rename.convert(value) : value;
  const said = `'${old}: ${showValue(value)}' is now '${rename.to}: ${showValue(converted)}'`;
  return { value: converted, note: `${owner}: ${said} (${until})` };
}

/** The kinds and parameters renamed in `registry`, for `kinds`: `segment -> model`, `model.lag -> pipelined`. */
export function renamedNames(registry: Registry): string[] {
  const kinds = [...registry.aliases].map(([old, kind]) => `${old} -> ${kind}`);
  const params = [...registry.paramRenames].flatMap(([kind, renames]) =>
    [...renames].map(([old, rename]) => `${kind}.${old} -> ${kind}.${rename.to}`)
  );
  return [...kinds, ...params];
}
