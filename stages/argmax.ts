/**
 * The `argmax` stage: class scores -> label map at the frame's size (bilinear resize of the scores, then
 * argmax over classes), as one ONNX graph run in the worker pool. For graphs whose scores come from
 * several models (fusion, warped heads); a single `model` stage can write labels itself.
 *
 * @module
 */
import { defineStage, keepResident, perFrame, readSlot } from "../engine/stage.ts";
import type { TensorLike } from "../engine/tensor.ts";
import { imageSizeTensor, labelHead, labelHeadGraph, labelSizeInput } from "./_label_head.ts";
import { classesBy, labelsType } from "../engine/graph_channels.ts";
import { typeText } from "../engine/plan.ts";
import type { TypeNeed } from "../engine/plan_types.ts";

/** Builds `scores` [N,C,h,w] + `[H,W]` -> `labels` uint8 [N,H,W] (or on the scores' grid when native). */
export function buildArgmaxGraph(size: "image" | "native"): Uint8Array {
  return labelHeadGraph(labelHead("scores", size), { name: `argmax-${size}` });
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
  inputs: [{ name: "scores", doc: "class scores [1,C,h,w]", type: "tensor", resident: true }],
  outputs: [{
    name: "labels",
    doc: "class id per pixel, uint8 [1,H,W]",
    type: "tensor",
    kind: "labels",
    resident: true,
  }],
  types(p, env, inputs) {
    const scores = inputs.scores;
    const needs: TypeNeed[] = [];
    if (scores?.type.kind === "labels") {
      needs.push({
        message: `input 'scores' is slot '${scores.slot}', a label map, not class scores (${typeText(scores.type)})`,
      });
    }
    if (env.classes) needs.push({ port: "scores", channels: env.classes.length, by: classesBy(env.classes) });
    return { needs, outputs: { labels: labelsType(p.size === "native" ? scores?.type.stride : 1) } };
  },
  async create(ctx) {
    const size = ctx.params.size as "image" | "native";
    const graph = await ctx.op(`argmax-${size}`, () => buildArgmaxGraph(size));
    return perFrame(ctx, async (frame) => {
      const feeds: Record<string, TensorLike> = { scores: readSlot<TensorLike>(frame, ctx.inputs.scores!) };
      if (size === "image") feeds[labelSizeInput] = imageSizeTensor(frame.image.width, frame.image.height);
      const { labels } = await graph.run(feeds, ["labels"], frame, { keep: keepResident(ctx, ["labels"]) });
      frame.slots.set(ctx.outputs.labels!, labels!);
    }, { concurrency: 2 });
  },
});
