/**
 * The `flow` stage: runs an optical-flow model on two frames, the current one and a reference: the last
 * key frame (`reference: key`, DFF) or the previous frame (`reference: previous`, Accel's incremental
 * warping). The model's outputs (`flow` [1,2,h,w] in pixels of its own grid, backward: from the current
 * frame to the reference; optionally deep `features`) go to slots.
 *
 * On a key frame (`key` bound and true) and on the first frame of a stream no model runs: the frame becomes
 * the reference, and a bound `flow` output gets an all-zero flow of the model's output size. With
 * `reference: previous`, binding `key` saves the flow on key frames, whose features are fresh anyway.
 *
 * @module
 */
import { defineStage, perFrame, type PortDecl, readSlot, type StageEnvironment } from "../engine/stage.ts";
import { imageToTensor } from "../engine/image_tensor.ts";
import { shrinkImage } from "../engine/image_resize.ts";
import type { Frame, RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";

const params = {
  model: { type: "model", required: true, doc: "flow model from the graph's 'models'" },
  reference: {
    type: "string",
    oneOf: ["key", "previous"],
    default: "key",
    doc: "flow back to the last key frame, or to the previous frame",
  },
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

/** The model's input size for a frame: `scale` times the frame, each side a multiple of `multiple` (>= one). */
export function flowInputSize(
  width: number,
  height: number,
  scale: number,
  multiple: number,
): { width: number; height: number } {
  if (scale === 1) return { width, height };
  const side = (n: number) => Math.max(multiple, Math.round((n * scale) / multiple) * multiple);
  return { width: side(width), height: side(height) };
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
  outputs: (p, env: StageEnvironment): PortDecl[] =>
    env.model(p.model).outputs.map((o) => ({
      name: o.name,
      doc: `model output ${o.dtype} [${o.shape}]${o.stride ? ` stride ${o.stride}` : ""}`,
      type: "tensor",
    })),
  validate(p, env) {
    const card = env.model(p.model);
    for (const name of [p.reference_input, p.current_input]) {
      if (!card.inputs.some((i) => i.name === name)) {
        throw new TypeError(`model '${p.model}' has no input '${name}' (set 'reference_input'/'current_input')`);
      }
    }
    if (card.inputs.length !== 2) throw new TypeError(`flow model '${p.model}' must take exactly two frames`);
  },
  async create(ctx) {
    const card = ctx.card(ctx.params.model);
    const model = await ctx.model(ctx.params.model);
    const referenceSpec = card.inputs.find((i) => i.name === ctx.params.reference_input)!;
    const currentSpec = card.inputs.find((i) => i.name === ctx.params.current_input)!;
    const flowSpec = card.outputs.find((o) => o.name === "flow");
    const fetches = Object.keys(ctx.outputs);
    let reference: { stream: string; image: RgbImage } | undefined;
    const byKey = ctx.params.reference === "key";
    const shrink = (image: RgbImage) => {
      const size = flowInputSize(image.width, image.height, ctx.params.scale, card.multipleOf);
      return shrinkImage(image, size.width, size.height);
    };

    const zeroFlow = (frame: Frame, image: RgbImage) => {
      const slot = ctx.outputs.flow;
      if (!slot || !flowSpec) return;
      const stride = flowSpec.stride ?? 1;
      const h = Math.ceil(image.height / stride), w = Math.ceil(image.width / stride);
      frame.slots.set(slot, { type: "float32", dims: [1, 2, h, w], data: new Float32Array(2 * h * w) });
    };
    return perFrame(ctx, async (frame) => {
      const image = shrink(readSlot<RgbImage>(frame, ctx.inputs.image!));
      const isKey = ctx.inputs.key ? readSlot<boolean>(frame, ctx.inputs.key) : false;
      if (!reference || reference.stream !== frame.stream || isKey) {
        reference = { stream: frame.stream, image };
        zeroFlow(frame, image);
        return;
      }
      const feeds: Record<string, Tensor> = {
        [referenceSpec.name]: imageToTensor(reference.image, referenceSpec, card.preprocessing, card.multipleOf),
        [currentSpec.name]: imageToTensor(image, currentSpec, card.preprocessing, card.multipleOf),
      };
      const outputs = await model.run(feeds, fetches, frame);
      for (const port of fetches) frame.slots.set(ctx.outputs[port]!, outputs[port]!);
      if (!byKey) reference = { stream: frame.stream, image };
    });
  },
});
