/**
 * The `knn` stage: PML's nearest-neighbour classification (Chen et al., CVPR 2018). Every pixel of the
 * current embedding map takes the majority label of its k nearest reference embeddings (squared Euclidean
 * distance), computed in one ONNX graph: `2 q.p - |p|^2` by MatMul, TopK over the pool, the neighbours'
 * labels one-hot summed into votes, ArgMax. Optional spatio-temporal channels (normalised row and column,
 * times `position_weight`) are appended to query and pool so nearby pixels match more easily.
 *
 * The reference pool: the first frame of each stream (its ground-truth object mask, or a `mask` slot) seeds
 * it; with `adapt: true`, pixels of later frames whose k votes were unanimous join it (online adaptation),
 * at most `pool_size` entries, the oldest additions evicted first (the first frame's pixels are kept), so the
 * cost stays flat over long videos.
 *
 * The first frame's mask comes from the `mask` slot if bound, else from `first_mask` (a PNG: DAVIS 2017 palette
 * ids or 2016 0/255), else from the source's ground truth. `scores` gives each object's share of the k votes
 * [1, objects, h, w], what the `refine` stage upsamples.
 *
 * @module
 */
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import { buildModel, int, int64Tensor, node } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Frame } from "../engine/frame.ts";
import { checkFirstMaskIds, checkFirstMaskSize } from "./_mask_size.ts";
import { gridStride } from "../engine/grid.ts";
import { oneHotOp } from "./_one_hot_graph.ts";
import { labelsType } from "../engine/graph_channels.ts";
import { readFirstMask } from "./_first_mask_file.ts";

/**
 * Builds the kNN graph: `query` [M,D], `pool` [N,D], `pool_labels` [N] (int64), `k` [1] -> `labels` [M],
 * `votes` [M] (the winner's count) and `shares` [objects, M] (each object's share of the k votes, object-major so
 * it is already the [1, objects, h, w] score map).
 */
export function buildKnnGraph(objects: number): Uint8Array {
  return buildModel({
    name: "knn",
    opset: 17,
    inputs: [
      { name: "query", type: "float32", shape: ["M", "D"] },
      { name: "pool", type: "float32", shape: ["N", "D"] },
      { name: "pool_labels", type: "int64", shape: ["N"] },
      { name: "k", type: "int64", shape: [1] },
    ],
    outputs: [
      { name: "labels", type: "uint8", shape: ["M"] },
      { name: "votes", type: "float32", shape: ["M"] },
      { name: "shares", type: "float32", shape: [objects, "M"] },
    ],
    initializers: [
      int64Tensor("depth", [1], [objects]),
      int64Tensor("one_hot_values", [2], [0, 1]),
      int64Tensor("axis1", [1], [1]),
    ],
    nodes: [
      // -|q - p|^2 = 2 q.p - |p|^2 - |q|^2; |q|^2 is the same for every p, so it does not change the ranking.
      node("Transpose", ["pool"], ["pool_t"], { perm: { kind: "ints", value: [1, 0] } }),
      node("MatMul", ["query", "pool_t"], ["dots"]),
      node("Add", ["dots", "dots"], ["dots2"]),
      node("Mul", ["pool", "pool"], ["pool_sq"]),
      node("ReduceSum", ["pool_sq", "axis1"], ["pool_norm"], { keepdims: int(0) }),
      node("Sub", ["dots2", "pool_norm"], ["similarity"]),
      node("TopK", ["similarity", "k"], ["top_values", "top_indices"], { axis: int(1), largest: int(1) }),
      node("Gather", ["pool_labels", "top_indices"], ["neighbour_labels"], { axis: int(0) }),
      node("OneHot", ["neighbour_labels", "depth", "one_hot_values"], ["one_hot"], { axis: int(-1) }),
      node("Cast", ["one_hot"], ["one_hot_f"], { to: int(1) }),
      node("ReduceSum", ["one_hot_f", "axis1"], ["vote_counts"], { keepdims: int(0) }),
      node("ArgMax", ["vote_counts"], ["winner"], { axis: int(1), keepdims: int(0) }),
      node("Cast", ["winner"], ["labels"], { to: int(2) }),
      node("ReduceMax", ["vote_counts"], ["votes"], { axes: { kind: "ints", value: [1] }, keepdims: int(0) }),
      node("Transpose", ["vote_counts"], ["counts_by_object"], { perm: { kind: "ints", value: [1, 0] } }),
      node("Cast", ["k"], ["k_float"], { to: int(1) }),
      node("Div", ["counts_by_object", "k_float"], ["shares"]),
    ],
  });
}

