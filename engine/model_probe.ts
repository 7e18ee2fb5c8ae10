/**
 * The load-time probe of a model: one run on a tiny all-zero input, whose output shapes are compared with
 * the card. The ONNX file's signature is checked statically (names, element types, ranks), but a stride or
 * a channel count the file leaves symbolic shows only when the model runs; without the probe a lying card
 * fails deep inside a stage, frames later, or silently produces misaligned maps.
 *
 * @module
 */
import { relative } from "node:path";
import type { ModelCard, TensorSpec } from "./model_card.ts";
import type { Tensor, TensorData } from "./tensor.ts";

/** A model's shapes disagree with its card. */
export class ModelCardMismatch extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = "ModelCardMismatch";
  }
}

/** The inputs of one probe run, and the frame size they stand for. */
export interface ProbeInput {
  /** Frame side in pixels the inputs correspond to (inputs with a stride are that much smaller). */
  side: number;
  feeds: Record<string, Tensor>;
}

const zeros: Partial<Record<string, (n: number) => TensorData>> = {
  float32: (n) => new Float32Array(n),
  uint8: (n) => new Uint8Array(n),
  int8: (n) => new Int8Array(n),
  int32: (n) => new Int32Array(n),
  int64: (n) => new BigInt64Array(n),
};

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Pixels of the frame per element along a spatial axis of `spec`: its `stride`; else what the axis name says
 * (`H`/`W`: the frame, 1; `h8`: 8); else the stride of another tensor of the card with an axis of that name.
 */
function axisStride(card: ModelCard, spec: TensorSpec, axis: number): number | undefined {
  if (spec.stride !== undefined) return spec.stride;
  const name = spec.shape[axis];
  if (typeof name !== "string") return undefined;
  if (name === "H" || name === "W") return 1;
  const numbered = /^[hw](\d+)$/i.exec(name);
  if (numbered) return Number(numbered[1]) || undefined;
  const other = [...card.inputs, ...card.outputs].find((o) => o.stride !== undefined && o.shape.includes(name));
  return other?.stride;
}

function isSpatial(spec: TensorSpec, axis: number): boolean {
  const letter = spec.layout?.[axis];
  return letter === "H" || letter === "W";
}

/** Sizes of `spec`'s axes for a `side` x `side` frame, or `undefined` when an axis cannot be known. */
function dimsFor(card: ModelCard, spec: TensorSpec, side: number): number[] | undefined {
  const dims: number[] = [];
  for (const [axis, d] of spec.shape.entries()) {
    const stride = isSpatial(spec, axis) ? axisStride(card, spec, axis) : undefined;
    if (typeof d === "number") dims.push(d);
    else if (spec.layout?.[axis] === "N") dims.push(1);
    else if (stride !== undefined) dims.push(Math.ceil(side / stride));
    else return undefined;
  }
  return dims;
}

/**
 * Zero inputs for probe attempt `attempt` (0, 1, 2: each doubles the size): each side `multiple_of` x 4 (or
 * the card's `min_size` if larger), rounded up so every stride of the card divides it. `undefined` when the
 * card leaves an input's size open (a symbolic channel count, no layout) or uses an element type the probe
 * does not make.
 */
export function probeInput(card: ModelCard, attempt = 0): ProbeInput | undefined {
  let unit = card.multipleOf;
  for (const spec of [...card.inputs, ...card.outputs]) {
    for (const axis of spec.shape.keys()) {
      const stride = isSpatial(spec, axis) ? axisStride(card, spec, axis) ?? 1 : 1;
      unit = (unit * stride) / gcd(unit, stride);
    }
  }
  const smallest = Math.max(4 * card.multipleOf, card.minSide);
  const side = Math.ceil(smallest / unit) * unit * 2 ** attempt;
  const feeds: Record<string, Tensor> = {};
  for (const spec of card.inputs) {
    const dims = dimsFor(card, spec, side);
    const make = zeros[spec.dtype];
    if (!dims || !make) return undefined;
    feeds[spec.name] = { type: spec.dtype, dims, data: make(dims.reduce((a, b) => a * b, 1)) };
  }
  return { side, feeds };
}

