/**
 * `--output TARGET` (with `--format`): which sink writes it. The first sink of the graph that accepts the
 * target takes it; otherwise the sink kind that writes such a target replaces the graph's primary output.
 *
 * @module
 */
import { UsageError } from "./errors.ts";
import type { StageNode } from "./graph_types.ts";
import { paramDefaults } from "./params.ts";
import type { Registry } from "./registry.ts";

/**
 * Points `--output` at the first sink that accepts it; otherwise the sink kind that writes such a target
 * replaces the graph's primary output (its first sink with an output), keeping that sink's shared settings
 * (style, palette, ...), or is added if the graph has none or the kind says it `adds` (metadata beside the
 * pictures). Changes `sinks` in place.
 *
 * @param available the slots the stages write (a new sink reads its inputs from slots of their names).
 * @throws {UsageError} when no sink kind writes the target, or the one that does needs a slot no stage writes.
 * @example `--output out.mp4` on a graph whose sink writes label PNGs: a `video` sink takes its place.
 */
export function routeOutput(
  target: string,
  format: string | undefined,
  sinks: StageNode[],
  registry: Registry,
  available: ReadonlyMap<string, unknown>,
): void {
  for (const sink of sinks) {
    const output = sink.definition.output;
    if (output && output.accepts(target, format)) {
      sink.params[output.param] = target;
      return;
    }
  }
  for (const definition of registry.stages.values()) {
    if (definition.role !== "sink" || !definition.output?.accepts(target, format)) continue;
    const params = { ...paramDefaults(definition.params), [definition.output.param]: target };
    const inputs = typeof definition.inputs === "function" ? undefined : definition.inputs;
    if (!inputs) continue;
    const bound: Record<string, string> = {};
    for (const port of inputs) if (!port.optional || available.has(port.name)) bound[port.name] = port.name;
    const missing = inputs.find((port) => !port.optional && !available.has(port.name));
    if (missing) {
      throw new UsageError(
        `--output '${target}': the '${definition.kind}' sink needs slot '${missing.name}', which no stage writes`,
      );
    }
    const primary = definition.output.adds ? -1 : sinks.findIndex((sink) => sink.definition.output);
    const replaced = primary >= 0 ? sinks[primary] : undefined;
    if (replaced) {
      for (const [key, value] of Object.entries(replaced.params)) {
        if (key in definition.params && key !== definition.output.param && value !== undefined) params[key] = value;
      }
    }
    const node: StageNode = {
      id: replaced?.id ?? definition.kind,
      kind: definition.kind,
      role: "sink",
      definition,
      params,
      inputs: bound,
      outputs: {},
    };
    if (replaced) sinks[primary] = node;
    else sinks.push(node);
    return;
  }
  const what = format ? ` with --format ${format}` : "";
  throw new UsageError(`--output '${target}'${what}: no sink writes that kind of output`);
}
