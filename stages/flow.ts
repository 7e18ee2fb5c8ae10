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
import { defineStage, perFrame, type PortDecl, readSlot, type StageEnvironment } from "../engine/stage.ts";
import { assertModelFits, imageToTensor, padToMultiple } from "../engine/image_tensor.ts";
import { cropGrid } from "../engine/grid.ts";
import { shrinkImage } from "../engine/image_resize.ts";
import type { Frame, RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import { StreamQueue, StreamState } from "../engine/stream_state.ts";
import { waitFor } from "../engine/work_time.ts";

interface FlowState {
  reference?: FlowInput;
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

/** The handle a `reference: decided` flow stage writes; the deciding stage commits the frame's decision. */
export interface PendingReference {
  [key: string]: unknown;
  /** `true`: this frame becomes its stream's key frame. */
  commit(isKey: boolean): void;
}

/** Adaptive average pooling (PyTorch's cell bounds) of a [1,C,h,w] map to [1,C,rows,cols]. */
export function poolToGrid(map: Tensor, rows: number, cols: number): Tensor {
  const [, channels, h, w] = map.dims as number[];
  const data = map.data as Float32Array;
  const out = new Float32Array(channels! * rows * cols);
  for (let c = 0; c < channels!; c++) {
    for (let i = 0; i < rows; i++) {
      const y0 = Math.floor((i * h!) / rows), y1 = Math.ceil(((i + 1) * h!) / rows);
      for (let j = 0; j < cols; j++) {
        const x0 = Math.floor((j * w!) / cols), x1 = Math.ceil(((j + 1) * w!) / cols);
        let sum = 0;
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += data[(c * h! + y) * w! + x]!;
        out[(c * rows + i) * cols + j] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return { type: "float32", dims: [1, channels!, rows, cols], data: out };
}

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
    })),
    ...(p.reference === "decided"
      ? [{
        name: "pending",
        doc: "handle for the stage that decides the key (decide: confidence)",
        type: "record" as const,
      }]
      : []),
  ],
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
    const states = new StreamState<FlowState>(() => ({ decided: Promise.resolve() }));
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
    const runModel = async (frame: Frame, reference: FlowInput, input: FlowInput) => {
      const feeds: Record<string, Tensor> = {
        [referenceSpec.name]: imageToTensor(reference.image, referenceSpec, card.preprocessing, card.multipleOf),
        [currentSpec.name]: imageToTensor(input.image, currentSpec, card.preprocessing, card.multipleOf),
      };
      const outputs = await model.run(feeds, fetches, frame);
      for (const port of fetches) {
        const [rows, cols] = input.cells(strides.get(port)!);
        const value = cropGrid(outputs[port]!, rows, cols);
        frame.slots.set(
          ctx.outputs[port]!,
          port === "features" && grid ? poolToGrid(value, grid[0]!, grid[1]!) : value,
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
          // Bound deep features still need the model (the frame against itself); the flow is exactly zero.
          if (ctx.outputs.features) await runModel(frame, image, image);
          zeroFlow(frame, image);
          return;
        }
        await runModel(frame, state.reference, image);
        if (mode === "previous") state.reference = image;
      }), { concurrency: 4 });
  },
});