/**
 * Most query-pool distances one kNN run holds (2^27 floats, 512 MiB): a DAVIS frame (6,420 queries against a full
 * 10,516-entry pool) is one run; larger frames run in chunks of queries.
 */
export const maxDistancesPerRun = 2 ** 27;

/**
 * Runs the kNN graph over `query` rows in chunks, so that the [M, N] distance matrix of a large frame (1080p:
 * 32,400 queries against a 12,000-entry pool) never takes more than {@linkcode maxDistancesPerRun} floats;
 * returns the labels, winning votes and (with `withShares`) the object-major shares of all rows.
 */
export async function classifyInChunks(
  run: (query: Tensor, fetches: string[]) => Promise<Record<string, Tensor>>,
  query: Tensor,
  poolSize: number,
  objects: number,
  withShares: boolean,
  maxDistances = maxDistancesPerRun,
): Promise<{ labels: Uint8Array; votes: Float32Array; shares?: Float32Array }> {
  const [rows, depth] = query.dims as [number, number];
  const chunk = Math.max(1, Math.floor(maxDistances / Math.max(1, poolSize)));
  const fetches = withShares ? ["labels", "votes", "shares"] : ["labels", "votes"];
  const data = query.data as Float32Array;
  if (rows <= chunk) {
    const out = await run(query, fetches);
    return {
      labels: out.labels!.data as Uint8Array,
      votes: out.votes!.data as Float32Array,
      ...(withShares ? { shares: out.shares!.data as Float32Array } : {}),
    };
  }
  const labels = new Uint8Array(rows), votes = new Float32Array(rows);
  const shares = withShares ? new Float32Array(objects * rows) : undefined;
  for (let start = 0; start < rows; start += chunk) {
    const count = Math.min(chunk, rows - start);
    const part = data.subarray(start * depth, (start + count) * depth);
    const out = await run({ type: "float32", dims: [count, depth], data: part }, fetches);
    labels.set(out.labels!.data as Uint8Array, start);
    votes.set(out.votes!.data as Float32Array, start);
    if (shares) {
      const partShares = out.shares!.data as Float32Array;
      for (let o = 0; o < objects; o++) shares.set(partShares.subarray(o * count, (o + 1) * count), o * rows + start);
    }
  }
  return { labels, votes, ...(shares ? { shares } : {}) };
}

/** Embedding map [1,D,h,w] to rows [h*w, D(+2)], with optional (row, column) channels scaled by `weight`. */
export function embeddingRows(embedding: Tensor, positionWeight: number): Float32Array {
  const [, depth, h, w] = embedding.dims as [number, number, number, number];
  const extra = positionWeight > 0 ? 2 : 0;
  const stride = depth + extra;
  const rows = new Float32Array(h * w * stride);
  const data = embedding.data as Float32Array;
  for (let c = 0; c < depth; c++) {
    const plane = c * h * w;
    for (let p = 0; p < h * w; p++) rows[p * stride + c] = data[plane + p]!;
  }
  if (extra) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        rows[p * stride + depth] = (positionWeight * (y + 0.5)) / h;
        rows[p * stride + depth + 1] = (positionWeight * (x + 0.5)) / w;
      }
    }
  }
  return rows;
}

/**
 * Nearest-neighbour downsampling of a full-size mask to the embedding grid: each cell takes the pixel at its
 * centre (a padded grid's last cells, past the frame's edge, take the edge pixel, as the padded input did).
 */
export function maskOnGrid(mask: Uint8Array, width: number, height: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  const strideX = gridStride(width, w), strideY = gridStride(height, h);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(height - 1, Math.floor((y + 0.5) * strideY));
    for (let x = 0; x < w; x++) {
      out[y * w + x] = mask[sy * width + Math.min(width - 1, Math.floor((x + 0.5) * strideX))]!;
    }
  }
  return out;
}

/** The fewest seed rows an object keeps when a large first frame's seed is thinned. */
export const minSeedPerObject = 256;

/**
 * Which of a first frame's rows seed the pool: all of them up to `limit`; above it, per object, evenly spaced
 * rows in proportion to the object's area (at least {@linkcode minSeedPerObject}, or all the object has).
 */
export function seedRows(labels: Uint8Array, limit: number): number[] {
  const all = Array.from(labels.keys());
  if (labels.length <= limit) return all;
  const byObject = new Map<number, number[]>();
  for (const row of all) {
    const list = byObject.get(labels[row]!);
    if (list) list.push(row);
    else byObject.set(labels[row]!, [row]);
  }
  const keep: number[] = [];
  for (const list of byObject.values()) {
    const count = Math.min(list.length, Math.max(minSeedPerObject, Math.round((list.length * limit) / labels.length)));
    for (let i = 0; i < count; i++) keep.push(list[Math.floor((i * list.length) / count)]!);
  }
  return keep.sort((a, b) => a - b);
}

