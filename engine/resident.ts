/**
 * Tensors that stay in the model workers: which slots are resident (decided once at graph start), and how long
 * each resident tensor lives.
 *
 * - **Which slots.** A slot is resident when every stage writing it does so from a worker run (its output port is
 *   declared `resident`), some port reads it, and every port reading it accepts a handle (input port declared `resident`: the value
 *   goes to an ONNX run as it is). Sinks, `when`/`unless`, slots named in a stage's `slots` parameter and the
 *   caller's `hostSlots` always get host tensors; a stage that reads undeclared slots (`readsAnySlot`, test
 *   probes) keeps every slot on the host.
 * - **Lifetimes.** A handle a stage receives for a frame belongs to the frame's scope (one per admitted frame,
 *   shared by its region frames) and is freed when the frame's credit returns. A stage that keeps a handle past
 *   its frame (warp's key map, Accel's previous map) retains it and releases it when it replaces it or at close;
 *   the worker frees a tensor once no scope and no stage holds it.
 *
 * @module
 */
import type { Frame } from "./frame.ts";
import type { StageNode } from "./graph_types.ts";
import type { ModelCard } from "./model_card.ts";
import type { PortDecl, StageEnvironment } from "./stage.ts";
import type { TensorHandle } from "./tensor.ts";

/** Slots that stay in the workers, for a graph's stages and sinks. */
export function residentSlots(
  nodes: readonly StageNode[],
  models: ReadonlyMap<string, ModelCard>,
  hostSlots: Iterable<string> = [],
): Set<string> {
  const env: StageEnvironment = {
    model(name) {
      const card = models.get(name);
      if (!card) throw new Error(`no model '${name}'`);
      return card;
    },
  };
  const ports = (node: StageNode, which: "inputs" | "outputs"): PortDecl[] => {
    const decl = node.definition[which];
    try {
      return typeof decl === "function" ? decl(node.params as never, env) : decl;
    } catch {
      return [];
    }
  };
  if (nodes.some((node) => node.definition.readsAnySlot)) return new Set();
  const candidates = new Set<string>();
  const read = new Set<string>();
  const host = new Set<string>(hostSlots);
  host.add("image");
  for (const node of nodes) {
    const outputs = new Map(ports(node, "outputs").map((p) => [p.name, p]));
    for (const [port, slot] of Object.entries(node.outputs)) {
      if (node.role === "stage" && outputs.get(port)?.resident) candidates.add(slot);
      else host.add(slot);
    }
    const inputs = new Map(ports(node, "inputs").map((p) => [p.name, p]));
    for (const [port, slot] of Object.entries(node.inputs)) {
      read.add(slot);
      if (node.role === "sink" || !inputs.get(port)?.resident) host.add(slot);
    }
    if (node.when) host.add(node.when);
    if (node.unless) host.add(node.unless);
    const named = (node.params as Record<string, unknown>).slots;
    if (Array.isArray(named)) { for (const slot of named) if (typeof slot === "string") host.add(slot); }
  }
  // A slot nobody reads is the caller's (a run without sinks, read in `onFrame`): on the host.
  for (const slot of candidates) if (!read.has(slot)) host.add(slot);
  // An output that may be its input passed on unchanged puts that input on the host when it is there itself.
  const passed: [string, string][] = [];
  for (const node of nodes) {
    for (const port of ports(node, "outputs")) {
      const output = node.outputs[port.name];
      const input = port.passes ? node.inputs[port.passes] : undefined;
      if (output && input) passed.push([output, input]);
    }
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const [output, input] of passed) {
      if (host.has(output) && !host.has(input)) changed = Boolean(host.add(input));
    }
  }
  return new Set([...candidates].filter((slot) => !host.has(slot)));
}

/** The scope a frame's handles belong to; region frames copy the property and so share their parent's. */
const scopeKey: unique symbol = Symbol("segflow.residentScope");

interface Scope {
  handles: TensorHandle[];
}

type Scoped = Frame & { [scopeKey]?: Scope };

/** Reference counts of the resident tensors of one run. */
export class ResidentRegistry {
  readonly #refs = new Map<TensorHandle, number>();

  /** `free` drops tensors in their workers. */
  constructor(private readonly free: (handles: TensorHandle[]) => void) {}

  /** Gives a frame its scope (at admission). */
  open(frame: Frame): void {
    (frame as Scoped)[scopeKey] = { handles: [] };
  }

  /** A handle made for `frame`: its frame holds it until the credit returns (no frame: the caller holds it). */
  adopt(handle: TensorHandle, frame?: Frame): void {
    this.#refs.set(handle, 1);
    const scope = frame ? (frame as Scoped)[scopeKey] : undefined;
    if (frame && !scope) {
      throw new Error(`Internal error: a resident tensor was made for frame ${frame.index} outside its lifetime`);
    }
    scope?.handles.push(handle);
  }

  /** Moves a hold the caller has into `frame`'s scope. */
  own(handle: TensorHandle, frame: Frame): void {
    const scope = (frame as Scoped)[scopeKey];
    if (!scope) throw new Error(`Internal error: frame ${frame.index} has no resident scope`);
    if (!this.#refs.has(handle)) throw new Error(`Internal error: resident tensor ${handle.id} was already freed`);
    scope.handles.push(handle);
  }

  /** Keeps a handle past its frame (stage state); pair with {@linkcode release}. */
  retain(handle: TensorHandle): void {
    const refs = this.#refs.get(handle);
    if (refs === undefined) throw new Error(`Internal error: resident tensor ${handle.id} was already freed`);
    this.#refs.set(handle, refs + 1);
  }

  /** Drops one hold; the tensor is freed in its worker when none is left. */
  release(handle: TensorHandle): void {
    const refs = this.#refs.get(handle);
    if (refs === undefined) return;
    if (refs > 1) {
      this.#refs.set(handle, refs - 1);
      return;
    }
    this.#refs.delete(handle);
    this.free([handle]);
  }

  /** The frame's credit returned: its handles are released (once, even if called again). */
  close(frame: Frame): void {
    const scope = (frame as Scoped)[scopeKey];
    if (!scope) return;
    for (const handle of scope.handles.splice(0)) this.release(handle);
  }

  /** Resident tensors held now, and their bytes. */
  get count(): number {
    return this.#refs.size;
  }

  /** (Pending handles, whose fused call has not answered yet, count 0.) */
  get bytes(): number {
    let bytes = 0;
    for (const handle of this.#refs.keys()) bytes += handle.bytes;
    return bytes;
  }
}
