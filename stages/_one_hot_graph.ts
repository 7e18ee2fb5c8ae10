/**
 * The ONNX graph of a label map's one-hot scores (`first-mask`'s and `knn`'s first-frame `scores`): object id
 * per pixel -> float32 [1,O,H,W], 1 where the pixel's id is the channel's, 0 elsewhere (ids >= O: all 0).
 *
 * Formulation: the labels, Cast to int32 [1,1,H,W], Equal against the range 0..O-1 as [1,O,1,1] (broadcast),
 * Cast to float. Only the object count O is built in; the frame size is dynamic.
 *
 * @module
 */
import { buildModel, int, node } from "../engine/onnx/builder.ts";
import type { OnnxRunner, StageContext } from "../engine/stage.ts";
import type { Frame } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";

/** The cache key of the one-hot graph for `objects` objects. */
export function oneHotGraphKey(objects: number): string {
  return `one-hot-o${objects}`;
}

/**
 * Builds the one-hot graph for `objects` objects: input `labels` uint8 [1,H,W] -> `scores` float32 [1,O,H,W].
 * Throws a `RangeError` unless 1 <= `objects` <= 256.
 *
 * @example
 * ```ts
 * const bytes = buildOneHotGraph(8);
 * ```
 */
export function buildOneHotGraph(objects: number): Uint8Array {
  if (!Number.isInteger(objects) || objects < 1 || objects > 256) {
    throw new RangeError(`one-hot graph: 'objects' must be an integer in 1..256, got ${objects}`);
  }
  return buildModel({
    name: "one-hot",
    opset: 17,
    inputs: [{ name: "labels", type: "uint8", shape: [1, "H", "W"] }],
    outputs: [{ name: "scores", type: "float32", shape: [1, objects, "H", "W"] }],
    initializers: [
      { name: "ids", type: "int32", dims: [1, objects, 1, 1], data: Int32Array.from({ length: objects }, (_, i) => i) },
      { name: "channel_axis", type: "int64", dims: [1], data: BigInt64Array.of(1n) },
    ],
    nodes: [
      node("Unsqueeze", ["labels", "channel_axis"], ["planes"]),
      node("Cast", ["planes"], ["wide"], { to: int(6) }),
      node("Equal", ["wide", "ids"], ["hot"]),
      node("Cast", ["hot"], ["scores"], { to: int(1) }),
    ],
  });
}

/**
 * A stage's one-hot function for `objects` objects: runs the one-hot graph in the worker pool, loaded on first
 * use (a stage whose `scores` output is unbound never loads it). `labels` is an [h,w] label map, row-major.
 */
export function oneHotOp(
  ctx: Pick<StageContext, "op">,
  objects: number,
): (labels: Uint8Array, h: number, w: number, frame?: Frame) => Promise<Tensor> {
  let graph: Promise<OnnxRunner> | undefined;
  return async (labels, h, w, frame) => {
    if (labels.length !== h * w) throw new RangeError(`a ${w}x${h} label map needs ${h * w} ids, got ${labels.length}`);
    if (!graph) {
      graph = ctx.op(oneHotGraphKey(objects), () => buildOneHotGraph(objects));
      graph.catch(() => graph = undefined);
    }
    const { scores } = await (await graph).run(
      { labels: { type: "uint8", dims: [1, h, w], data: labels } },
      ["scores"],
      frame,
    );
    return scores!;
  };
}
