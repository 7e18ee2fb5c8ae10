/**
 * The label head the engine appends to a model (the `model` stage's `labels` output) or runs on its own (`argmax`): class
 * scores resized to the pixels their grid covers, cropped to the frame, argmaxed and cast to uint8, all in ONNX.
 *
 * Resizing every class map to the frame and argmaxing it costs as much as a light model, so {@linkcode labelHead}
 * computes the same labels sparsely. With a whole stride s (a padded grid, see `engine/grid.ts`) the bilinear resize
 * splits the pixels into blocks of s x s between four cell centres (the grid edge-replicated by one cell, as Resize
 * clamps at the borders). Where the four cells agree on their argmax, so does every convex combination of them: the
 * block takes that label without any arithmetic (unless a corner's win is within rounding of a tie). Only the other
 * blocks (object boundaries, 10-25% of them on real scores) are interpolated, with the weights and the order of
 * operations of onnxruntime's Resize, so their scores are bit for bit the same.
 *
 * @module
 */
import { type GraphExtension } from "../engine/onnx/inspect.ts";
import {
  buildModel,
  type InitializerSpec,
  int,
  int64Tensor,
  ints,
  node,
  type NodeSpec,
  str,
} from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";

const labelsPort = "labels";
const prefix = "segflow_labels_";

/** Name of the extra input that carries the frame's height and width to the label head. */
export const labelSizeInput = "segflow_labels_hw";

/**
 * Argmax over classes, cast to uint8, as nodes appended to the model. With `size: "image"` the labels are those of
 * the scores resized (bilinear) to the pixels their grid covers and cropped to the frame's size, fed as an extra
 * int64 input `[H, W]`: a grid of h cells over H pixels has the stride s = ceil(H / h) and covers h*s pixels (the
 * padded frame, see `engine/grid.ts`), or exactly H pixels when h*s - H >= s. With `"native"` labels stay on the
 * scores' own grid (e.g. stride 16 for Clockwork's adaptive clock).
 *
 * A padded grid's labels are computed block by block (see the module doc), bit for bit those of
 * {@linkcode fullResizeLabelHead}, float ties included; a grid that spans the frame exactly takes that head's path
 * inside the same graph. Batch 1 (the output is declared [1, H, W]).
 *
 * @example
 * ```ts
 * const model = extendModel(await Deno.readFile("seg.onnx"), labelHead("scores"));
 * // feeds: the model's inputs and { [labelSizeInput]: imageSizeTensor(width, height) }; fetch "labels"
 * ```
 */
export function labelHead(scores: string, size: "image" | "native" = "image"): GraphExtension {
  if (size === "native") return nativeLabelHead(scores);
  const b = new HeadBuilder();
  const grid = gridGeometry(b, scores);
  // Whole batches go one way or the other: the other way gets an empty batch and costs nothing. A grid at the
  // frame's own resolution (stride 1) has nothing to interpolate: the full path's Resize keeps its size.
  const coarse = b.op("Greater", [grid.stride, b.ints([1])], "coarse_axes");
  const blockwise = b.op("And", [
    b.op("And", [
      b.op("Slice", [grid.padded, b.ints([0]), b.ints([1])], "padded_rows"),
      b.op("Slice", [grid.padded, b.ints([1]), b.ints([2])], "padded_cols"),
    ], "padded_grid_both"),
    b.op("Or", [
      b.op("Slice", [coarse, b.ints([0]), b.ints([1])], "coarse_rows"),
      b.op("Slice", [coarse, b.ints([1]), b.ints([2])], "coarse_cols"),
    ], "coarse_grid"),
  ], "blockwise");
  const blockBatch = b.op(
    "Mul",
    [grid.batch, b.op("Cast", [blockwise], "blockwise_int", { to: int(7) })],
    "block_batch",
  );
  const fullBatch = b.op("Sub", [grid.batch, blockBatch], "full_batch");
  const full = fullResize(
    b,
    b.op("Slice", [scores, b.ints([0]), fullBatch, b.ints([0])], "full_scores"),
    grid,
    fullBatch,
  );
  // The blockwise path gets only its batch, so that a frame taking the full path (e.g. scores at stride 1, whose
  // coarse grid is the frame) costs it nothing.
  const blockScores = b.op("Slice", [scores, b.ints([0]), blockBatch, b.ints([0])], "blockwise_scores");
  const blocks = blockLabels(b, blockScores, { ...grid, batch: blockBatch }, blockwise);
  b.op("Concat", [full, blocks], labelsPort, { axis: int(0) }, false);
  return b.extension();
}

