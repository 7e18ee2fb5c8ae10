/**
 * Checks of a whole graph that no single stage can make while it is read: what would otherwise only
 * hang or mislead at run time. Run by `check` and `run` alike, after every stage is validated:
 *
 * - the source's `path` exists, and what the source declares (a frame size) is plausible;
 * - a slot written only on some frames (by a stage under `when`/`unless`) is not read on every frame by a
 *   stage that needs it (only ports declared `gaps` expect them: `warp`'s inputs, `hold`, `knn`'s first-frame
 *   `mask`);
 * - feedback edges (back edges in the plan: DVSNet's `flow` stage reads `decide`'s decision on the stream's
 *   previous frame) can be delivered: a feedback input reads a later stage's feedback output, written on every
 *   frame, with no `regions`/`merge-regions` between them; otherwise frames would wait for ever;
 * - producers and consumers agree in the compiled plan (`plan.ts`, each kind's `types`): a model input fed a
 *   map with other channels, dtype, layout or stride, `argmax` (and label heads, `merge-regions`) over a map
 *   that is not one score per class, `warp` sources and flow grids, `fuse`/`agreement` operands that
 *   differ, score maps wired to `labels`;
 * - files and folders named by stage parameters (`first_mask`, `masks`) exist.
 *
 * Each error is placed at `file:line:column` of the offending stage or parameter.
 *
 * @module
 */
import type { Node } from "yaml";
import { UsageError } from "./errors.ts";
import { assertFrameSize } from "./frame_limits.ts";
import type { LoadedGraph, StageNode } from "./graph_types.ts";
import type { SourceDefinition } from "./source.ts";
import type { YamlSource } from "./yaml_source.ts";
import { compilePlan, portsOf } from "./plan.ts";

/**
 * Checks the source before anything is opened: a `path` parameter (other than `-`, stdin) must exist,
 * then the kind's own `check` (declared frame sizes).
 *
 * @param node the graph's `source:` node, or `undefined` when `--input` chose the source.
 * @throws {UsageError} naming `--input`; {@linkcode GraphError} at the source's `path`; the kind's own errors.
 */
export async function checkSource(
  yaml: YamlSource,
  node: Node | null | undefined,
  source: { definition: SourceDefinition; params: Record<string, unknown> },
  flag?: string,
): Promise<void> {
  const path = source.params.path;
  if ("path" in source.definition.params && typeof path === "string" && path !== "-") {
    const exists = await Deno.stat(path).then(() => true, () => false);
    if (!exists) {
      if (flag !== undefined || !node) throw new UsageError(`${flag ?? "--input"} '${path}': no such file or folder`);
      throw yaml.error(yaml.get(node, "path") ?? node, `source: path '${path}' does not exist`);
    }
  }
  const { width, height } = source.params;
  if (typeof width === "number" && typeof height === "number") {
    try {
      assertFrameSize("source", width, height);
    } catch (error) {
      if (!node) throw error;
      throw yaml.error(yaml.get(node, "width") ?? node, (error as Error).message);
    }
  }
  try {
    await source.definition.check?.(source.params as never);
  } catch (error) {
    if (flag !== undefined || !node) throw error;
    throw yaml.error(node, `source: ${(error as Error).message}`);
  }
}

/**
 * The whole-graph checks on a validated graph (see the module doc).
 *
 * @throws {GraphError} placed at the offending stage, its `in` or its parameter.
 */
