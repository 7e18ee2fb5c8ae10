/**
 * Compiling a validated graph into a typed plan: every slot gets a {@linkcode SlotType} (kind; dtype, layout,
 * channels and grid stride for tensors) and a location, in stage order. The frame is the `image` slot; each
 * stage kind types its own outputs (`StageDefinition.types`, from its cards and inputs), and ports it does
 * not type get their declared kind. Where a slot meets a port, what the reading stage needs (`TypeNeed`s,
 * plus the engine's rules: a model parameter's inputs match its card, a `labels` port reads a label map) is
 * checked; mismatches are reported through `fail`.
 *
 * @example
 * ```ts
 * const plan = compilePlan(graph);
 * plan.slots.get("scores")?.type; // { kind: "tensor", dtype: "float32", layout: "NCHW", channels: 11, stride: 8 }
 * ```
 *
 * @module
 */
import type { LoadedGraph, StageNode } from "./graph.ts";
import type { PortDecl } from "./stage.ts";
import type { ModelCard } from "./model_card.ts";
import type { InputType, Plan, PlanSlot, SlotType, TypeEnvironment, TypeNeed } from "./plan_types.ts";
import { modelName, specChannels } from "./graph_channels.ts";
import { suggest } from "./suggest.ts";
import { residentSlots } from "./resident.ts";

/**
 * Reports a mismatch at `node`'s `in` (or its parameter `at`); must throw. The message follows the stage's
 * name after a colon, or as the rest of the sentence when `continues` (`stage 'decide' reads ...`).
 */
export type PlanFailure = (node: StageNode, message: string, at?: string, continues?: boolean) => never;

/** The frame as a slot: RGB bytes, NHWC, at its own size, on the main thread. */
const frameType: SlotType = { kind: "image", dtype: "uint8", layout: "NHWC", channels: 3, stride: 1 };

/**
 * Compiles `graph` into its plan.
 *
 * @param fail called on the first producer/consumer mismatch (`check` throws a placed `GraphError`); without
 *   it mismatches are ignored (the graph was checked when it was loaded).
 */
export function compilePlan(graph: LoadedGraph, fail?: PlanFailure): Plan {
  const env: TypeEnvironment = { model: (name) => modelOf(graph, name), classes: modelSetClasses(graph) };
  const slots = new Map<string, PlanSlot>([
    ["image", { name: "image", type: { ...frameType }, location: "main", writer: "source", readers: [] }],
  ]);
  // Back edges: stages whose feedback output must be answered, and who reads feedback slots.
  const answered: { node: StageNode; need: Extract<TypeNeed, { answered: string }> }[] = [];
  const feedbackReads: { node: StageNode; port: string; slot: string; writer: string }[] = [];
  for (const node of [...graph.stages, ...graph.sinks]) {
    const inputPorts = portsOf(graph, node, "inputs");
    const inputs: Record<string, InputType> = {};
    for (const [port, slot] of Object.entries(node.inputs)) {
      const written = slots.get(slot);
      if (!written) continue;
      inputs[port] = { slot, type: written.type, writer: written.writer };
      written.readers.push(node.id);
    }
    for (const slot of [node.when, node.unless]) if (slot !== undefined) slots.get(slot)?.readers.push(node.id);
    for (const port of inputPorts) {
      const fed = inputs[port.name];
      if (port.kind === "feedback" && fed) feedbackReads.push({ node, port: port.name, ...fed });
    }
    const typing = node.definition.types?.(node.params as never, env, inputs, node.outputs) ?? {};
    const needs = [...engineNeeds(node, inputPorts, inputs, graph), ...(typing.needs ?? [])];
    for (const need of needs) if ("answered" in need) answered.push({ node, need });
    if (fail) checkNeeds(needs, inputs, (message, at) => fail(node, message, at));
    for (const port of portsOf(graph, node, "outputs")) {
      const slot = node.outputs[port.name];
      if (slot === undefined) continue;
      // A copy: stages pass their inputs' types on (warp, hold), and a slot's type is its own.
      const type = { ...typing.outputs?.[port.name] ?? { kind: port.kind ?? port.type } };
      const readers = slots.get(slot)?.readers ?? [];
      slots.set(slot, { name: slot, type, location: "main", writer: node.id, readers });
    }
  }
  if (fail) checkFeedback(answered, feedbackReads, fail);
  // Which slots stay in the workers is the resident-tensor rule's (`resident.ts`: resident writers and readers).
  const resident = graph.execution.resident_tensors === false
    ? new Set<string>()
    : residentSlots([...graph.stages, ...graph.sinks], graph.models);
  for (const slot of slots.values()) if (resident.has(slot.name)) slot.location = "worker";
  return { slots };
}

/** A validated node's input or output ports, as its kind declares them for its parameters. */
export function portsOf(graph: LoadedGraph, node: StageNode, which: "inputs" | "outputs"): PortDecl[] {
  const list = node.definition[which];
  return typeof list === "function" ? list(node.params as never, { model: (name) => modelOf(graph, name) }) : list;
}

/**
 * The engine's own rules, the same for every kind: a `labels` port reads a label map, and a stage with a
 * model parameter feeds that model's inputs from its ports of the same names.
 */