/**
 * The label head as it was before {@linkcode labelHead} went blockwise: every class map resized (bilinear,
 * half_pixel) to the pixels the grid covers, argmaxed, cast to uint8 and cropped to the frame. Kept as the reference
 * for tests and benchmarks.
 */
export function fullResizeLabelHead(scores: string, size: "image" | "native" = "image"): GraphExtension {
  if (size === "native") return nativeLabelHead(scores);
  const b = new HeadBuilder();
  const grid = gridGeometry(b, scores);
  b.op("Identity", [fullResize(b, scores, grid, grid.batch)], labelsPort, undefined, false);
  return b.extension();
}

/** A graph of a label head alone: `scores` [N,C,h,w] (and the head's `[H,W]` input) -> `labels`. */
export function labelHeadGraph(head: GraphExtension, options: { name?: string; opset?: number } = {}): Uint8Array {
  return buildModel({
    ...options,
    inputs: [{ name: "scores", type: "float32", shape: ["N", "C", "h", "w"] }, ...(head.inputs ?? [])],
    outputs: head.outputs,
    initializers: head.initializers ?? [],
    nodes: head.nodes,
  });
}

/** The `[H, W]` tensor a label head at image size takes. */
export function imageSizeTensor(width: number, height: number): Tensor {
  return { type: "int64", dims: [2], data: BigInt64Array.of(BigInt(height), BigInt(width)) };
}

function nativeLabelHead(scores: string): GraphExtension {
  const b = new HeadBuilder();
  const argmax = b.op("ArgMax", [scores], "argmax", { axis: int(1), keepdims: int(0) });
  b.op("Cast", [argmax], labelsPort, { to: int(2) }, false);
  return b.extension([]);
}

/** Nodes and constants of a head being built; names get the head's prefix so they cannot clash with the model's. */
class HeadBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers = new Map<string, InitializerSpec>();
  readonly #names = new Set<string>();

  /** Appends one node and returns the name of its (single) output. */
  op(op: string, inputs: string[], output: string, attributes?: NodeSpec["attributes"], prefixed = true): string {
    const name = prefixed ? prefix + output : output;
    if (this.#names.has(name)) throw new Error(`label head: '${name}' is defined twice`);
    this.#names.add(name);
    this.nodes.push(node(op, inputs, [name], attributes));
    return name;
  }

  /** An int64 constant (`dims` [] makes a scalar). */
  ints(values: number[], dims = [values.length]): string {
    const name = `${prefix}i${dims.length}_${values.join("_")}`;
    if (!this.initializers.has(name)) this.initializers.set(name, int64Tensor(name, dims, values));
    return name;
  }

  /** A float32 constant of shape [1]. */
  float(value: number): string {
    const name = `${prefix}f_${value}`;
    if (!this.initializers.has(name)) {
      this.initializers.set(name, { name, type: "float32", dims: [1], data: Float32Array.of(value) });
    }
    return name;
  }

  extension(inputs = [{ name: labelSizeInput, type: "int64" as const, shape: [2] }]): GraphExtension {
    return {
      inputs,
      initializers: [...this.initializers.values()],
      nodes: this.nodes,
      outputs: [{ name: labelsPort, type: "uint8", shape: [1, "H", "W"] }],
    };
  }
}

/** Where the scores' grid sits on the frame: int64 tensors of the batch, classes and per-axis cells and strides. */
interface GridGeometry {
  batch: string;
  classes: string;
  /** [rows, cols] of cells. */
  cells: string;
  /** [sy, sx], and each alone as [1]. */
  stride: string;
  rowStride: string;
  colStride: string;
  /** Covered pixels the scores are resized to: cells * stride on a padded grid, else the frame's size. */
  target: string;
  /** Per axis: a padded grid (cells * stride - pixels < stride). */
  padded: string;
}

