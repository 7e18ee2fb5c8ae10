/**
 * Compiling a validated graph into a typed plan: every slot gets a {@linkcode SlotType} (kind; dtype, layout,
 * channels and grid stride for tensors) and a location, in stage order. The frame is the `image` slot; each
 * stage kind types its own outputs (`StageDefinition.types`, from its cards and inputs), and ports it does
 * not type get their declared kind. Where a slot meets a port, what the reading stage needs (`TypeNeed`s,
 * plus the engine's rules: a model parameter's inputs match its card, a `labels` port reads a label map) is
 * checked; mismatches are reported through `fail`. Feedback inputs (back edges) are checked once every stage's
 * outputs are known: each reads a later stage's feedback output, written on every frame, with no stage between them
 * that splits or merges frames.
 *
 * @example
 * ```ts
 * const plan = compilePlan(graph);
 * plan.slots.get("scores")?.type; // { kind: "tensor", dtype: "float32", layout: "NCHW", channels: 11, stride: 8 }
 * ```
 *
 * @module
 */
import type { LoadedGraph, StageNode } from "./graph_types.ts";
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
  // Back edges: feedback inputs are read from a later stage, so they are checked once every output is known.
  const feedbackReads: FeedbackRead[] = [];
  const writes = new Map<string, SlotWrite[]>();
  const nodes = [...graph.stages, ...graph.sinks];
  for (const [index, node] of nodes.entries()) {
    const inputPorts = portsOf(graph, node, "inputs");
    const inputs: Record<string, InputType> = {};
    for (const [port, slot] of Object.entries(node.inputs)) {
      const decl = inputPorts.find((p) => p.name === port);
      if (decl?.kind === "feedback") {
        feedbackReads.push({ node, index, port: decl, slot });
        continue;
      }
      const written = slots.get(slot);
      if (!written) continue;
      inputs[port] = { slot, type: written.type, writer: written.writer };
      written.readers.push(node.id);
    }
    for (const slot of [node.when, node.unless]) if (slot !== undefined) slots.get(slot)?.readers.push(node.id);
    const typing = node.definition.types?.(node.params as never, env, inputs, node.outputs) ?? {};
    const needs = [...engineNeeds(node, inputPorts, inputs, graph), ...(typing.needs ?? [])];
    if (fail) checkNeeds(needs, inputs, (message, at) => fail(node, message, at));
    for (const port of portsOf(graph, node, "outputs")) {
      const slot = node.outputs[port.name];
      if (slot === undefined) continue;
      writes.set(slot, [...writes.get(slot) ?? [], { node, index, port }]);
      // A copy: stages pass their inputs' types on (warp, hold), and a slot's type is its own.
      const type = { ...typing.outputs?.[port.name] ?? { kind: port.kind ?? port.type } };
      const readers = slots.get(slot)?.readers ?? [];
      slots.set(slot, { name: slot, type, location: "main", writer: node.id, readers });
    }
  }
  if (fail) checkFeedback(nodes, feedbackReads, writes, fail);
  for (const { node, slot } of feedbackReads) slots.get(slot)?.readers.push(node.id);
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
        `map (argmax it first: an 'argmax' stage, or the model stage's 'labels' output)`,
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

/** A feedback input as the plan sees it: its stage (and place in the graph), its port and its slot. */
interface FeedbackRead {
  node: StageNode;
  index: number;
  port: PortDecl;
  slot: string;
}

/** An output binding: the stage (and its place in the graph) and the port writing the slot. */
interface SlotWrite {
  node: StageNode;
  index: number;
  port: PortDecl;
}

/**
 * A feedback input is a back edge the engine can deliver (`engine/stage_state.ts`): the first stage after it that
 * writes its slot does so through a feedback output, on every frame (no `when`/`unless`), and no stage between the
 * two splits frames into regions or merges them back (the two ends would see different frames).
 */
function checkFeedback(
  nodes: StageNode[],
  reads: FeedbackRead[],
  writes: Map<string, SlotWrite[]>,
  fail: PlanFailure,
): void {
  for (const { node, index, port, slot } of reads) {
    const edge = `input '${port.name}' is a feedback input (${port.doc})`;
    const writer = writes.get(slot)?.find((write) => write.index > index);
    if (!writer) {
      const before = writes.get(slot)?.find((write) => write.index < index);
      if (before) {
        fail(
          node,
          `${edge}, but slot '${slot}' is written by stage '${before.node.id}', which runs before it; a feedback ` +
            `input reads what a later stage wrote on the stream's previous frame (bind a normal input to read ` +
            `'${slot}' on the same frame)`,
        );
      }
      const feedback = [...writes].flatMap(([name, list]) =>
        list.some((w) => w.port.kind === "feedback") ? [name] : []
      );
      fail(node, `${edge}, but no later stage writes slot '${slot}'${suggest(slot, feedback)}`);
    }
    if (writer.port.kind !== "feedback") {
      fail(
        node,
        `${edge}, but slot '${slot}' is the '${writer.port.name}' output of stage '${writer.node.id}', which is ` +
          `not a feedback output (bind an output declared as a feedback edge)`,
      );
    }
    const { when, unless } = writer.node;
    if (when !== undefined || unless !== undefined) {
      fail(
        writer.node,
        `writes the feedback edge '${slot}' that stage '${node.id}' reads on each stream's next frame, so it must ` +
          `run on every frame (no 'when'/'unless'); a skipped frame would stall '${node.id}' for ever`,
        when !== undefined ? "when" : "unless",
        true,
      );
    }
    const between = nodes.slice(index + 1, writer.index).find((n) => n.definition.regroups !== undefined);
    if (between) {
      const does = between.definition.regroups === "split"
        ? "splits frames into regions"
        : "merges regions into frames";
      fail(
        node,
        `${edge} from stage '${writer.node.id}', but stage '${between.id}' between them ${does}, so the two ends ` +
          `would see different frames; put both on the same side of '${between.id}'`,
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
