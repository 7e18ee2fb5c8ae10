/**
 * The ONNX graph of the `refine` stage: joint bilateral upsampling (Kopf et al., 2007) of per-object scores on a
 * stride-s grid to the frame, guided by the frame's colours, then per-pixel argmax with a background threshold.
 *
 * Every pixel p averages the scores of the 2r x 2r grid cells n around it with weight
 * `exp(-|p - centre(n)|^2 / 2 sigma_s^2) * exp(-|I(p) - C(n)|^2 / 2 sigma_r^2)`, where C(n) is the cell's mean
 * colour (clipped to the frame); it takes the object with the largest sum, and an object (id > 0) whose share of
 * the sum is below the threshold gives way to the background (id 0).
 *
 * Formulation: pixels are grouped into s x s blocks on the grid shifted by half a cell, because every pixel of
 * such a block has the same 2r x 2r neighbour cells (a pixel's first neighbour is the cell whose centre is just
 * left of / above it, minus r - 1). Per block the whole upsampling is then two small matrix products:
 *
 * - log-weights [K, s^2] (K = 4r^2 neighbours) = R [K, 8] x L [8, s^2]. The exponent of both Gaussians is a
 *   sum of products of a neighbour term and a pixel term: `-c|I - C|^2 = 2c C.I - c|I|^2 - c|C|^2`
 *   (c = 1 / 2 sigma_r^2) and, per axis, `-(a - b)^2 / 2 sigma_s^2 = -a^2 / 2 sigma_s^2 + a b / sigma_s^2 -
 *   b^2 / 2 sigma_s^2` with a the pixel's offset in its block and b the neighbour cell's, so eight columns
 *   carry it (colour x 3, |I|^2, the neighbour-only sum, the two cross terms, the pixel-only spatial term).
 *   One batched MatMul and one Exp give every weight, exactly (not the reference's table of integer squared
 *   distances);
 * - refined scores [O, s^2] = neighbour scores [O, K] x weights [K, s^2], the second batched MatMul; then
 *   ArgMax over objects, and the winner's share of the sum over objects against the threshold.
 *
 * Why this one: unrolling the K offsets into K shifted, nearest-upsampled [O,H,W] maps accumulated elementwise
 * takes about 3K full-resolution passes over O channels; here the per-pixel work is the two products and one Exp
 * over [K,H,W]. A bilateral grid or a guided filter would be cheaper still, but they are different filters
 * (colours splatted into bins, or a local linear model of the scores), so labels would change and PML's
 * accuracy would need re-measuring; this is the same joint bilateral upsampling as the JavaScript loop it
 * replaces, up to float rounding (identical labels but for exact ties, `tests/refine_test.ts`).
 *
 * Memory: a frame is cut into bands of block rows of at most `bandWeights` weights (2^23: 854x480 in one band,
 * 1920x1080 in four), so at 1920x1080 with 8 objects the float maps alive at once come to about three
 * [O,H,W] maps (a run's peak resident memory grows by about 200 MB, 270 MB with onnxruntime's CPU arena).
 *
 * The cell mean colours are computed in the graph too, separably: along x as one MatMul with stacked
 * identities, along y as a ReduceSum, each over the cell's pixels inside the frame times 1 / their count (so
 * cells at the right and bottom edges average only their pixels inside it); cells wholly past the edge (a grid
 * longer than the frame needs) take the edge pixels, as the reference does.
 *
 * @module
 */
import {
  type Attribute,
  buildModel,
  floatTensor,
  type InitializerSpec,
  int,
  int64Tensor,
  ints,
  node,
  type NodeSpec,
  str,
} from "../engine/onnx/builder.ts";
import { gridStride } from "../engine/grid.ts";

/** The filter's parameters (the `refine` stage's). */
export interface RefineOptions {
  /** Grid cells on each side of a pixel that contribute (2r x 2r neighbours). */
  radius: number;
  /** Spatial Gaussian, pixels. */
  sigmaSpatial: number;
  /** Colour Gaussian, grey levels. */
  sigmaRange: number;
  /** The share of the refined score an object (id > 0) needs to win a pixel. */
  threshold: number;
}

/** The sizes a refine graph is built for. */
export interface RefineShape {
  /** Frame width and height, pixels. */
  width: number;
  height: number;
  /** Score grid width and height, cells. */
  gridWidth: number;
  gridHeight: number;
  /** Objects (score channels), background included. */
  objects: number;
}

