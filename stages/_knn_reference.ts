/**
 * The host-side kNN of PML, as the `knn` stage ran before its pool moved into the worker: the pool kept on the
 * main thread ({@linkcode ReferencePool}) and sent with every frame to one graph ({@linkcode buildKnnGraph}) over
 * chunks of queries ({@linkcode classifyInChunks}). Kept as the reference the worker-resident graphs
 * (`_knn_graph.ts`) are tested against: the same pool, the same neighbours, the same votes.
 *
 * @module
 */
import { buildModel, int, int64Tensor, node } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";
import { seedRows } from "./_knn_seed.ts";

/**
 * Builds the kNN graph: `query` [M,D], `pool` [N,D], `pool_labels` [N] (int64), `k` [1] -> `labels` [M],
 * `votes` [M] (the winner's count) and `shares` [objects, M] (each object's share of the k votes, object-major so
 * it is already the [1, objects, h, w] score map).
 *
 * @example
 * ```ts
 * const bytes = buildKnnGraph(8);
 * ```
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
   * Replaces the seed with the first frame's rows and labels (and empties the adapted ring); with more than
   * `limit` rows, the rows {@linkcode seedRows} keeps.
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
