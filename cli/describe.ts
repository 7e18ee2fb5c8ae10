/**
 * `describe`: a graph as text (stages, parameters, slots, and the typed plan) or as Graphviz (`--dot`).
 *
 * @module
 */
import type { LoadedGraph, StageNode } from "../engine/graph.ts";
import { compilePlan } from "../engine/plan.ts";
import type { PlanSlot } from "../engine/plan_types.ts";

/** Graphviz text of the dataflow: source, stages, sinks; edges are slots, dashed edges are guards. */
export function graphToDot(graph: LoadedGraph): string {
  const quote = (s: string) => JSON.stringify(s);
  const lines = [
    `digraph ${quote(graph.name)} {`,
    "  rankdir=TB;",
    '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
    `  source [label=${quote(`decode\\n${graph.source.kind}`)}, shape=invhouse, fillcolor="#e4f4e4"];`,
  ];
  const writers = new Map<string, string>([["image", "source"]]);
  const nodes = [...graph.stages, ...graph.sinks];
  for (const node of nodes) {
    const extra = node.params.model ? `\\nmodel: ${node.params.model}` : "";
    const shape = node.role === "sink" ? ', shape=house, fillcolor="#fbeee4"' : "";
    lines.push(`  ${quote(node.id)} [label=${quote(`${node.id}\\n(${node.kind})${extra}`)}${shape}];`);
    for (const slot of Object.values(node.inputs)) {
      lines.push(`  ${quote(writers.get(slot) ?? "source")} -> ${quote(node.id)} [label=${quote(slot)}];`);
    }
    for (const [guard, slot] of [["when", node.when], ["unless", node.unless]] as const) {
      if (slot) {
        lines.push(
          `  ${quote(writers.get(slot)!)} -> ${quote(node.id)} [label=${quote(`${guard} ${slot}`)}, style=dashed];`,
        );
      }
    }
    for (const slot of Object.values(node.outputs)) writers.set(slot, node.id);
  }
  lines.push("}");
  return lines.join("\n");
}

function describeNode(node: StageNode): string {
  const params = Object.entries(node.params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(" ");
  const inputs = Object.entries(node.inputs).map(([p, s]) => (p === s ? s : `${p}<-${s}`)).join(", ");
  const outputs = Object.entries(node.outputs).map(([p, s]) => (p === s ? s : `${p}->${s}`)).join(", ");
  const guard = node.when ? ` when ${node.when}` : node.unless ? ` unless ${node.unless}` : "";
  return `  ${node.id} (${node.kind})${guard}: in [${inputs}] out [${outputs}] ${params}`.trimEnd();
}

/** A plain-text description of a graph. */
export function graphToText(graph: LoadedGraph): string {
  const lines = [
    `${graph.name}: ${graph.description}`.trim(),
    `source: ${graph.source.kind} ${JSON.stringify(graph.source.params)}`,
  ];
  if (graph.models.size) {
    lines.push(`models (set '${graph.modelSet}'):`);
    for (const [name, card] of graph.models) lines.push(`  ${name}: ${card.name} (${card.task}) ${card.cardFile}`);
  }
  lines.push(`execution: ${JSON.stringify(graph.execution)}`, "stages:", ...graph.stages.map(describeNode));
  if (graph.sinks.length) lines.push("sinks:", ...graph.sinks.map(describeNode));
  const plan = graph.plan ?? compilePlan(graph);
  lines.push("plan:", ...[...plan.slots.values()].map(describeSlot));
  return lines.join("\n");
}

/**
 * One slot of the plan: `  scores: kind=tensor dtype=float32 layout=NCHW channels=11 stride=8 location=main
 * writer=warp readers=argmax` (`-` where the type leaves a field open; `grid=4x8` for a fixed grid).
 */
export function describeSlot(slot: PlanSlot): string {
  const { kind, dtype, layout, channels, stride, grid } = slot.type;
  const show = (value: unknown) => (value === undefined ? "-" : String(value));
  const fields = [
    `kind=${kind}`,
    `dtype=${show(dtype)}`,
    `layout=${show(layout)}`,
    `channels=${show(channels)}`,
    grid ? `grid=${grid[0]}x${grid[1]}` : `stride=${show(stride)}`,
    `location=${slot.location}`,
    `writer=${slot.writer}`,
    `readers=${slot.readers.length ? slot.readers.join(",") : "-"}`,
  ];
  return `  ${slot.name}: ${fields.join(" ")}`;
}