function gridGeometry(b: HeadBuilder, scores: string): GridGeometry {
  const shape = b.op("Shape", [scores], "scores_shape");
  const slice = (from: number, to: number, name: string) => b.op("Slice", [shape, b.ints([from]), b.ints([to])], name);
  const cells = slice(2, 4, "cells");
  // stride = ceil(pixels / cells); covered = cells * stride, or the frame itself for a non-padded grid.
  const roundUp = b.op("Add", [labelSizeInput, b.op("Sub", [cells, b.ints([1])], "cells_1")], "round_up");
  const stride = b.op("Div", [roundUp, cells], "stride");
  const covered = b.op("Mul", [cells, stride], "covered");
  const padded = b.op("Less", [b.op("Sub", [covered, labelSizeInput], "padding"), stride], "padded_grid");
  const target = b.op("Where", [padded, covered, labelSizeInput], "target");
  const [rowStride, colStride] = [0, 1].map((axis) =>
    b.op("Slice", [stride, b.ints([axis]), b.ints([axis + 1])], `stride_${axis}`)
  );
  return {
    batch: slice(0, 1, "batch"),
    classes: slice(1, 2, "classes"),
    cells,
    stride,
    rowStride: rowStride!,
    colStride: colStride!,
    target,
    padded,
  };
}

/** Resize of every class map to the covered pixels, argmax, uint8, crop to the frame: [batch, H, W]. */
function fullResize(b: HeadBuilder, scores: string, grid: GridGeometry, batch: string): string {
  const sizes = b.op("Concat", [batch, grid.classes, grid.target], "sizes", { axis: int(0) });
  const upsampled = b.op("Resize", [scores, "", "", sizes], "upsampled", {
    mode: str("linear"),
    coordinate_transformation_mode: str("half_pixel"),
  });
  const argmax = b.op("ArgMax", [upsampled], "full_argmax", { axis: int(1), keepdims: int(0) });
  const labels = b.op("Cast", [argmax], "full_covered", { to: int(2) });
  return b.op("Slice", [labels, b.ints([0, 0]), labelSizeInput, b.ints([1, 2])], "full_labels");
}

/**
 * Labels of a padded grid, block by block: [batch, H, W]. Block (r, q) lies between the centres of cells r-1 and
 * r (rows) and q-1 and q (columns) of the grid edge-replicated by one cell: (h+1) x (w+1) blocks of s x s pixels,
 * starting s - floor(s/2) pixels before the frame. Only blocks that are mixed and `blockwise` are interpolated.
 */
function blockLabels(b: HeadBuilder, scores: string, grid: GridGeometry, blockwise: string): string {
  const { cornerLabel, blocks } = mixedBlocks(b, scores, grid, blockwise);
  const spanned = b.op("Mul", [b.op("Add", [grid.cells, b.ints([1])], "blocks_hw"), grid.stride], "spanned");
  const mixedLabels = interpolatedLabels(b, scores, grid, blocks, layoutWeights(b, grid, spanned)); // [K, sy, sx]

  // Uniform blocks take their corner label and mixed ones are scattered in; then blocks to pixels, cropped.
  // (Broadcast along a new first axis, then moved last: onnxruntime expands inner axes byte by byte, far slower.)
  const corner = b.op("Cast", [cornerLabel], "corner_u8", { to: int(2) });
  const pixels = b.op("Mul", [grid.rowStride, grid.colStride], "block_pixels");
  const copies = b.op(
    "Expand",
    [corner, b.op("Concat", [pixels, b.ints([1, 1, 1])], "copies_shape", { axis: int(0) })],
    "copies",
  );
  const perPixel = b.op("Transpose", [copies], "uniform_pixels", { perm: ints([1, 2, 3, 0]) });
  const blockShape = b.op("Concat", [b.ints([0, 0, 0]), grid.stride], "block_shape", { axis: int(0) });
  const uniform = b.op("Reshape", [perPixel, blockShape], "uniform_blocks");
  const blockMap = b.op("ScatterND", [uniform, blocks, mixedLabels], "block_map"); // [N, h+1, w+1, sy, sx]
  const byRow = b.op("Transpose", [blockMap], "block_rows", { perm: ints([0, 1, 3, 2, 4]) });
  const pixelShape = b.op("Concat", [b.ints([0]), spanned], "pixel_shape", { axis: int(0) });
  const pixelMap = b.op("Reshape", [byRow, pixelShape], "pixel_map");
  const offset = b.op("Sub", [grid.stride, b.op("Div", [grid.stride, b.ints([2])], "half_stride")], "offset");
  const cropEnd = b.op("Add", [offset, labelSizeInput], "crop_end");
  return b.op("Slice", [pixelMap, offset, cropEnd, b.ints([1, 2])], "block_pixels_cropped");
}

