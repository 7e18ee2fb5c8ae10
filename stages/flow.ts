/**
 * The `flow` stage: runs an optical-flow model on two frames, the current one and a reference: the last
 * key frame (`reference: key`, DFF) or the previous frame (`reference: previous`, Accel's incremental
 * warping). The model's outputs (`flow` [1,2,h,w] in pixels of its own grid, backward: from the current
 * frame to the reference; optionally deep `features`) go to slots.
 *
 * On a key frame (`key` bound and true) and on the first frame of a stream the frame becomes the reference,
 * and a bound `flow` output gets an all-zero flow of the model's output size; the model runs only if the
 * `features` output is bound (the frame against itself, for DVSNet's test cases at distance 0). With
 * `reference: previous`, binding `key` saves the flow on key frames, whose features are fresh anyway.
 *
 * @module
 */
import {
  defineStage,
  keepResident,
  perFrame,
  type PortDecl,
  readSlot,
  type StageEnvironment,
} from "../engine/stage.ts";
import { assertModelFits, imageToTensor, padToMultiple } from "../engine/image_tensor.ts";
import { cropGrid } from "../engine/grid.ts";
import { shrinkImage } from "../engine/image_resize.ts";
import type { Frame, RgbImage } from "../engine/frame.ts";
import { isHandle, type TensorHandle, type TensorLike } from "../engine/tensor.ts";
import { StreamQueue, StreamState } from "../engine/stream_state.ts";
import { waitFor } from "../engine/work_time.ts";
import { gridPooler } from "./_pool_graph.ts";
import { specType } from "../engine/graph_channels.ts";
import type { SlotType } from "../engine/plan_types.ts";
import type { PendingReference } from "./_feedback.ts";

interface FlowState {
  reference?: FlowInput;
  /** The reference frame kept in the model worker (when the flow slot stays there): sent once, fed by handle. */
  referenceHandle?: TensorHandle;
  /** `reference: decided`: settles when the previous frame's decision is in. */
  decided: Promise<void>;
}

const params = {
  model: { type: "model", required: true, doc: "flow model from the graph's 'models'" },
  reference: {
    type: "string",
    oneOf: ["key", "previous", "decided"],
    default: "key",
    doc: "flow back to the last key frame, the previous frame, or the key a later decide stage picks",
  },
  features_grid: { type: "numbers", doc: "average-pool the 'features' output to [rows, cols]" },
  reference_input: { type: "string", default: "reference", doc: "model input that takes the reference frame" },
  current_input: { type: "string", default: "current", doc: "model input that takes the current frame" },
  scale: {
    type: "number",
    default: 1,
    min: 0.1,
    max: 1,
    doc: "run the model on frames shrunk to this fraction of their size (DFF: 0.5)",
  },
} as const;

export type { PendingReference } from "./_feedback.ts";

/**
 * The model's input size for a frame shrunk by a `scale` whose inverse is not a whole number: `scale` times
 * the frame, each side rounded to a multiple of `multiple` (at least one); the frame is resampled to it, so
 * the output grid spans the frame exactly.
 */
export function flowInputSize(
  width: number,
  height: number,
  scale: number,
  multiple: number,
): { width: number; height: number } {
  if (scale === 1 && width % multiple === 0 && height % multiple === 0) return { width, height };
  const side = (n: number) => Math.max(multiple, Math.round((n * scale) / multiple) * multiple);
  return { width: side(width), height: side(height) };
}

/** A frame made ready for the flow model, and the grid a model output of a given stride has on the frame. */
export interface FlowInput {
  image: RgbImage;
  /** `[rows, cols]` of a model output with this stride (in model input pixels), cropped to the frame. */
  cells(stride: number): [number, number];
}

/**
 * Prepares a frame for the flow model. When 1 / `scale` is a whole number f (DFF's 0.5), the frame is padded
 * (edge replicated) to a multiple of f x `multiple` and shrunk by exactly f, so a stride-s output is a padded
 * grid of stride s*f frame pixels, cropped to ceil(W / (s*f)) cells: the same geometry as every other model's
 * grid (`engine/grid.ts`). Other scales resample the frame to {@linkcode flowInputSize}.
 */
