/**
 * The `first-mask` stage: a stream's first-frame object mask, on every frame of the stream. With `labels` it is
 * the "copy the first mask" baseline of video object segmentation; with `scores` (one-hot, [1,O,H,W]) it feeds
 * `warp` for the "warp the previous mask by flow" baseline. The mask comes from `first_mask` (a PNG: DAVIS 2017
 * palette ids or 2016 0/255), else from the source's ground truth on the stream's first frame.
 *
 * @module
 */
import { defineStage } from "../engine/stage.ts";
import { perStream } from "../engine/stage_state.ts";
import type { Tensor } from "../engine/tensor.ts";
import { readFirstMask } from "./_first_mask_file.ts";
import { oneHotOp } from "./_one_hot_graph.ts";
import { checkFirstMaskIds, checkFirstMaskSize } from "./_mask_size.ts";
import { labelsType } from "../engine/graph_channels.ts";

/** The `first-mask` stage kind. */
export const firstMask = defineStage({
  kind: "first-mask",
  role: "stage",
  doc: "The stream's first-frame object mask on every frame (VOS baselines): labels, or one-hot scores",
  params: {
    objects: { type: "integer", min: 2, max: 255, default: 8, doc: "object ids 0..objects-1 for 'scores'" },
    first_mask: { type: "string", doc: "PNG with the first frame's object ids (else the ground truth)" },
  },
  inputs: [],
  outputs: [
    { name: "labels", doc: "the first mask, uint8 [1,H,W]", type: "tensor", kind: "labels", optional: true },
    { name: "scores", doc: "the first mask one-hot, float32 [1,objects,H,W]", type: "tensor", optional: true },
  ],
  types: (p) => ({
    outputs: {
      labels: labelsType(1),
      scores: { kind: "tensor", dtype: "float32", layout: "NCHW", channels: p.objects, stride: 1 },
    },
  }),
  state: { initial: (): { mask?: Uint8Array; scores?: Promise<Tensor> } => ({}), limit: 8 },
  async create(ctx) {
    const file = ctx.params.first_mask ? await readFirstMask(ctx.params.first_mask) : undefined;
    const oneHot = oneHotOp(ctx, ctx.params.objects);
    return perStream(ctx, async (frame, state) => {
      const { width, height } = frame.image;
      if (!state.mask) {
        const source = file ?? (frame.truth?.mask ? { width, height, data: frame.truth.mask } : undefined);
        if (!source) {
          throw new ReferenceError("the stream's first frame has no object mask (ground truth or first_mask)");
        }
        checkFirstMaskSize(file ? ctx.params.first_mask : undefined, source, frame);
        if (file && ctx.outputs.scores) checkFirstMaskIds(ctx.params.first_mask!, file.data, ctx.params.objects);
        state.mask = source.data.slice();
        // One-hot once per stream (an ONNX graph, `_one_hot_graph.ts`): every frame shares the tensor (nothing
        // reads it mutably).
        if (ctx.outputs.scores) state.scores = oneHot(state.mask, height, width, frame);
      }
      if (ctx.outputs.labels) {
        frame.slots.set(ctx.outputs.labels, { type: "uint8", dims: [1, height, width], data: state.mask });
      }
      if (ctx.outputs.scores) {
        frame.slots.set(ctx.outputs.scores, await state.scores!);
      }
    });
  },
});