/**
 * The coarse argmax at each block's first corner [batch, h+1, w+1], and the blocks to interpolate as [K, 3] indices
 * (batch, r, q): those whose four corners disagree, or where a corner's winning margin is within rounding of a tie
 * (see {@linkcode clearWinners}), and only where `blockwise`.
 */
function mixedBlocks(b: HeadBuilder, scores: string, grid: GridGeometry, blockwise: string) {
  const end = 2 ** 31;
  // A corner's class, plus C where its winner is not clear: four corners are equal only if all are clear.
  const { winner, unclear } = clearWinners(b, scores, grid);
  const flagged = b.op("Add", [winner, b.op("Mul", [unclear, grid.classes], "unclear_c")], "flagged");
  const map = b.op(
    "Reshape",
    [flagged, b.op("Concat", [grid.batch, grid.cells], "map_shape", { axis: int(0) })],
    "map",
  );
  const padded = b.op("Pad", [map, b.ints([0, 1, 1, 0, 1, 1])], "map_padded", { mode: str("edge") });
  const corner = (starts: number[], ends: number[], name: string) =>
    b.op("Slice", [padded, b.ints(starts), b.ints(ends), b.ints([1, 2])], name);
  const cornerLabel = corner([0, 0], [-1, -1], "top_left");
  const agree = (starts: number[], ends: number[], name: string) =>
    b.op("Equal", [cornerLabel, corner(starts, ends, name)], `same_${name}`);
  const clear = b.op("Less", [cornerLabel, grid.classes], "clear_tl");
  const topAgrees = b.op("And", [agree([0, 1], [-1, end], "tr"), agree([1, 0], [end, -1], "bl")], "same_3");
  const allAgree = b.op("And", [topAgrees, agree([1, 1], [end, end], "br")], "same_4");
  const uniform = b.op("And", [allAgree, clear], "uniform");
  const mixed = b.op("And", [b.op("Not", [uniform], "mixed_anywhere"), blockwise], "mixed");
  return { cornerLabel, blocks: b.op("Transpose", [b.op("NonZero", [mixed], "mixed_nz")], "blocks") };
}

/**
 * Each cell's argmax class and whether its win is too close to call, both int64 [N, 1, h, w]. If all four corners of
 * a block are won by c with margin best - runnerUp > 2^-20 (|best| + |runnerUp|) + 2^-100, Resize + ArgMax gives c
 * at every pixel of it too: a resized score is four products summed, off by at most 4 roundings (about 2^-22 of the
 * sum of its terms' sizes), and every class has the same weights, so rounding cannot close that gap. Closer wins
 * are interpolated, so even exact float ties come out as Resize + ArgMax has them.
 */
function clearWinners(b: HeadBuilder, scores: string, grid: GridGeometry) {
  const argmax = (input: string, name: string) => b.op("ArgMax", [input], name, { axis: int(1), keepdims: int(1) });
  const valueAt = (input: string, index: string, name: string) =>
    b.op("GatherElements", [input, index], name, { axis: int(1) });
  const winner = argmax(scores, "winner");
  const best = valueAt(scores, winner, "best");
  const classIds = b.op("Reshape", [rangeOf(b, grid.classes, "class_range"), b.ints([1, -1, 1, 1])], "class_ids");
  const isWinner = b.op("Equal", [classIds, winner], "is_winner");
  const others = b.op("Where", [isWinner, b.float(-3.4028234663852886e38), scores], "others");
  const runnerUp = valueAt(others, argmax(others, "runner_up_class"), "runner_up");
  const margin = b.op("Sub", [best, runnerUp], "margin");
  const size = b.op("Add", [b.op("Abs", [best], "best_abs"), b.op("Abs", [runnerUp], "runner_up_abs")], "size");
  const tolerance = b.op("Add", [b.op("Mul", [size, b.float(2 ** -20)], "relative"), b.float(2 ** -100)], "tolerance");
  const clear = b.op("Greater", [margin, tolerance], "clear");
  return { winner, unclear: b.op("Cast", [b.op("Not", [clear], "not_clear")], "unclear", { to: int(7) }) };
}

