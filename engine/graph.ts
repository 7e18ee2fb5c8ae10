/**
 * Graph files: loading one validates all of it before any frame moves, and every error names
 * `file:line:column`. This module is the entry point; the work is split by job:
 *
 * - `graph_load.ts`: the steps in order ({@linkcode loadGraph}, {@linkcode loadGraphText});
 * - `graph_overrides.ts`: `--set target.param=value`;
 * - `execution.ts`: `execution:` and `--ep`, `--max-in-flight`, `--workers`, from one schema;
 * - `graph_source.ts`: the frame source (`--input`, `--size`, or the graph's `source:`);
 * - `graph_models.ts`: `models:` and their cards;
 * - `graph_stages.ts`: the `stages:` and `sinks:` lists; `graph_params.ts`: parameters against their schema;
 *   `graph_ports.ts`: `in`/`out` and slot types; `graph_renames.ts`: old kind and parameter names;
 * - `graph_output.ts`: `--output`;
 * - `graph_checks.ts`: the whole-graph checks; `graph_types.ts`: the types below.
 *
 * @example
 * ```ts
 * import { loadGraph } from "./engine/graph.ts";
 * import { builtinRegistry } from "./stages/mod.ts";
 * const graph = await loadGraph("graphs/per-frame.yaml", { registry: builtinRegistry(), modelsRoot: "models" });
 * console.log(graph.stages.map((stage) => `${stage.id} (${stage.kind})`));
 * ```
 *
 * @module
 */
export { loadGraph, loadGraphText } from "./graph_load.ts";
import type { LoadedGraph } from "./graph_types.ts";

/**
 * Whether a frame's result may depend on earlier frames of its stream: a stage or sink keeps per-stream state
 * (its kind's `keepsStreamState`, else whether it declares `state`). A graph that keeps none may send each frame of a stream to a
 * different engine (the JetStream workers share such a stream's frames instead of pinning it).
 */
export function keepsStreamState(graph: LoadedGraph): boolean {
  return [...graph.stages, ...graph.sinks].some((node) =>
    node.definition.keepsStreamState
      ? node.definition.keepsStreamState(node.params as never)
      : node.definition.state !== undefined
  );
}

// What loading returns: callers of `loadGraph` name these types from here. Files that the loader itself
// imports (checks, plan, resident tensors) take them from `graph_types.ts`, so no import cycle runs through here.
export type { LoadedGraph, LoadOptions, StageNode } from "./graph_types.ts";
