/**
 * `--set target.param=value`: each flag changes the graph document before it is validated, so a bad value is
 * reported like one in the file, naming the flag instead of a line. The target is a stage or sink (by `id`,
 * or by `kind` for a sink without one), `source`, `execution` or `models` (`--set models.features=seg-large-features`
 * points an alias the graph lists under `models:` at another card); the value is read as YAML.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { isMap, type Node, parse as parseYamlValue } from "yaml";
import { UsageError } from "./errors.ts";
import type { Registry } from "./registry.ts";
import { renamedValue, type Warn } from "./graph_renames.ts";
import { suggest } from "./suggest.ts";
import type { YamlSource } from "./yaml_source.ts";

/**
 * Applies `--set` flags to the document. An old parameter name (`--set s2.lag=1`) sets the new one
 * (`pipelined: true`) and warns, naming the flag.
 *
 * A `models.<alias>` flag only re-points an alias the graph lists (an unknown alias is an error with a "did you
 * mean"); its card is then resolved like the file's value, so a card the model set lacks fails naming the flag.
 * A card path in such a flag is relative to the working directory, not to the graph file.
 *
 * @throws {UsageError} naming the flag: malformed, an `id` or a stage's `kind`, an unknown target or model alias
 * (with a "did you mean"), or a value an old parameter name did not take.
 * @example
 * ```ts
 * applyOverrides(yaml, root, ["segment.model=lite", "execution.workers=2", "models.seg=seg-lite"], registry, warn);
 * ```
 */
export function applyOverrides(
  yaml: YamlSource,
  root: Node,
  overrides: readonly string[],
  registry: Registry,
  warn: Warn,
): void {
  for (const text of overrides) {
    const flag = `--set ${text}`;
    // Model aliases may have hyphens (`seg-large: ...`); parameters never do, and stay unknown if given one.
    const match = /^([A-Za-z][\w-]*)\.([A-Za-z_][\w-]*)=(.*)$/s.exec(text);
    if (!match) throw new UsageError(`${flag}: expected 'stage.param=value'`);
    const [, target, param, rawValue] = match as unknown as [string, string, string, string];
    if (target === "models") {
      setModel(yaml, root, flag, param, rawValue);
      continue;
    }
    if (param === "id" || (param === "kind" && target !== "source")) {
      throw new UsageError(`${flag}: a stage's '${param}' cannot be changed with --set (edit the graph file)`);
    }
    let value: unknown;
    try {
      value = parseYamlValue(rawValue);
    } catch {
      value = rawValue;
    }
    let container: Node | undefined;
    if (target === "source" || target === "execution") {
      container = yaml.get(root, target);
      if (!container) container = yaml.setFromFlag(root, target, {}, flag);
      yaml.setFromFlag(container, param, value, flag);
      continue;
    }
    const candidates: Node[] = [];
    for (const section of ["stages", "sinks"]) {
      const list = yaml.get(root, section);
      if (list) candidates.push(...yaml.items(list));
    }
    const nameOf = (node: Node) => yaml.value(yaml.get(node, "id") ?? yaml.get(node, "kind"));
    container = candidates.find((node) => nameOf(node) === target);
    if (!container) {
      const names = candidates.map((node) => String(nameOf(node)));
      throw new UsageError(
        `${flag}: no stage or sink '${target}'${suggest(target, [...names, "source", "execution", "models"])}`,
      );
    }
    const kind = yaml.value(yaml.get(container, "kind"));
    const rename = typeof kind === "string" ? registry.paramRenames.get(registry.resolve(kind))?.get(param) : undefined;
    if (!rename) {
      yaml.setFromFlag(container, param, value, flag);
      continue;
    }
    let renamed: { value: unknown; note: string };
    try {
      renamed = renamedValue(`stage '${target}'`, param, rename, value);
    } catch (error) {
      throw new UsageError(`${flag}: ${(error as Error).message}`);
    }
    warn(`${flag}: ${renamed.note}`);
    // The new name takes the value, replacing the file's under either name (a flag wins over the file).
    if (isMap(container)) container.delete(param);
    yaml.setFromFlag(container, rename.to, renamed.value, flag);
  }
}

/**
 * `--set models.<alias>=<card>`: points an alias listed under `models:` at another card (a card name in the model
 * set, or a path to a card, relative to the working directory). The value keeps the flag as its origin, so the
 * card checks that follow (a name, a card the set lacks) report it like a value in the file, naming the flag.
 */
function setModel(yaml: YamlSource, root: Node, flag: string, alias: string, rawValue: string): void {
  const models = yaml.get(root, "models");
  const aliases = models && isMap(models) ? yaml.entries(models).map(([name]) => name) : [];
  if (!models || !aliases.includes(alias)) {
    const listed = aliases.length
      ? suggest(alias, aliases)
      : " (the graph lists no models; --set models.<alias> re-points one it lists)";
    throw new UsageError(`${flag}: no model '${alias}' under 'models'${listed}`);
  }
  let value: unknown = rawValue;
  try {
    value = parseYamlValue(rawValue);
  } catch {
    // Not YAML: the text itself (a card name or path), checked as a card reference below.
  }
  // A path typed on the command line means the working directory's, not the graph file's.
  if (typeof value === "string" && (value.includes("/") || /\.ya?ml$/.test(value)) && !isAbsolute(value)) {
    value = resolve(value);
  }
  yaml.setFromFlag(models, alias, value, flag);
}