export async function checkGraph(yaml: YamlSource, root: Node, graph: LoadedGraph): Promise<void> {
  const places = stagePlaces(yaml, root, graph);
  const placeOf = (node: StageNode, key?: string): Node => {
    const item = places.get(node) ?? root;
    return (key ? yaml.get(item, key) : undefined) ?? item;
  };
  graph.plan = compilePlan(graph, (node, message, at, continues) => {
    throw yaml.error(placeOf(node, at ?? "in"), `${node.role} '${node.id}'${continues ? " " : ": "}${message}`);
  });
  checkGuardedSlots(yaml, graph, placeOf);
  for (const node of [...graph.stages, ...graph.sinks]) {
    const mask = node.params.first_mask;
    if (typeof mask !== "string") continue;
    if (!(await Deno.stat(mask).then((s) => s.isFile, () => false))) {
      throw yaml.error(placeOf(node, "first_mask"), `${node.role} '${node.id}': first mask '${mask}' is not a file`);
    }
  }
  for (const node of [...graph.stages, ...graph.sinks]) {
    const dir = node.params.masks;
    if (typeof dir !== "string") continue;
    if (!(await Deno.stat(dir).then((s) => s.isDirectory, () => false))) {
      throw yaml.error(placeOf(node, "masks"), `${node.role} '${node.id}': masks folder '${dir}' is not a folder`);
    }
  }
}

/** The YAML node to place an error about `node` at: its `key` if it has one, else its item. */
export type PlaceOf = (node: StageNode, key?: string) => Node;

/** Each stage's and sink's YAML item (stages are read in file order, one node per item). */
function stagePlaces(yaml: YamlSource, root: Node, graph: LoadedGraph): Map<StageNode, Node> {
  const places = new Map<StageNode, Node>();
  for (const [section, nodes] of [["stages", graph.stages], ["sinks", graph.sinks]] as const) {
    const list = yaml.get(root, section);
    const items = list ? yaml.items(list) : [];
    nodes.forEach((node, i) => {
      const item = items[i];
      if (!item) return;
      const id = yaml.value(yaml.get(item, "id"));
      const kind = yaml.value(yaml.get(item, "kind"));
      if (id === node.id || (id === null && kind === node.kind)) places.set(node, item);
    });
  }
  return places;
}

/**
 * A stage under `when`/`unless` writes its outputs only on some frames. An unguarded stage that reads such a
 * slot on every frame fails at run time on the first frame without it ("slot was not written"); so does any
 * `when`/`unless` on such a slot.
 */
function checkGuardedSlots(yaml: YamlSource, graph: LoadedGraph, placeOf: PlaceOf): void {
  const partial = new Map<string, StageNode>();
  const onlyWhen = (writer: StageNode) =>
    writer.when !== undefined ? `'${writer.when}' is true` : `'${writer.unless}' is false`;
  for (const node of [...graph.stages, ...graph.sinks]) {
    const who = `${node.role} '${node.id}'`;
    for (const guard of ["when", "unless"] as const) {
      const slot = node[guard];
      const writer = slot === undefined ? undefined : partial.get(slot);
      if (!writer) continue;
      throw yaml.error(
        placeOf(node, guard),
        `${who}: '${guard}: ${slot}' reads a slot that stage '${writer.id}' writes only on frames where ` +
          `${onlyWhen(writer)}; decide on every frame (or keep the last value with a 'hold' stage)`,
      );
    }
    const guarded = node.when !== undefined || node.unless !== undefined;
    const tolerant = new Set(portsOf(graph, node, "inputs").flatMap((port) => (port.gaps ? [port.name] : [])));
    if (!guarded) {
      for (const [port, slot] of Object.entries(node.inputs)) {
        const writer = partial.get(slot);
        if (!writer || tolerant.has(port)) continue;
        const guard = writer.when !== undefined ? `when: ${writer.when}` : `unless: ${writer.unless}`;
        throw yaml.error(
          placeOf(node, "in"),
          `${who}: input '${port}' is slot '${slot}', which stage '${writer.id}' writes only on frames where ` +
            `${onlyWhen(writer)}; run '${node.id}' under the same '${guard}', or keep the last value with a ` +
            `'hold' stage`,
        );
      }
    }
    const filled = new Set(portsOf(graph, node, "outputs").flatMap((port) => (port.gaps ? [port.name] : [])));
    for (const [port, slot] of Object.entries(node.outputs)) {
      if (guarded && !filled.has(port)) partial.set(slot, node);
      else partial.delete(slot);
    }
  }
}