/**
 * The reference pool: seed entries (first frame) kept, adapted entries in a ring of bounded size.
 * Rows are stored packed; `take()` returns the pool as one tensor pair for the graph.
 */
export class ReferencePool {
  readonly #dims: number;
  readonly #capacity: number;
  #seed: { rows: Float32Array; labels: BigInt64Array } = { rows: new Float32Array(0), labels: new BigInt64Array(0) };
  readonly #ring: Float32Array;
  readonly #ringLabels: BigInt64Array;
  #ringCount = 0;
  #ringNext = 0;

  constructor(dims: number, capacity: number) {
    this.#dims = dims;
    this.#capacity = capacity;
    this.#ring = new Float32Array(capacity * dims);
    this.#ringLabels = new BigInt64Array(capacity);
  }

  /** Entries now in the pool. */
  get size(): number {
    return this.#seed.labels.length + this.#ringCount;
  }

  /**
   * Replaces the seed with the first frame's rows and labels (and empties the adapted ring). With more than
   * `limit` rows (a large frame's grid), each object keeps evenly spaced rows in proportion to its area, at
   * least {@linkcode minSeedPerObject} (or all it has), so every kNN query costs the same on any frame size.
   */
  seed(rows: Float32Array, labels: Uint8Array, limit = Infinity): void {
    const keep = seedRows(labels, limit);
    const d = this.#dims;
    const seedRowsData = new Float32Array(keep.length * d);
    keep.forEach((row, i) => seedRowsData.set(rows.subarray(row * d, (row + 1) * d), i * d));
    this.#seed = { rows: seedRowsData, labels: BigInt64Array.from(keep, (row) => BigInt(labels[row]!)) };
    this.#ringCount = 0;
    this.#ringNext = 0;
  }

