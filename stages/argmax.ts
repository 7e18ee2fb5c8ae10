/**
 * The `argmax` stage: class scores -> label map at the frame's size (bilinear resize of the scores, then
 * argmax over classes), as one ONNX graph run in the worker pool. For graphs whose scores come from
 * several models (fusion, warped heads); a single `segment` stage can write labels itself.
 *
 * @module
 */
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import { buildModel } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";
import { imageSizeTensor, labelHead, labelSizeInput } from "./segment.ts";

/** Builds `scores` [N,C,h,w] + `[H,W]` -> `labels` uint8 [N,H,W] (or on the scores' grid when native). */
export function buildArgmaxGraph(size: "image" | "native"): Uint8Array {
  const head = labelHead("scores", size);
  return buildModel({
    name: `argmax-${size}`,
    inputs: [{ name: "scores", type: "float32", shape: ["N", "C", "h", "w"] }, ...(head.inputs ?? [])],
    outputs: head.outputs,
    initializers: head.initializers ?? [],
    nodes: head.nodes,
  });
}

/** The `argmax` stage kind. */
export const argmax = defineStage({
  kind: "argmax",
  role: "stage",
  doc: "Class scores to a label map at the frame's size (resize + argmax in ONNX)",
  params: {
    size: {
      type: "string",
      oneOf: ["image", "native"],
      default: "image",
      doc: "labels at the frame's size, or on the scores' own grid",
    },
  },
  inputs: [{ name: "scores", doc: "class scores [1,C,h,w]", type: "tensor" }],
  outputs: [{ name: "labels", doc: "class id per pixel, uint8 [1,H,W]", type: "tensor" }],
  async create(ctx) {
    const size = ctx.params.size as "image" | "native";
    const graph = await ctx.op(`argmax-${size}`, () => buildArgmaxGraph(size));
    return perFrame(ctx, async (frame) => {
      const feeds: Record<string, Tensor> = { scores: readSlot<Tensor>(frame, ctx.inputs.scores!) };
      if (size === "image") feeds[labelSizeInput] = imageSizeTensor(frame.image.width, frame.image.height);
      const { labels } = await graph.run(feeds, ["labels"], frame);
      frame.slots.set(ctx.outputs.labels!, labels!);
    }, { concurrency: 2 });
  },
});
