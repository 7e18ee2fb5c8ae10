/**
 * The `agreement` stage: how far two class-score maps agree, as 100 x the fraction of cells whose argmax
 * class is the same. DVSNet's ground-truth "confidence score" for training its decision network is exactly
 * this, between the key frame's output warped to the current frame and the segmentation of the current
 * frame (DVSNet compares full-resolution label maps; this compares the maps on their own grid). The count of
 * agreeing cells is an ONNX graph (`_agreement_graph.ts`: ArgMax, Equal, ReduceSum) run in the worker pool.
 *
 * @module
 */
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";
import { agreementGraphKey, buildAgreementGraph } from "./_agreement_graph.ts";

/** Throws a `RangeError` unless `a` and `b` are float32 score maps [1,C,h,w] of the same shape. */
export function checkAgreementInputs(a: Tensor, b: Tensor): void {
  if (a.dims.join() !== b.dims.join()) throw new RangeError(`score maps differ in shape: [${a.dims}] vs [${b.dims}]`);
  if (a.type !== "float32" || b.type !== "float32" || a.dims.length !== 4 || a.dims[0] !== 1) {
    throw new RangeError(`score maps must be float32 [1,C,h,w], got ${a.type} [${a.dims}] and ${b.type} [${b.dims}]`);
  }
}

/** The `agreement` stage kind. */
export const agreement = defineStage({
  kind: "agreement",
  role: "stage",
  doc: "100 x the fraction of cells where two score maps pick the same class (DVSNet's confidence score)",
  params: {},
  inputs: [
    { name: "scores", doc: "class scores [1,C,h,w], e.g. the warped key output", type: "tensor" },
    { name: "reference", doc: "class scores of the same shape, e.g. this frame's segmentation", type: "tensor" },
  ],
  outputs: [{ name: "agreement", doc: "0..100", type: "number" }],
  types: () => ({ needs: [{ same: ["scores", "reference"] }] }),
  async create(ctx) {
    const graph = await ctx.op(agreementGraphKey, buildAgreementGraph);
    return perFrame(ctx, async (frame) => {
      const a = readSlot<Tensor>(frame, ctx.inputs.scores!), b = readSlot<Tensor>(frame, ctx.inputs.reference!);
      checkAgreementInputs(a, b);
      const cells = a.dims[2]! * a.dims[3]!;
      let value = 100;
      if (cells > 0 && a.dims[1]! > 0) {
        const { same } = await graph.run({ a, b }, ["same"], frame);
        value = (100 * Number((same!.data as BigInt64Array)[0])) / cells;
      }
      frame.slots.set(ctx.outputs.agreement!, value);
    }, { concurrency: 2 });
  },
});
