/**
 * The `agreement` stage: how far two class-score maps agree, as 100 x the fraction of cells whose argmax
 * class is the same. DVSNet's ground-truth "confidence score" for training its decision network is exactly
 * this, between the key frame's output warped to the current frame and the segmentation of the current
 * frame (DVSNet compares full-resolution label maps; this compares the maps on their own grid).
 *
 * @module
 */
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";

/** 100 x the fraction of cells where the argmax class of `a` and `b` ([1,C,h,w], same shape) agree. */
export function argmaxAgreement(a: Tensor, b: Tensor): number {
  if (a.dims.join() !== b.dims.join()) throw new RangeError(`score maps differ in shape: [${a.dims}] vs [${b.dims}]`);
  const [, channels, h, w] = a.dims as number[];
  const plane = h! * w!;
  const da = a.data as Float32Array, db = b.data as Float32Array;
  let same = 0;
  for (let i = 0; i < plane; i++) {
    let ba = 0, bb = 0;
    for (let c = 1; c < channels!; c++) {
      if (da[c * plane + i]! > da[ba * plane + i]!) ba = c;
      if (db[c * plane + i]! > db[bb * plane + i]!) bb = c;
    }
    if (ba === bb) same++;
  }
  return plane ? (100 * same) / plane : 100;
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
  create(ctx) {
    return perFrame(ctx, (frame) => {
      const value = argmaxAgreement(
        readSlot<Tensor>(frame, ctx.inputs.scores!),
        readSlot<Tensor>(frame, ctx.inputs.reference!),
      );
      frame.slots.set(ctx.outputs.agreement!, value);
    });
  },
});
