/**
 * The ONNX graph of the `agreement` stage: how many cells of two class-score maps pick the same class.
 *
 * Formulation: ArgMax over classes of each map (first maximum, as the reference's strict `>` keeps the lower
 * class on a tie), Equal, Cast to int64 and ReduceSum: `same` int64 [], the count of agreeing cells. The stage
 * turns it into 100 x same / cells in JavaScript, so the value is the reference's to the last bit (a float32
 * ReduceMean would be off by up to ~1e-5 on the 0..100 scale). Every dimension is dynamic: one graph for all
 * shapes.
 *
 * @module
 */
import { buildModel, int, node } from "../engine/onnx/builder.ts";

/** The cache key of the agreement graph (one for every shape). */
export const agreementGraphKey = "agreement";

/**
 * Builds the agreement graph: inputs `a` and `b` float32 [1,C,h,w] (the same shape), output `same` int64 [] (cells
 * whose argmax class is the same).
 *
 * @example
 * ```ts
 * const bytes = buildAgreementGraph();
 * ```
 */
export function buildAgreementGraph(): Uint8Array {
  return buildModel({
    name: "agreement",
    opset: 17,
    inputs: [
      { name: "a", type: "float32", shape: [1, "C", "h", "w"] },
      { name: "b", type: "float32", shape: [1, "C", "h", "w"] },
    ],
    outputs: [{ name: "same", type: "int64", shape: [] }],
    nodes: [
      node("ArgMax", ["a"], ["class_a"], { axis: int(1), keepdims: int(0) }),
      node("ArgMax", ["b"], ["class_b"], { axis: int(1), keepdims: int(0) }),
      node("Equal", ["class_a", "class_b"], ["equal"]),
      node("Cast", ["equal"], ["hits"], { to: int(7) }),
      node("ReduceSum", ["hits"], ["same"], { keepdims: int(0) }),
    ],
  });
}
