/**
 * The ONNX graph of feature-grid pooling (the `flow` stage's `features_grid`): adaptive average pooling of a
 * [1,C,h,w] map to [1,C,rows,cols] with PyTorch's cell bounds (cell i spans floor(i h / rows) ..
 * ceil((i + 1) h / rows), so neighbouring cells may share a row).
 *
 * Formulation: the pooling is separable, so it is two MatMuls with pooling weight matrices, `rowWeights`
 * [rows,h] (1 / cell height on a cell's rows) and `colWeights` [w,cols] (1 / cell width on a cell's columns):
 * `pooled = rowWeights x (map x colWeights)`, the first product per channel row, the second broadcast over
 * channels. The matrices are inputs (built once per shape by {@linkcode poolingWeights} and cached by the
 * caller, a few KB), so the graph itself has no fixed size: one graph for every map and grid.
 *
 * @module
 */
import { buildModel, node } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { OnnxRunner, StageContext } from "../engine/stage.ts";
import type { Frame } from "../engine/frame.ts";

/** The cache key of the pooling graph (one for every shape). */
export const poolGraphKey = "pool-to-grid";

/**
 * Builds the pooling graph: inputs `map` float32 [1,C,h,w], `row_weights` float32 [rows,h] and `col_weights`
 * float32 [w,cols] -> `pooled` float32 [1,C,rows,cols].
 *
 * @example
 * ```ts
 * const bytes = buildPoolGraph();
 * const feeds = { map, ...poolingWeights(map.dims[2]!, map.dims[3]!, 4, 8) };
 * ```
 */
export function buildPoolGraph(): Uint8Array {
  return buildModel({
    name: "pool-to-grid",
    opset: 17,
    inputs: [
      { name: "map", type: "float32", shape: [1, "C", "h", "w"] },
      { name: "row_weights", type: "float32", shape: ["rows", "h"] },
      { name: "col_weights", type: "float32", shape: ["w", "cols"] },
    ],
    outputs: [{ name: "pooled", type: "float32", shape: [1, "C", "rows", "cols"] }],
    nodes: [
      node("MatMul", ["map", "col_weights"], ["along_x"]),
      node("MatMul", ["row_weights", "along_x"], ["pooled"]),
    ],
  });
}

/**
 * The pooling weight matrices for a [h,w] map pooled to [rows,cols] (PyTorch's adaptive cell bounds):
 * `row_weights` [rows,h] and `col_weights` [w,cols]. Throws a `RangeError` unless every size is >= 1.
 */
export function poolingWeights(
  h: number,
  w: number,
  rows: number,
  cols: number,
): { row_weights: Tensor; col_weights: Tensor } {
  for (const [name, value] of Object.entries({ h, w, rows, cols })) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`pooling: '${name}' must be >= 1, got ${value}`);
  }
  const rowWeights = new Float32Array(rows * h), colWeights = new Float32Array(w * cols);
  for (let i = 0; i < rows; i++) {
    const y0 = Math.floor((i * h) / rows), y1 = Math.ceil(((i + 1) * h) / rows);
    for (let y = y0; y < y1; y++) rowWeights[i * h + y] = 1 / (y1 - y0);
  }
  for (let j = 0; j < cols; j++) {
    const x0 = Math.floor((j * w) / cols), x1 = Math.ceil(((j + 1) * w) / cols);
    for (let x = x0; x < x1; x++) colWeights[x * cols + j] = 1 / (x1 - x0);
  }
  return {
    row_weights: { type: "float32", dims: [rows, h], data: rowWeights },
    col_weights: { type: "float32", dims: [w, cols], data: colWeights },
  };
}

/**
 * A stage's pooling function: `pool(map, rows, cols, frame)` runs the pooling graph in the worker pool (loaded on
 * first use) with the weight matrices of the map's and grid's shape (built once per shape, the last 8 kept).
 * Throws a `TypeError` if `map` is not float32 [1,C,h,w].
 */
export function gridPooler(
  ctx: Pick<StageContext, "op">,
): (map: Tensor, rows: number, cols: number, frame?: Frame) => Promise<Tensor> {
  let graph: Promise<OnnxRunner> | undefined;
  const weights = new Map<string, ReturnType<typeof poolingWeights>>();
  return async (map, rows, cols, frame) => {
    if (map.type !== "float32" || map.dims.length !== 4 || map.dims[0] !== 1) {
      throw new TypeError(`pooling needs a float32 [1,C,h,w] map, got ${map.type} [${map.dims}]`);
    }
    const [, , h, w] = map.dims as [number, number, number, number];
    const shape = `${h}x${w}-${rows}x${cols}`;
    let matrices = weights.get(shape);
    if (!matrices) {
      matrices = poolingWeights(h, w, rows, cols);
      if (weights.size >= 8) weights.delete(weights.keys().next().value!);
      weights.set(shape, matrices);
    }
    if (!graph) {
      graph = ctx.op(poolGraphKey, buildPoolGraph);
      graph.catch(() => graph = undefined);
    }
    const { pooled } = await (await graph).run({ map, ...matrices }, ["pooled"], frame);
    return pooled!;
  };
}
