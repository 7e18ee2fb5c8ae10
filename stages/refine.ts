/**
 * The `refine` stage: edge-aware upsampling of coarse per-object scores to the frame (PML's refinement step),
 * by joint bilateral upsampling (Kopf et al., 2007): each pixel averages the scores of the grid cells around
 * it, weighted by distance to the cell centre (Gaussian, `sigma_spatial` pixels) and by how much the cell's mean
 * colour differs from the pixel's (Gaussian, `sigma_range` grey levels), so object edges follow image edges
 * instead of the stride-8 grid. Then each pixel takes the object with the largest refined score; an object
 * (id > 0) whose normalised score is below `threshold` gives way to the background (id 0). On a frame whose mask
 * is given (`given`, e.g. `knn`'s on a stream's first frame and on annotated frames) the output is that mask.
 *
 * The grid's stride comes from the frame width and the score width (`gridStride`: a padded frame's grid is
 * slightly wider than the frame, cell i still starts at pixel i x stride).
 *
 * The whole computation, cell colours included, is one ONNX graph per frame size, grid size and parameters
 * (`_refine_graph.ts`: two batched MatMuls per block of pixels that share their neighbour cells), run in the
 * worker pool on the session's provider.
 *
 * @module
 */
import { defineStage, type OnnxRunner, perFrame, readSlot } from "../engine/stage.ts";
import type { RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import { buildRefineGraph, refineGraphKey, type RefineOptions, type RefineShape } from "./_refine_graph.ts";
import { labelsType } from "../engine/graph_channels.ts";

export type { RefineOptions };

/** The refine graph's shape for a frame and its scores; throws a `TypeError` if the scores are not [1,O,h,w]. */
export function refineShape(scores: Tensor, image: RgbImage): RefineShape {
  const dims = scores.dims;
  if (scores.type !== "float32" || dims.length !== 4 || dims[0] !== 1 || dims.some((d) => d < 1)) {
    throw new TypeError(`'scores' must be float32 [1,objects,h,w], got ${scores.type} [${dims.join(",")}]`);
  }
  const [, objects, gridHeight, gridWidth] = dims as [number, number, number, number];
  return { width: image.width, height: image.height, gridWidth, gridHeight, objects };
}

/** The `refine` stage kind. */
export const refine = defineStage({
  kind: "refine",
  role: "stage",
  doc: "Edge-aware upsampling of per-object scores to the frame (joint bilateral, in ONNX), argmax with a threshold",
  params: {
    radius: { type: "integer", min: 1, max: 4, default: 2, doc: "grid cells on each side that contribute" },
    sigma_spatial: { type: "number", min: 0.5, default: 8, doc: "spatial Gaussian (pixels)" },
    sigma_range: { type: "number", min: 1, default: 20, doc: "colour Gaussian (grey levels)" },
    threshold: { type: "number", min: 0, max: 1, default: 0.5, doc: "an object needs this share of the score" },
  },
  inputs: [
    { name: "scores", doc: "per-object scores [1,O,h,w] on a grid (e.g. knn's vote shares)", type: "tensor" },
    { name: "image", doc: "the frame (the guide)", type: "image" },
    {
      name: "given",
      doc: "a given mask [1,H,W] on the frames that have one: the output there, unchanged",
      type: "tensor",
      optional: true,
      gaps: true,
    },
  ],
  outputs: [{ name: "labels", doc: "object id per pixel, uint8 [1,H,W]", type: "tensor", kind: "labels" }],
  types: () => ({ outputs: { labels: labelsType(1) } }),
  create(ctx) {
    const options: RefineOptions = {
      radius: ctx.params.radius,
      sigmaSpatial: ctx.params.sigma_spatial,
      sigmaRange: ctx.params.sigma_range,
      threshold: ctx.params.threshold,
    };
    // One graph per frame and grid size (a stream's frames share one), built and loaded on first use.
    const graphs = new Map<string, Promise<OnnxRunner>>();
    const graphFor = (shape: RefineShape): Promise<OnnxRunner> => {
      const key = refineGraphKey(shape, options);
      let graph = graphs.get(key);
      if (!graph) {
        graph = ctx.op(key, () => buildRefineGraph(shape, options));
        graph.catch(() => graphs.delete(key));
        graphs.set(key, graph);
      }
      return graph;
    };
    return perFrame(ctx, async (frame) => {
      const given = ctx.inputs.given === undefined ? undefined : frame.slots.get(ctx.inputs.given) as Tensor;
      if (given) return void frame.slots.set(ctx.outputs.labels!, given);
      const image = readSlot<RgbImage>(frame, ctx.inputs.image!);
      const scores = readSlot<Tensor>(frame, ctx.inputs.scores!);
      const graph = await graphFor(refineShape(scores, image));
      // A view into a larger buffer (a decoder's chunk) would take the whole buffer along to the worker.
      const whole = image.data.byteOffset === 0 && image.data.byteLength === image.data.buffer.byteLength;
      const pixels: Tensor = {
        type: "uint8",
        dims: [image.height, image.width, 3],
        data: whole ? image.data : image.data.slice(),
      };
      const { labels } = await graph.run({ scores, image: pixels }, ["labels"], frame);
      frame.slots.set(ctx.outputs.labels!, labels!);
    }, { concurrency: 2 });
  },
});