/**
 * The argmax of the resized scores at every pixel of the K `blocks`: [K, sy, sx] uint8. Computed as [C, sy, sx, K]
 * so that every broadcast runs along K, and with no shape that names K (a reshape to 0 would copy a dimension).
 */
function interpolatedLabels(
  b: HeadBuilder,
  scores: string,
  grid: GridGeometry,
  blocks: string,
  weights: LayoutWeights,
): string {
  const column = (axis: number, name: string) => b.op("Gather", [blocks, b.ints([axis], [])], name, { axis: int(1) });
  const [n, r, q] = [column(0, "block_n"), column(1, "block_r"), column(2, "block_q")];

  // Corner scores [C, 1, 1, K], gathered from the edge-padded scores flattened to [C, batch * (h+2) * (w+2)].
  const paddedScores = b.op("Pad", [scores, b.ints([0, 0, 1, 1, 0, 0, 1, 1])], "scores_padded", { mode: str("edge") });
  const byClass = b.op("Transpose", [paddedScores], "scores_cnhw", { perm: ints([1, 0, 2, 3]) });
  const flat = b.op("Reshape", [byClass, b.ints([0, -1])], "scores_flat");
  const paddedHw = b.op("Add", [grid.cells, b.ints([2])], "padded_hw");
  const paddedH = b.op("Slice", [paddedHw, b.ints([0]), b.ints([1])], "padded_h");
  const paddedW = b.op(
    "Reshape",
    [b.op("Slice", [paddedHw, b.ints([1]), b.ints([2])], "padded_w"), b.ints([1, 1, 1])],
    "padded_w_3d",
  );
  const row = b.op("Add", [b.op("Mul", [n, paddedH], "n_rows"), r], "row");
  const first = b.op("Add", [b.op("Mul", [row, paddedW], "row_start"), q], "first_corner"); // [1, 1, K]
  const cornerScores = (step: string, name: string) =>
    b.op("Gather", [flat, b.op("Add", [first, step], `${name}_index`)], name, { axis: int(1) });
  const x11 = cornerScores(b.ints([0], [1, 1, 1]), "x11"), x21 = cornerScores(b.ints([1], [1, 1, 1]), "x21");
  const x12 = cornerScores(paddedW, "x12");
  const x22 = cornerScores(b.op("Add", [paddedW, b.ints([1])], "padded_w1"), "x22");

  // Resize's weight of each corner at each pixel of each block: [sy, 1, K] x [1, sx, K].
  const [sy, sx] = [grid.rowStride, grid.colStride];
  const offsets = (s: string, shape: number[], name: string) =>
    b.op("Reshape", [rangeOf(b, s, `${name}_range`), b.ints(shape)], name);
  const rowIndex = b.op(
    "Add",
    [b.op("Mul", [r, sy], "row_first"), offsets(sy, [-1, 1, 1], "row_offsets")],
    "row_index",
  );
  const colFirst = b.op("Add", [b.op("Mul", [q, sx], "col_block"), weights.length], "col_first");
  const colIndex = b.op("Add", [colFirst, offsets(sx, [1, -1, 1], "col_offsets")], "col_index");
  const pick = (table: string, index: string, name: string) => b.op("Gather", [table, index], name);
  const yNear = pick(weights.near, rowIndex, "y_near"), yFar = pick(weights.far, rowIndex, "y_far");
  const xNear = pick(weights.near, colIndex, "x_near"), xFar = pick(weights.far, colIndex, "x_far");

  // As Resize sums them: dx2*dy2*X11 + dx1*dy2*X21 + dx2*dy1*X12 + dx1*dy1*X22, left to right.
  const term = (x: string, y: string, corner: string, name: string) =>
    b.op("Mul", [b.op("Mul", [x, y], `w${name}`), corner], `t${name}`);
  let sum = b.op("Add", [term(xNear, yNear, x11, "11"), term(xFar, yNear, x21, "21")], "sum_2");
  sum = b.op("Add", [sum, term(xNear, yFar, x12, "12")], "sum_3");
  sum = b.op("Add", [sum, term(xFar, yFar, x22, "22")], "block_scores"); // [C, sy, sx, K]
  const argmax = b.op("ArgMax", [sum], "block_argmax", { axis: int(0), keepdims: int(0) });
  const labels = b.op("Cast", [argmax], "block_argmax_u8", { to: int(2) });
  return b.op("Transpose", [labels], "block_u8", { perm: ints([2, 0, 1]) });
}