export function prepareFlowInput(frame: RgbImage, scale: number, multiple: number): FlowInput {
  const factor = Math.round(1 / scale);
  if (Math.abs(1 / scale - factor) < 1e-6) {
    // Shrinking first pads the smaller image; the geometry is the same either way.
    const divisible = frame.width % factor === 0 && frame.height % factor === 0;
    const padded = divisible ? frame : padToMultiple(frame, factor);
    const image = padToMultiple(shrinkImage(padded, padded.width / factor, padded.height / factor), multiple);
    return {
      image,
      cells: (stride) => [Math.ceil(frame.height / (stride * factor)), Math.ceil(frame.width / (stride * factor))],
    };
  }
  const size = flowInputSize(frame.width, frame.height, scale, multiple);
  return {
    image: shrinkImage(frame, size.width, size.height),
    cells: (stride) => [Math.ceil(size.height / stride), Math.ceil(size.width / stride)],
  };
}

/** The `flow` stage kind. */
export const flow = defineStage({
  kind: "flow",
  role: "stage",
  doc: "Optical flow from the current frame back to the key frame or the previous frame",
  params,
  inputs: (p): PortDecl[] => [
    { name: "image", doc: "the frame", type: "image" },
    {
      name: "key",
      doc: "true on key frames (needed with reference: key)",
      type: "boolean",
      optional: p.reference !== "key",
    },
  ],
  outputs: (p, env: StageEnvironment): PortDecl[] => [
    ...env.model(p.model).outputs.map((o): PortDecl => ({
      name: o.name,
      doc: `model output ${o.dtype} [${o.shape}]${o.stride ? ` stride ${o.stride}` : ""}`,
      type: "tensor",
      optional: true,
      // The flow goes to warp's ONNX run as it is; pooled features are read on the main thread (decide).
      resident: o.name === "flow",
    })),
    ...(p.reference === "decided"
      ? [{
        name: "pending",
        doc: "handle for the stage that decides the key (decide: confidence)",
        type: "record" as const,
        kind: "feedback" as const,
      }]
      : []),
  ],
  portsDoc: {
    inputs: ["image", "key (optional unless reference: key)"],
    outputs: ["<one per model output, e.g. flow, features>", "pending (reference: decided, a feedback edge)"],
  },
  types(p, env) {
    const outputs: Record<string, SlotType> = {};
    // The model runs on frames shrunk by `scale`: a stride-s output is a stride s/scale grid on the frame.
    for (const spec of env.model(p.model).outputs) outputs[spec.name] = specType(spec, p.scale);
    const grid = p.features_grid, features = outputs.features;
    if (features && grid?.length === 2) {
      delete features.stride;
      features.grid = [grid[0]!, grid[1]!];
    }
    if (p.reference !== "decided") return { outputs };
    // The pending handle is a back edge: each frame waits for a decide stage's answer on the frame before.
    const unanswered = (slot: string | undefined) => ({
      at: slot === undefined ? "out" : "reference",
      message: `'reference: decided' waits for a decide stage (policy: confidence) to read its 'pending' output, ` +
        `but ${slot === undefined ? "its 'pending' output is not bound" : `no decide stage reads slot '${slot}'`}; ` +
        `every frame would wait for ever (bind out: {pending: SLOT} and the decide stage's in: {pending: SLOT}, ` +
        `or use 'reference: key')`,
    });
    return { outputs, needs: [{ answered: "pending", unanswered }] };
  },
  validate(p, env) {
    const card = env.model(p.model);
    for (const name of [p.reference_input, p.current_input]) {
      if (!card.inputs.some((i) => i.name === name)) {
        throw new TypeError(`model '${p.model}' has no input '${name}' (set 'reference_input'/'current_input')`);
      }
    }
    if (card.inputs.length !== 2) throw new TypeError(`flow model '${p.model}' must take exactly two frames`);
    const grid = p.features_grid;
    if (grid && (grid.length !== 2 || !grid.every((n) => Number.isInteger(n) && n >= 1))) {
      throw new TypeError(`'features_grid' must be [rows, cols] with positive whole numbers, got [${grid}]`);
    }
  },
  async create(ctx) {
    const card = ctx.card(ctx.params.model);
    const model = await ctx.model(ctx.params.model);
    const referenceSpec = card.inputs.find((i) => i.name === ctx.params.reference_input)!;
    const currentSpec = card.inputs.find((i) => i.name === ctx.params.current_input)!;
    const flowSpec = card.outputs.find((o) => o.name === "flow");
    const fetches = Object.keys(ctx.outputs).filter((port) => port !== "pending");
    const mode = ctx.params.reference;
    const grid = ctx.params.features_grid;
    const pool = gridPooler(ctx); // features_grid: adaptive average pooling, an ONNX graph (_pool_graph.ts)
    const forget = (state: FlowState) => {
      if (state.referenceHandle) ctx.release(state.referenceHandle);
      delete state.referenceHandle;
    };
    const states = new StreamState<FlowState>(() => ({ decided: Promise.resolve() }), 64, forget);
    ctx.onClose(() => states.clear());
    // With the flow kept in the worker, so is the reference frame (DFF's key, Accel's previous frame).
    const residentReference = mode !== "decided" && ctx.resident("flow");
    const strides = new Map(card.outputs.map((o) => [o.name, o.stride ?? 1]));
    const prepare = (image: RgbImage) => {
      assertModelFits(card, image.width, image.height, ctx.params.scale);
      return prepareFlowInput(image, ctx.params.scale, card.multipleOf);
    };

    const zeroFlow = (frame: Frame, input: FlowInput) => {
      const slot = ctx.outputs.flow;
      if (!slot || !flowSpec) return;
      const [h, w] = input.cells(flowSpec.stride ?? 1);
      frame.slots.set(slot, { type: "float32", dims: [1, 2, h, w], data: new Float32Array(2 * h * w) });
    };
    const runModel = async (
      frame: Frame,
      reference: FlowInput,
      input: FlowInput,
      state?: FlowState,
      keepFeed?: "reference" | "current",
    ) => {
      const feeds: Record<string, TensorLike> = {
        [referenceSpec.name]: state?.referenceHandle ??
          imageToTensor(reference.image, referenceSpec, card.preprocessing, card.multipleOf),
        [currentSpec.name]: imageToTensor(input.image, currentSpec, card.preprocessing, card.multipleOf),
      };
      const kept = keepFeed === "current"
        ? currentSpec.name
        : keepFeed === "reference" && !state?.referenceHandle
        ? referenceSpec.name
        : undefined;
      const outputs = await model.run(feeds, fetches, frame, {
        keep: keepResident(ctx, fetches, (port) => input.cells(strides.get(port)!)),
        ...(kept ? { keepFeeds: [kept] } : {}),
      });
      if (kept && state) {
        forget(state);
        state.referenceHandle = outputs[`@feed:${kept}`] as TensorHandle;
      }
      for (const port of fetches) {
        const [rows, cols] = input.cells(strides.get(port)!);
        const output = outputs[port]!;
        if (isHandle(output)) {
          frame.slots.set(ctx.outputs[port]!, output);
          continue;
        }
        const value = cropGrid(output, rows, cols);
        frame.slots.set(
          ctx.outputs[port]!,
          port === "features" && grid ? await pool(value, grid[0]!, grid[1]!, frame) : value,
        );
      }
    };
    // Regions are streams of their own: each runs in order, different streams overlap in the workers.
    const queue = new StreamQueue();
    return perFrame(ctx, (frame) =>
      queue.run(frame.stream, async () => {
        const image = prepare(readSlot<RgbImage>(frame, ctx.inputs.image!));
        const state = states.get(frame.stream);
        if (mode === "decided") {
          await waitFor(state.decided, () => ctx.now());
          let answered!: () => void;
          state.decided = new Promise<void>((resolve) => answered = resolve);
          const pending: PendingReference = {
            commit(isKey: boolean) {
              if (isKey) state.reference = image;
              answered();
            },
          };
          frame.slots.set(ctx.outputs.pending!, pending);
          await runModel(frame, state.reference ?? image, image);
          return;
        }
        const isKey = ctx.inputs.key ? readSlot<boolean>(frame, ctx.inputs.key) : false;
        if (!state.reference || isKey) {
          state.reference = image;
          forget(state);
          // Bound deep features still need the model (the frame against itself); the flow is exactly zero.
          if (ctx.outputs.features) await runModel(frame, image, image);
          zeroFlow(frame, image);
          return;
        }
        const keepFeed = !residentReference ? undefined : mode === "previous" ? "current" : "reference";
        await runModel(frame, state.reference, image, state, keepFeed);
        if (mode === "previous") state.reference = image;
      }), { concurrency: 4 });
  },
});