/**
 * Compares the probe's outputs with the card: every numeric axis (channels), and spatial axes of outputs
 * with a stride (input side / stride, rounded either way).
 *
 * @throws {ModelCardMismatch}
 * `model 'seg' (models/camvid/seg.yaml): output 'scores' is [1,11,8,8] for a 32x32 input, but the card says stride 8 (expected [1,11,4,4])`
 */
export function checkProbeOutputs(card: ModelCard, probe: ProbeInput, outputs: Record<string, Tensor>): void {
  const spatial = card.inputs.some((spec) => spec.shape.some((d) => typeof d === "string"));
  const input = spatial ? `a ${probe.side}x${probe.side} input` : `its input`;
  for (const spec of card.outputs) {
    const actual = outputs[spec.name]?.dims;
    if (!actual) continue;
    const expected = [...actual];
    const reasons: string[] = [];
    if (actual.length !== spec.shape.length) {
      reasons.push(`the card says rank ${spec.shape.length} [${spec.shape.join(", ")}]`);
    }
    spec.shape.forEach((d, axis) => {
      if (axis >= actual.length) return;
      const letter = spec.layout?.[axis];
      if (typeof d === "number") {
        if (actual[axis] === d) return;
        expected[axis] = d;
        reasons.push(letter === "C" ? `the card says ${d} channels` : `the card says axis ${axis} is ${d}`);
      } else if (isSpatial(spec, axis)) {
        const stride = axisStride(card, spec, axis);
        if (stride === undefined) return;
        const exact = probe.side / stride;
        if (actual[axis] === Math.ceil(exact) || actual[axis] === Math.floor(exact)) return;
        expected[axis] = Math.ceil(exact);
        const reason = spec.stride === undefined
          ? `the card says '${d}' (stride ${stride})`
          : `the card says stride ${stride}`;
        if (!reasons.includes(reason)) reasons.push(reason);
      }
    });
    if (reasons.length) {
      throw new ModelCardMismatch(
        `model '${card.name}' (${relative(Deno.cwd(), card.cardFile)}): output '${spec.name}' is ` +
          `[${actual.join(",")}] for ${input}, but ${reasons.join(" and ")} (expected [${expected.join(",")}])`,
      );
    }
  }
}

/** How a probe runs a model: load it under `key`, run it once. */
export interface ProbeRunner {
  load(key: string, model: Uint8Array): Promise<void>;
  run(key: string, feeds: Record<string, Tensor>, fetches: string[]): Promise<{ outputs: Record<string, Tensor> }>;
}

/**
 * Runs `card`'s model once on zeros and checks its output shapes. A model that fails on inputs of the
 * card's shapes at three sizes (the probe's and twice and four times it) does not take what its card says.
 *
 * @throws {ModelCardMismatch} when an output's shape disagrees with the card, or the model fails on every size.
 * @example
 * ```ts
 * await probeModelCard(card, await Deno.readFile(card.onnxFile), pool); // pool: a ModelPool
 * ```
 */
export async function probeModelCard(card: ModelCard, bytes: Uint8Array, runner: ProbeRunner): Promise<void> {
  if (card.outputs.length === 0) return;
  await runner.load(card.onnxFile, bytes);
  let failure: { probe: ProbeInput; error: unknown } | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const probe = probeInput(card, attempt);
    if (!probe) return;
    let outputs: Record<string, Tensor>;
    try {
      ({ outputs } = await runner.run(card.onnxFile, probe.feeds, card.outputs.map((o) => o.name)));
    } catch (error) {
      failure ??= { probe, error };
      continue;
    }
    checkProbeOutputs(card, probe, outputs);
    return;
  }
  if (!failure) return;
  const feeds = Object.entries(failure.probe.feeds).map(([name, t]) => `'${name}' [${t.dims.join(",")}]`);
  const reason = String((failure.error as Error)?.message ?? failure.error).split("\n")[0]!.trim();
  throw new ModelCardMismatch(
    `model '${card.name}' (${relative(Deno.cwd(), card.cardFile)}): does not run on inputs shaped as its card ` +
      `says (${feeds.join(", ")}, and 2x and 4x that size): ${reason}`,
  );
}