/** The cache key of a refine graph: one per shape and parameters. */
export function refineGraphKey(shape: RefineShape, options: RefineOptions): string {
  const { width, height, gridWidth, gridHeight, objects } = shape;
  const { radius, sigmaSpatial, sigmaRange, threshold } = options;
  return `refine-${width}x${height}-${gridWidth}x${gridHeight}-o${objects}-r${radius}-s${sigmaSpatial}-c${sigmaRange}-t${threshold}`;
}

/** The grid stride the refinement uses: from the frame width and the grid width, whole pixels. */
export function refineStride(width: number, gridWidth: number): number {
  return Math.max(1, Math.round(gridStride(width, gridWidth)));
}

/**
 * Builds the refine graph for one shape: `scores` float32 [1,O,h,w] and `image` uint8 [H,W,3] (RGB, row-major)
 * -> `labels` uint8 [1,H,W].
 *
 * @example
 * ```ts
 * const bytes = buildRefineGraph({ width: 854, height: 480, gridWidth: 107, gridHeight: 60, objects: 8 },
 *   { radius: 2, sigmaSpatial: 8, sigmaRange: 20, threshold: 0.5 });
 * ```
 */
export function buildRefineGraph(
  shape: RefineShape,
  options: RefineOptions,
  { bandWeights = 2 ** 23 }: { bandWeights?: number } = {},
): Uint8Array {
  const { width: W, height: H, gridWidth: w, gridHeight: h, objects: O } = shape;
  const { radius: r, sigmaSpatial, sigmaRange, threshold } = options;
  for (const [name, value] of Object.entries(shape)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`refine graph: '${name}' must be >= 1, got ${value}`);
    }
  }
  if (!Number.isInteger(r) || r < 1) {
    throw new RangeError(`refine graph: 'radius' must be a positive integer, got ${r}`);
  }
  const s = refineStride(W, w);
  const span = 2 * r, K = span * span;
  // Blocks: s x s pixels on the grid shifted by half a cell; block (bj, bi) covers pixels from
  // (bj * s - lead, bi * s - lead), and its neighbour cells are rows bj - r .. bj + r - 1, columns likewise.
  const lead = s - Math.floor(s / 2);
  const Wb = Math.ceil((W + lead) / s), Hb = Math.ceil((H + lead) / s), B = Wb * Hb;
  const cr = 1 / (2 * sigmaRange ** 2), vs = sigmaSpatial ** 2;

  const nodes: NodeSpec[] = [];
  const initializers: InitializerSpec[] = [];
  let counter = 0;
  const n = (op: string, inputs: string[], attributes?: Record<string, Attribute>): string => {
    const out = `${op.toLowerCase()}_${counter++}`;
    nodes.push(node(op, inputs, [out], attributes));
    return out;
  };
  const i64 = (values: number[]): string => {
    const name = `i64_${counter++}`;
    initializers.push(int64Tensor(name, [values.length], values));
    return name;
  };
  const f32 = (dims: number[], values: ArrayLike<number>): string => {
    const name = `f32_${counter++}`;
    initializers.push(floatTensor(name, dims, values));
    return name;
  };
  const reshape = (x: string, dims: number[]) => n("Reshape", [x, i64(dims)]);
  const transpose = (x: string, perm: number[]) => n("Transpose", [x], { perm: ints(perm) });
  const slice = (x: string, starts: number[], ends: number[], axes: number[]) =>
    n("Slice", [x, i64(starts), i64(ends), i64(axes)]);
  const pad = (x: string, pads: number[], mode: "constant" | "edge") => n("Pad", [x, i64(pads)], { mode: str(mode) });

  // Cell mean colours [h,w,3], separably (along x on every pixel row, then along y) as sums over each cell's pixels
  // inside the frame times 1 / their count; centred on mid-grey (smaller squares, less cancellation in the expanded
  // colour distance below).
  const meanAlong = (x: string, outer: number, size: number, inner: number, cells: number): string => {
    const inFrame = Math.min(cells, Math.ceil(size / s)), used = Math.min(size, inFrame * s);
    const line = reshape(x, [outer, size, inner]);
    let cut = used < size ? slice(line, [0], [used], [1]) : line;
    if (inFrame * s > used) cut = pad(cut, [0, 0, 0, 0, inFrame * s - used, 0], "constant");
    // A few channels (along x): the sums as one MatMul with s stacked identities, faster than a ReduceSum there.
    const sums = inner < 16
      ? reshape(
        n("MatMul", [reshape(cut, [outer * inFrame, s * inner]), f32([s * inner, inner], stackedIdentity(s, inner))]),
        [outer, inFrame, inner],
      )
      : n("ReduceSum", [reshape(cut, [outer, inFrame, s, inner]), i64([2])], { keepdims: int(0) });
    const inverseCounts = Array.from({ length: inFrame }, (_, c) => 1 / (Math.min(size, (c + 1) * s) - c * s));
    const means = n("Mul", [sums, f32([1, inFrame, 1], inverseCounts)]);
    if (cells === inFrame) return means;
    // Cells wholly past the frame's edge take the edge pixels (the reference clips their range to the last one).
    const edge = slice(line, [size - 1], [size], [1]);
    return n("Concat", [means, n("Expand", [edge, i64([outer, cells - inFrame, inner])])], { axis: int(1) });
  };
  const rowMeans = meanAlong(n("Cast", ["image"], { to: int(1) }), H, W, 3, w);
  const colours = n("Sub", [reshape(meanAlong(rowMeans, 1, H, w * 3, h), [h, w, 3]), f32([], [127.5])]);

  // Per cell: colour and squared colour norm [h,w,4] (edge-padded) and scores [h,w,O] (zero-padded: cells past the
  // grid contribute nothing, as the reference skips them), on a grid with r cells before and enough after.
  const squaredNorm = (x: string, axis: number) =>
    n("ReduceSum", [n("Mul", [x, x]), i64([axis])], { keepdims: int(1) });
  const cellFeatures = n("Concat", [colours, squaredNorm(colours, 2)], { axis: int(2) });
  const Tg = Hb + span - 1, Tw = Wb + span - 1;
  const fitGrid = (x: string, channels: number, mode: "constant" | "edge") => {
    const padded = pad(x, [r, r, 0, Math.max(0, Tg - h - r), Math.max(0, Tw - w - r), 0], mode);
    return h + r > Tg || w + r > Tw ? slice(padded, [0, 0, 0], [Tg, Tw, channels], [0, 1, 2]) : padded;
  };
  const colourGrid = fitGrid(cellFeatures, 4, "edge");
  const scoreGrid = fitGrid(transpose(reshape("scores", [O, h, w]), [1, 2, 0]), O, "constant");
  // The K neighbours of the blocks in rows [top, end), row-major over the 2r x 2r offsets: colours
  // [blocks, K, 4] and scores [blocks, O, K].
  const neighbours = (top: number, end: number): { colours: string; scores: string } => {
    const colours: string[] = [], scores: string[] = [];
    for (let kj = 0; kj < span; kj++) {
      for (let ki = 0; ki < span; ki++) {
        const window = (x: string, axis: number) =>
          n("Unsqueeze", [slice(x, [top + kj, ki], [end + kj, ki + Wb], [0, 1]), i64([axis])]);
        colours.push(window(colourGrid, 2));
        scores.push(window(scoreGrid, 3));
      }
    }
    const blocks = (end - top) * Wb;
    return {
      colours: reshape(n("Concat", colours, { axis: int(2) }), [blocks, K, 4]),
      scores: reshape(n("Concat", scores, { axis: int(3) }), [blocks, O, K]),
    };
  };

  // Pixel offset a within its block and neighbour offset b, per axis, in pixels: the distance is a - b.
  const pixelOffset = (u: number) => u + 0.5 - lead;
  const cellOffset = (k: number) => (k - r + 0.5) * s;
  // R [B, K, 8] = [2c C (3), -c, c|C|^2 + b_y^2/2vs + b_x^2/2vs, b_y / vs, b_x / vs, 1];
  // L^T [B, 8, s^2] = [I (3), |I|^2, -1, a_y, a_x, -(a_y^2 + a_x^2) / 2vs], the block's pixels row-major.
  const mixR = new Float32Array(4 * 8);
  for (let c = 0; c < 3; c++) mixR[c * 8 + c] = 2 * cr;
  mixR[3 * 8 + 4] = cr;
  const biasR = new Float32Array(K * 8);
  for (let kj = 0; kj < span; kj++) {
    for (let ki = 0; ki < span; ki++) {
      const k = kj * span + ki, by = cellOffset(kj), bx = cellOffset(ki);
      biasR.set([-cr, (by * by + bx * bx) / (2 * vs), by / vs, bx / vs, 1], k * 8 + 3);
    }
  }
  const mixRight = f32([4, 8], mixR), biasRight = f32([K, 8], biasR);
  // The pixels are rearranged into blocks as bytes, before the cast (two transposes that move whole runs).
  const paddedImage = pad("image", [lead, lead, 0, Hb * s - H - lead, Wb * s - W - lead, 0], "constant");
  const blockRows = reshape(transpose(reshape(paddedImage, [Hb, s, Wb, s * 3]), [0, 2, 1, 3]), [B, s * s, 3]);
  const constantRows = new Float32Array(4 * s * s);
  for (let uy = 0; uy < s; uy++) {
    for (let ux = 0; ux < s; ux++) {
      const u = uy * s + ux, ay = pixelOffset(uy), ax = pixelOffset(ux);
      [-1, ay, ax, -(ay * ay + ax * ax) / (2 * vs)].forEach((v, row) => constantRows[row * s * s + u] = v);
    }
  }
  const constantLeft = f32([1, 4, s * s], constantRows);
  const background = "background";
  initializers.push({ name: background, type: "uint8", dims: [], data: Uint8Array.of(0) });

  // Object ids [blocks, s^2] of the blocks in rows [top, end): weights [blocks, K, s^2], refined scores
  // [blocks, O, s^2], argmax over objects; an object below the threshold's share of the sum (or no score at all) is
  // background.
  const labelBlocks = (top: number, end: number): string => {
    const count = (end - top) * Wb;
    const near = neighbours(top, end);
    const right = n("Add", [n("MatMul", [near.colours, mixRight]), biasRight]);
    const rows = count === B ? blockRows : slice(blockRows, [top * Wb], [end * Wb], [0]);
    const pixels = n("Sub", [n("Cast", [transpose(rows, [0, 2, 1])], { to: int(1) }), f32([], [127.5])]);
    const leftT = n("Concat", [pixels, squaredNorm(pixels, 1), n("Expand", [constantLeft, i64([count, 4, s * s])])], {
      axis: int(1),
    });
    const weights = n("Exp", [n("MatMul", [right, leftT])]);
    const refined = n("MatMul", [near.scores, weights]);
    const arg = n("ArgMax", [refined], { axis: int(1), keepdims: int(1) });
    const best = n("Cast", [reshape(arg, [count, s * s])], { to: int(2) });
    const winner = reshape(n("GatherElements", [refined, arg], { axis: int(1) }), [count, s * s]);
    const total = n("ReduceSum", [refined, i64([1])], { keepdims: int(0) });
    const weak = n("Or", [
      n("LessOrEqual", [total, f32([], [0])]),
      n("Less", [n("Div", [winner, total]), f32([], [threshold])]),
    ]);
    return n("Where", [weak, background, best]);
  };
  // Large frames go in bands of block rows, each with at most `bandWeights` weights (or refined scores, with more
  // objects than neighbours): by default 2^23 = 32 MiB, 854x480 in one band, 1920x1080 in four. Only one band's
  // float maps exist at once.
  const bands = Math.min(Hb, Math.ceil((Math.max(K, O) * B * s * s) / bandWeights));
  const rowsPerBand = Math.ceil(Hb / bands);
  const parts: string[] = [];
  for (let row = 0; row < Hb; row += rowsPerBand) parts.push(labelBlocks(row, Math.min(Hb, row + rowsPerBand)));
  const ids = parts.length === 1 ? parts[0]! : n("Concat", parts, { axis: int(0) });
  const image = reshape(transpose(reshape(ids, [Hb, Wb, s, s]), [0, 2, 1, 3]), [Hb * s, Wb * s]);
  nodes.push(node("Reshape", [slice(image, [lead, lead], [lead + H, lead + W], [0, 1]), i64([1, H, W])], ["labels"]));

  return buildModel({
    name: "refine",
    opset: 17,
    inputs: [
      { name: "scores", type: "float32", shape: [1, O, h, w] },
      { name: "image", type: "uint8", shape: [H, W, 3] },
    ],
    outputs: [{ name: "labels", type: "uint8", shape: [1, H, W] }],
    initializers,
    nodes,
  });
}

/** `copies` identity matrices [size, size] stacked: [copies * size, size]. */
function stackedIdentity(copies: number, size: number): Float32Array {
  const out = new Float32Array(copies * size * size);
  for (let c = 0; c < copies; c++) for (let i = 0; i < size; i++) out[(c * size + i) * size + i] = 1;
  return out;
}
