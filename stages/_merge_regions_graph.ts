/**
 * The ONNX graph of the `merge-regions` stage: region score maps placed on the frame's grid, where regions
 * overlap each cell taking the scores of the region with the larger max class score (the first such region on a
 * tie, DVSNet's rule as the stage states it).
 *
 * Formulation, for N regions `scores_i` [1,C,h_i,w_i] and their offsets `pads_i` int64 [8] (ONNX Pad order:
 * [0, 0, top, left, 0, 0, bottom, right] in cells):
 *
 * - each region's confidence, ReduceMax over classes [1,1,h_i,w_i], padded to the frame's grid with -inf (a cell
 *   outside a region never wins), and its scores padded with 0 (a cell no region covers stays 0);
 * - the N confidences and the N padded score maps concatenated on axis 0: [N,1,H,W] and [N,C,H,W];
 * - ArgMax over regions (first maximum, as the reference's strict `>` keeps the earlier region on a tie),
 *   expanded over classes, and GatherElements on axis 0 picks each cell's winner: [1,C,H,W].
 *
 * Only the region count is built in: classes, region and frame sizes are dynamic, so one graph per region count
 * serves every frame size.
 *
 * @module
 */
import { buildModel, floatTensor, int, int64Tensor, ints, node, type NodeSpec } from "../engine/onnx/builder.ts";

/** The cache key of the merge graph for `regions` regions. */
export function mergeRegionsGraphKey(regions: number): string {
  return `merge-regions-n${regions}`;
}

/**
 * Builds the merge graph for `regions` regions: inputs `scores_i` float32 [1,C,h_i,w_i] and `pads_i` int64 [8]
 * (i = 0 .. regions-1), output `merged` float32 [1,C,H,W]. Throws a `RangeError` unless `regions` >= 1.
 *
 * @example
 * ```ts
 * const bytes = buildMergeRegionsGraph(4); // DVSNet's 2x2 grid
 * ```
 */
export function buildMergeRegionsGraph(regions: number): Uint8Array {
  if (!Number.isInteger(regions) || regions < 1) {
    throw new RangeError(`merge-regions graph: 'regions' must be a positive integer, got ${regions}`);
  }
  const nodes: NodeSpec[] = [];
  const confidences: string[] = [], padded: string[] = [];
  for (let i = 0; i < regions; i++) {
    nodes.push(
      node("ReduceMax", [`scores_${i}`], [`max_${i}`], { axes: ints([1]), keepdims: int(1) }),
      node("Pad", [`max_${i}`, `pads_${i}`, "minus_inf"], [`confidence_${i}`]),
      node("Pad", [`scores_${i}`, `pads_${i}`, "zero"], [`placed_${i}`]),
    );
    confidences.push(`confidence_${i}`);
    padded.push(`placed_${i}`);
  }
  const concat = (inputs: string[], output: string) =>
    inputs.length === 1 ? node("Identity", inputs, [output]) : node("Concat", inputs, [output], { axis: int(0) });
  nodes.push(
    concat(confidences, "confidence"),
    concat(padded, "placed"),
    node("ArgMax", ["confidence"], ["winner"], { axis: int(0), keepdims: int(1) }),
    node("Shape", [`scores_0`], ["score_shape"]),
    node("Slice", ["score_shape", "one", "two"], ["classes"]),
    node("Concat", ["one", "classes", "one", "one"], ["over_classes"], { axis: int(0) }),
    node("Expand", ["winner", "over_classes"], ["index"]),
    node("GatherElements", ["placed", "index"], ["merged"], { axis: int(0) }),
  );
  return buildModel({
    name: "merge-regions",
    opset: 17,
    inputs: Array.from({ length: regions }, (_, i) => [
      { name: `scores_${i}`, type: "float32" as const, shape: [1, "C", `h_${i}`, `w_${i}`] },
      { name: `pads_${i}`, type: "int64" as const, shape: [8] },
    ]).flat(),
    outputs: [{ name: "merged", type: "float32", shape: [1, "C", "H", "W"] }],
    initializers: [
      floatTensor("minus_inf", [], [-Infinity]),
      floatTensor("zero", [], [0]),
      int64Tensor("one", [1], [1]),
      int64Tensor("two", [1], [2]),
    ],
    nodes,
  });
}