function engineNeeds(
  node: StageNode,
  inputPorts: PortDecl[],
  inputs: Record<string, InputType>,
  graph: LoadedGraph,
): TypeNeed[] {
  const needs: TypeNeed[] = [];
  for (const port of inputPorts) {
    const fed = inputs[port.name];
    if (port.kind !== "labels" || fed?.type.channels === undefined) continue;
    // Label maps are [1,H,W] class ids; a map with channels is scores (or features), not labels.
    needs.push({
      message: `input '${port.name}' is slot '${fed.slot}', a map with ${fed.type.channels} channels, not a label ` +
        `map (argmax it first: an 'argmax' stage, or the segment stage's 'labels' output)`,
    });
  }
  for (const [param, value] of Object.entries(node.params)) {
    if (node.definition.params[param]?.type !== "model" || typeof value !== "string") continue;
    const model = graph.models.get(value);
    for (const spec of model?.inputs ?? []) needs.push({ port: spec.name, model: model!, spec });
  }
  return needs;
}

/** Checks needs in order; the first one not met fails. Only what both sides know can disagree. */
function checkNeeds(
  needs: TypeNeed[],
  inputs: Record<string, InputType>,
  fail: (message: string, at?: string) => never,
): void {
  for (const need of needs) {
    if ("answered" in need) continue;
    if ("message" in need) fail(need.message, need.at);
    if ("same" in need) {
      const fed = need.same.flatMap((port) => {
        const input = inputs[port];
        return input?.type.channels === undefined ? [] : [{ port, ...input, channels: input.type.channels }];
      });
      const [a, b] = [fed[0], fed.find((f) => f.channels !== fed[0]?.channels)];
      if (a && b) {
        fail(
          `inputs '${a.port}' (slot '${a.slot}', ${a.channels} channels) and '${b.port}' (slot '${b.slot}', ` +
            `${b.channels} channels) must have the same channels`,
        );
      }
      continue;
    }
    const fed = inputs[need.port];
    if (!fed) continue;
    const is = `input '${need.port}' is slot '${fed.slot}'`;
    if ("by" in need) {
      if (fed.type.channels !== undefined && fed.type.channels !== need.channels) {
        fail(`${is} with ${fed.type.channels} channels, but ${need.by}`);
      }
      continue;
    }
    const { model, spec } = need;
    const takes = `${modelName(model)} takes`;
    const wanted = specChannels(spec);
    if (fed.type.channels !== undefined && wanted !== undefined && fed.type.channels !== wanted) {
      fail(`${is} with ${fed.type.channels} channels, but ${takes} ${wanted} in '${spec.name}'`);
    }
    // Frames are converted to whatever the model takes (dtype, layout, normalisation); tensors are fed as they are.
    if (fed.type.kind === "image") continue;
    const layout = spec.layout ?? (spec.shape.length === 4 ? "NCHW" : undefined);
    if (fed.type.dtype !== undefined && fed.type.dtype !== spec.dtype) {
      fail(`${is}, ${typeText(fed.type)}, but ${takes} ${spec.dtype} in '${spec.name}'`);
    }
    if (fed.type.layout !== undefined && layout !== undefined && fed.type.layout !== layout) {
      fail(`${is}, ${typeText(fed.type)}, but ${takes} layout ${layout} in '${spec.name}'`);
    }
    if (fed.type.stride !== undefined && spec.stride !== undefined && fed.type.stride !== spec.stride) {
      fail(`${is}, a grid of stride ${fed.type.stride}, but ${takes} stride ${spec.stride} in '${spec.name}'`);
    }
  }
}

/**
 * A feedback output is answered when a later stage reads its slot through a `feedback` port on every frame
 * (no `when`/`unless`): without one, the writer waits for ever for an answer that never comes.
 */
function checkFeedback(
  answered: { node: StageNode; need: Extract<TypeNeed, { answered: string }> }[],
  reads: { node: StageNode; port: string; slot: string; writer: string }[],
  fail: PlanFailure,
): void {
  for (const { node, need } of answered) {
    const slot = node.outputs[need.answered];
    const reader = slot === undefined ? undefined : reads.find((r) => r.slot === slot && r.writer === node.id);
    if (!reader) {
      const { message, at } = need.unanswered(slot);
      fail(node, message, at);
    }
    const consumer = reader.node;
    if (consumer.when !== undefined || consumer.unless !== undefined) {
      fail(
        consumer,
        `reads the ${reader.port} reference of stage '${node.id}', so it must run on every frame (no ` +
          `'when'/'unless'); a skipped answer would stall '${node.id}' for ever`,
        consumer.when !== undefined ? "when" : "unless",
        true,
      );
    }
  }
}

/** `float32 NCHW tensor, 11 channels, stride 8`: a type as messages and `describe` show it. */
export function typeText(type: SlotType): string {
  const parts = [[type.dtype, type.layout, type.kind === "labels" ? "label map" : type.kind].filter(Boolean).join(" ")];
  if (type.channels !== undefined) parts.push(`${type.channels} channels`);
  if (type.stride !== undefined) parts.push(`stride ${type.stride}`);
  if (type.grid) parts.push(`${type.grid[0]}x${type.grid[1]} grid`);
  return parts.join(", ");
}

function modelOf(graph: LoadedGraph, name: string): ModelCard {
  const card = graph.models.get(name);
  if (!card) throw new TypeError(`no model '${name}' under 'models'${suggest(name, graph.models.keys())}`);
  return card;
}

/** The class names of the graph's models, when every model that has classes has the same number. */
function modelSetClasses(graph: LoadedGraph): string[] | undefined {
  const lists = [...graph.models.values()].flatMap((card) => (card.classes ? [card.classes.names] : []));
  const first = lists[0];
  return first && lists.every((names) => names.length === first.length) ? first : undefined;
}