/** Resize's weights at every pixel of the block layout of both axes, flat: axis a's pixel j at a * length + j. */
interface LayoutWeights {
  /** Weight of a block's first corner (onnxruntime's dy2 / dx2). */
  near: string;
  /** Weight of its second corner (dy1 / dx1). */
  far: string;
  /** The longer axis' layout length, [1]. */
  length: string;
}

/**
 * Resize's bilinear weights for the (cells+1) x stride pixels of each axis' block layout (`spanned`), both axes at
 * once as [2, length]. Computed as onnxruntime computes them (float32 source = (pixel + 0.5) / scale - 0.5 with
 * scale = covered / cells, clamped to [0, cells - 1]; where both corners are the same cell each weighs 0.5), so
 * that products and sums match it bit for bit.
 */
function layoutWeights(b: HeadBuilder, grid: GridGeometry, spanned: string): LayoutWeights {
  const perAxis = (input: string, name: string) => b.op("Reshape", [input, b.ints([2, 1])], name);
  const float = (input: string, name: string) => b.op("Cast", [input], name, { to: int(1) });
  const rowsLength = b.op("Slice", [spanned, b.ints([0]), b.ints([1])], "rows_length");
  const colsLength = b.op("Slice", [spanned, b.ints([1]), b.ints([2])], "cols_length");
  const length = b.op(
    "Where",
    [b.op("Less", [rowsLength, colsLength], "cols_longer"), colsLength, rowsLength],
    "length",
  );
  const layout = rangeOf(b, length, "layout");
  const cells = perAxis(grid.cells, "cells_2x1"), stride = perAxis(grid.stride, "stride_2x1");
  // Layout pixel j is frame pixel j - stride + floor(stride / 2).
  const shift = b.op("Sub", [b.op("Div", [stride, b.ints([2])], "half"), stride], "shift");
  const pixel = float(b.op("Add", [layout, shift], "pixel"), "pixel_f"); // [2, length]
  const scale = b.op(
    "Div",
    [float(b.op("Mul", [cells, stride], "covered_2x1"), "covered_f"), float(cells, "cells_f")],
    "scale",
  );
  const last = float(b.op("Sub", [cells, b.ints([1])], "last"), "last_f");
  const centre = b.op("Div", [b.op("Add", [pixel, b.float(0.5)], "centre"), scale], "scaled");
  const source = b.op("Sub", [centre, b.float(0.5)], "source");
  const clamped = b.op("Max", [b.op("Min", [source, last], "below_last"), b.float(0)], "clamped");
  const near = b.op("Floor", [clamped], "near_cell");
  const far = b.op("Min", [b.op("Add", [near, b.float(1)], "next_cell"), last], "far_cell");
  const sameCell = b.op("Equal", [near, far], "same_cell");
  const weight = (from: string, name: string) => {
    const distance = b.op("Abs", [b.op("Sub", [clamped, from], `${name}_d`)], `${name}_abs`);
    const weights = b.op("Where", [sameCell, b.float(0.5), distance], `${name}_2d`);
    return b.op("Reshape", [weights, b.ints([-1])], name);
  };
  return { near: weight(far, "near_weight"), far: weight(near, "far_weight"), length };
}

/** 0, 1, ..., count - 1 (int64) for an int64 [1] `count`. */
function rangeOf(b: HeadBuilder, count: string, name: string): string {
  const scalar = b.op("Reshape", [count, b.ints([], [0])], `${name}_count`);
  return b.op("Range", [b.ints([0], []), scalar, b.ints([1], [])], name);
}