  /** Adds one row (online adaptation), evicting the oldest added row when full. */
  add(rows: Float32Array, index: number, label: number): void {
    if (this.#capacity === 0) return;
    this.#ring.set(rows.subarray(index * this.#dims, (index + 1) * this.#dims), this.#ringNext * this.#dims);
    this.#ringLabels[this.#ringNext] = BigInt(label);
    this.#ringNext = (this.#ringNext + 1) % this.#capacity;
    this.#ringCount = Math.min(this.#capacity, this.#ringCount + 1);
  }

  /** The pool as tensors. */
  take(): { pool: Tensor; labels: Tensor } {
    const n = this.size, d = this.#dims, s = this.#seed.labels.length;
    const rows = new Float32Array(n * d);
    rows.set(this.#seed.rows);
    rows.set(this.#ring.subarray(0, this.#ringCount * d), s * d);
    const labels = new BigInt64Array(n);
    labels.set(this.#seed.labels);
    labels.set(this.#ringLabels.subarray(0, this.#ringCount), s);
    return { pool: { type: "float32", dims: [n, d], data: rows }, labels: { type: "int64", dims: [n], data: labels } };
  }
}

export { readFirstMask } from "./_first_mask_file.ts";

/** The `knn` stage kind. */
export const knn = defineStage({
  kind: "knn",
  role: "stage",
  doc: "PML nearest-neighbour classification of pixel embeddings against the first frame's annotated pixels",
  params: {
    k: { type: "integer", min: 1, max: 64, default: 5, doc: "neighbours that vote" },
    position_weight: {
      type: "number",
      min: 0,
      default: 0.5,
      doc: "weight of the appended (row, column) channels; 0: none",
    },
    adapt: { type: "boolean", default: true, doc: "add unanimously classified pixels of each frame to the pool" },
    pool_size: { type: "integer", min: 0, default: 4096, doc: "most adapted entries kept (oldest evicted first)" },
    seed_size: {
      type: "integer",
      min: 1,
      default: 8192,
      doc: "most first-frame entries kept (a larger grid is thinned evenly per object; 854x480 has 6,420)",
    },
    objects: { type: "integer", min: 2, max: 255, default: 8, doc: "label ids 0..objects-1 (0 = background)" },
    first_mask: { type: "string", doc: "PNG with the first frame's object ids (else the mask slot or ground truth)" },
  },
  inputs: [
    { name: "embedding", doc: "L2-normalised embeddings [1,D,h,w]", type: "tensor" },
    {
      name: "mask",
      doc: "first-frame object ids (default: the source's ground-truth mask)",
      type: "tensor",
      optional: true,
      gaps: true,
    },
  ],
  outputs: [
    { name: "labels", doc: "object id per embedding pixel, uint8 [1,h,w]", type: "tensor", kind: "labels" },
    { name: "votes", doc: "winning votes per pixel / k, float32 [1,h,w]", type: "tensor", optional: true },
    {
      name: "scores",
      doc: "each object's share of the votes, float32 [1,objects,h,w]",
      type: "tensor",
      optional: true,
    },
  ],
  types(p, _env, inputs) {
    const stride = inputs.embedding?.type.stride;
    const grid = stride === undefined ? {} : { stride };
    return {
      outputs: {
        labels: labelsType(stride),
        votes: { kind: "tensor", dtype: "float32", layout: "NHW", ...grid },
        scores: { kind: "tensor", dtype: "float32", layout: "NCHW", channels: p.objects, ...grid },
      },
    };
  },
  async create(ctx) {
    const { k, position_weight: positionWeight, adapt, pool_size: poolSize, objects } = ctx.params;
    const graph = await ctx.op(`knn-${objects}`, () => buildKnnGraph(objects));
    const oneHot = oneHotOp(ctx, objects);
    let state: { stream: string; pool: ReferencePool } | undefined;
    const fileMask = ctx.params.first_mask ? await readFirstMask(ctx.params.first_mask) : undefined;
    const firstMask = (frame: Frame, w: number, h: number): Uint8Array => {
      if (fileMask && !ctx.inputs.mask) {
        checkFirstMaskSize(ctx.params.first_mask!, fileMask, frame);
        checkFirstMaskIds(ctx.params.first_mask!, fileMask.data, objects);
        return maskOnGrid(fileMask.data, fileMask.width, fileMask.height, w, h);
      }
      if (ctx.inputs.mask) {
        const mask = readSlot<Tensor>(frame, ctx.inputs.mask);
        const [mh, mw] = mask.dims.slice(-2) as [number, number];
        return maskOnGrid(mask.data as Uint8Array, mw, mh, w, h);
      }
      const truth = frame.truth?.mask;
      if (!truth) {
        throw new ReferenceError("the first frame of a stream needs an object mask (ground truth or a 'mask' slot)");
      }
      return maskOnGrid(truth, frame.image.width, frame.image.height, w, h);
    };
    return perFrame(ctx, async (frame) => {
      const embedding = readSlot<Tensor>(frame, ctx.inputs.embedding!);
      const [, depth, h, w] = embedding.dims as [number, number, number, number];
      const rows = embeddingRows(embedding, positionWeight);
      const dims = depth + (positionWeight > 0 ? 2 : 0);
      if (!state || state.stream !== frame.stream) {
        const labels = firstMask(frame, w, h);
        const pool = new ReferencePool(dims, adapt ? poolSize : 0);
        pool.seed(rows, labels, ctx.params.seed_size);
        state = { stream: frame.stream, pool };
        frame.slots.set(ctx.outputs.labels!, { type: "uint8", dims: [1, h, w], data: labels });
        if (ctx.outputs.scores) frame.slots.set(ctx.outputs.scores, await oneHot(labels, h, w, frame));
        if (ctx.outputs.votes) {
          frame.slots.set(ctx.outputs.votes, {
            type: "float32",
            dims: [1, h, w],
            data: new Float32Array(h * w).fill(1),
          });
        }
        return;
      }
      const { pool, labels: poolLabels } = state.pool.take();
      const kk = Math.min(k, poolLabels.dims[0]!);
      const out = await classifyInChunks(
        (query, fetches) =>
          graph.run(
            {
              query,
              pool,
              pool_labels: poolLabels,
              k: { type: "int64", dims: [1], data: BigInt64Array.of(BigInt(kk)) },
            },
            fetches,
            frame,
          ),
        { type: "float32", dims: [h * w, dims], data: rows },
        poolLabels.dims[0]!,
        objects,
        ctx.outputs.scores !== undefined,
      );
      const labels = out.labels;
      const votes = out.votes;
      if (adapt) { for (let p = 0; p < labels.length; p++) if (votes[p] === kk) state.pool.add(rows, p, labels[p]!); }
      frame.slots.set(ctx.outputs.labels!, { type: "uint8", dims: [1, h, w], data: labels });
      if (ctx.outputs.votes) {
        frame.slots.set(ctx.outputs.votes, { type: "float32", dims: [1, h, w], data: votes.map((v) => v / kk) });
      }
      if (ctx.outputs.scores) {
        frame.slots.set(ctx.outputs.scores, { type: "float32", dims: [1, objects, h, w], data: out.shares! });
      }
    });
  },
});
