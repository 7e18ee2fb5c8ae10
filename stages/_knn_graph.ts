/**
 * The ONNX graphs of the `knn` stage, which keep PML's reference pool in the model worker: the pool is made there
 * from the first frame's embedding, searched there, and grown there (online adaptation), so after a stream's first
 * frame nothing but a few counters crosses to the worker, and only the vote shares come back.
 *
 * Formulation. A pixel's row is its embedding with the (row, column) channels appended; a pool entry is a row
 * followed by `-|p|^2 / 2`, a query is a row followed by `1`, so one MatMul gives `q.p - |p|^2 / 2`, which ranks
 * the pool like `-|q - p|^2` does (`|q|^2` is the same for every entry): the squared Euclidean distance in one
 * product, the norms computed once per entry when it joins the pool. The queries are split into chunks of about
 * {@linkcode distancesPerChunk} distances, each a MatMul and a TopK, so the distance block a TopK reads is still
 * in the cache the MatMul wrote it to, instead of one [queries, pool] matrix (6,420 x 10,516 floats, 270 MB at
 * 854x480) going through memory three times.
 *
 * Within a chunk, TopK is taken by blocks of {@linkcode topKBlock} entries (block maxima, then the entries of the k
 * best blocks): the same neighbours as one TopK over the pool, with a fraction of TopK's scalar work.
 *
 * Coarse to fine (`searchStride` > 1, {@linkcode buildSearchGraph}): the searched cells are every s-th one, then
 * those the coarse votes leave open; the grid's other cells take their object from their neighbours.
 *
 * The pool is two resident tensors: the seed (the first frame's rows, thinned on a large frame) and the ring of
 * adapted entries (`capacity` rows, oldest overwritten first, `count` of them valid, the next write at `next`).
 * The search graph appends the unanimously voted pixels of this frame to the ring with a ScatterND and returns the
 * new ring, exactly as adding them one by one in raster order would.
 *
 * @module
 */
import {
  buildModel,
  float32Scalar,
  type InitializerSpec,
  int,
  int64Tensor,
  type ModelSpec,
  node,
  type NodeSpec,
  type TensorType,
  type ValueSpec,
} from "../engine/onnx/builder.ts";

/** About how many query-pool distances one chunk of the search computes (4 MiB of floats: in the L2/L3 cache). */
export const distancesPerChunk = 2 ** 20;

/** Entries per block of the blocked TopK ({@linkcode buildSearchGraph}); 0: one TopK over the whole pool. */
export const topKBlock = 64;

/** The similarity of a padding entry: below any real entry's (at least -|p|^2 / 2 - |q| |p|, about -2). */
const fillerSimilarity = -1e30;

/**
 * Most query chunks a search graph has: a 1080p frame against a full pool (1,600 MB of distances) takes 128 chunks of
 * 12 MB; onnxruntime takes superlinearly longer to set up larger graphs (0.2 s at 65 chunks, 0.7 s at 128, 2.4 s at
 * 256).
 */
export const maxChunks = 128;

/** What a kNN graph is built for. */
export interface KnnGraphOptions {
  /** Label ids 0..objects-1. */
  objects: number;
  /** Whether (row, column) channels are appended: a `positions` input [h*w, 2]. */
  positions: boolean;
  /** Adapted entries the ring holds; 0: no ring (no online adaptation). */
  ringCapacity: number;
  /**
   * 1: every cell searched. s > 1: coarse to fine, every s-th cell in each direction searched first, then only the
   * cells whose surrounding searched cells disagree or are not unanimous ({@linkcode buildSearchGraph}).
   */
  searchStride: number;
}

/** How many query chunks a search of `queries` rows against up to `poolCapacity` entries takes. */
export function searchChunks(queries: number, poolCapacity: number): number {
  const wanted = Math.ceil((queries * poolCapacity) / distancesPerChunk);
  return Math.max(1, Math.min(wanted, maxChunks, queries));
}

/** The cache key of the seed graph. */
export function seedGraphKey(o: KnnGraphOptions): string {
  return `knn-seed-o${o.objects}-p${o.positions ? 1 : 0}-r${o.ringCapacity}`;
}

/** The cache key of the search graph with `chunks` (and `refineChunks`) query chunks. */
export function searchGraphKey(o: KnnGraphOptions, chunks: number, refineChunks = 1, block = topKBlock): string {
  const fine = o.searchStride > 1 ? `-f${refineChunks}` : "";
  return `knn-search-o${o.objects}-p${
    o.positions ? 1 : 0
  }-r${o.ringCapacity}-s${o.searchStride}-c${chunks}${fine}-b${block}`;
}

/** The cache key of the shape probe. */
export const shapeGraphKey = "knn-shape";

/** Builds the shape probe: `embedding` [1,D,h,w] -> `shape` int64 [4] (for a handle still being made). */
export function buildShapeGraph(): Uint8Array {
  return buildModel({
    name: "knn-shape",
    opset: 17,
    inputs: [value("embedding", "float32", [1, "D", "h", "w"])],
    outputs: [value("shape", "int64", [4])],
    nodes: [node("Shape", ["embedding"], ["shape"])],
  });
}

/** A graph input or output. */
function value(name: string, type: TensorType, shape: (number | string)[]): ValueSpec {
  return { name, type, shape };
}

const embeddingInput = value("embedding", "float32", [1, "D", "h", "w"]);
const positionsInput = value("positions", "float32", ["M", 2]);

const shared: InitializerSpec[] = [
  int64Tensor("axis1", [1], [1]),
  int64Tensor("flat_grid", [3], [0, 0, -1]),
  int64Tensor("i0", [1], [0]),
  int64Tensor("i1", [1], [1]),
  int64Tensor("i2", [1], [2]),
  int64Tensor("i4", [1], [4]),
  float32Scalar("minus_half", -0.5),
  { name: "one_2d", type: "float32", dims: [1, 1], data: Float32Array.of(1) },
];

/**
 * Nodes turning `embedding` [1,D,h,w] (and `positions`) into `rows` [M,D'], `entries` [M,E] (pool rows: the row,
 * then `-|row|^2 / 2`) and, for a search, `queries` [M,E] (the row, then 1).
 */
function rowNodes(o: KnnGraphOptions, withQueries: boolean): NodeSpec[] {
  return [
    node("Reshape", ["embedding", "flat_grid"], ["flat"]), // [1,D,M]
    node("Transpose", ["flat"], ["by_pixel"], { perm: { kind: "ints", value: [0, 2, 1] } }), // [1,M,D]
    node("Squeeze", ["by_pixel", "i0"], [o.positions ? "features" : "rows"]), // [M,D]
    ...(o.positions ? [node("Concat", ["features", "positions"], ["rows"], { axis: int(1) })] : []),
    node("Mul", ["rows", "rows"], ["squares"]),
    node("ReduceSum", ["squares", "axis1"], ["norm"], { keepdims: int(1) }), // [M,1]
    node("Mul", ["norm", "minus_half"], ["half_norm"]),
    node("Concat", ["rows", "half_norm"], ["entries"], { axis: int(1) }),
    ...(withQueries
      ? [
        node("Shape", ["norm"], ["column_shape"]),
        node("Expand", ["one_2d", "column_shape"], ["ones"]),
        node("Concat", ["rows", "ones"], ["queries"], { axis: int(1) }),
      ]
      : []),
  ];
}

/** {@linkcode buildModel} with only the initializers some node reads (onnxruntime warns about the others). */
function build(spec: ModelSpec): Uint8Array {
  return buildModel({ ...spec, initializers: readBy(spec.nodes, spec.initializers ?? []) });
}

/** The initializers some node reads (onnxruntime warns about the others). */
function readBy(nodes: NodeSpec[], initializers: InitializerSpec[]): InitializerSpec[] {
  const read = new Set(nodes.flatMap((n) => n.inputs));
  return initializers.filter((t) => read.has(t.name));
}

/** The inputs of a graph that reads a stream's pool: the embedding, its positions, the seed and its labels. */
function poolInputs(o: KnnGraphOptions): ValueSpec[] {
  return [
    embeddingInput,
    ...(o.positions ? [positionsInput] : []),
    value("seed", "float32", ["S", "E"]),
    value("seed_labels", "int64", ["S"]),
  ];
}

/** The initializer `ids` [1,objects,1,1] int32 0..objects-1, what {@linkcode oneHotNodes} compares labels with. */
function objectIds(objects: number): InitializerSpec {
  return {
    name: "ids",
    type: "int32",
    dims: [1, objects, 1, 1],
    data: Int32Array.from({ length: objects }, (_, i) => i),
  };
}

/** Nodes turning `labels` uint8 [1,h,w] into `scores` float32 [1,objects,h,w], one-hot (needs `ids`, `i1`). */
function oneHotNodes(): NodeSpec[] {
  return [
    node("Unsqueeze", ["labels", "i1"], ["planes"]),
    node("Cast", ["planes"], ["planes_int"], { to: int(6) }),
    node("Equal", ["planes_int", "ids"], ["hot"]),
    node("Cast", ["hot"], ["scores"], { to: int(1) }),
  ];
}

/**
 * Builds the seed graph, run on a stream's first frame: `embedding` [1,D,h,w], `positions` [M,2] (with position
 * channels), `seed_rows` int64 [S] (which pixels seed the pool) and `labels` uint8 [1,h,w] (the first mask on the
 * grid) -> `seed` [S,E], `seed_labels` int64 [S], the empty ring `ring` [C,E] and `ring_labels` int64 [C] (with a
 * ring), `scores` float32 [1,objects,h,w] (the mask one-hot) and `cell_labels` int64 [M] (the mask, for a coarse to
 * fine search of the next frame).
 *
 * @example
 * ```ts
 * const bytes = buildSeedGraph({ objects: 8, positions: true, ringCapacity: 4096, searchStride: 1 });
 * ```
 */
export function buildSeedGraph(o: KnnGraphOptions): Uint8Array {
  const ring = o.ringCapacity > 0;
  return build({
    name: "knn-seed",
    opset: 17,
    inputs: [
      embeddingInput,
      ...(o.positions ? [positionsInput] : []),
      value("seed_rows", "int64", ["S"]),
      value("labels", "uint8", [1, "h", "w"]),
    ],
    outputs: [
      value("seed", "float32", ["S", "E"]),
      value("seed_labels", "int64", ["S"]),
      ...(ring
        ? [
          value("ring", "float32", [o.ringCapacity, "E"]),
          value("ring_labels", "int64", [o.ringCapacity]),
        ]
        : []),
      value("scores", "float32", [1, o.objects, "h", "w"]),
      value("cell_labels", "int64", ["M"]),
    ],
    initializers: [
      ...shared,
      int64Tensor("minus_one", [1], [-1]),
      ...(ring ? [int64Tensor("capacity", [1], [o.ringCapacity])] : []),
      objectIds(o.objects),
    ],
    nodes: [
      ...rowNodes(o, false),
      node("Gather", ["entries", "seed_rows"], ["seed"], { axis: int(0) }),
      node("Reshape", ["labels", "minus_one"], ["flat_labels"]),
      node("Cast", ["flat_labels"], ["cell_labels"], { to: int(7) }),
      node("Gather", ["cell_labels", "seed_rows"], ["seed_labels"], { axis: int(0) }),
      ...(ring
        ? [
          node("Shape", ["entries"], ["entries_shape"]),
          node("Slice", ["entries_shape", "i1", "i2"], ["width"]),
          node("Concat", ["capacity", "width"], ["ring_shape"], { axis: int(0) }),
          node("ConstantOfShape", ["ring_shape"], ["ring"]),
          node("ConstantOfShape", ["capacity"], ["ring_zeros"]),
          node("Cast", ["ring_zeros"], ["ring_labels"], { to: int(7) }),
        ]
        : []),
      // The first frame's scores: its mask, one-hot (as `_one_hot_graph.ts`).
      ...oneHotNodes(),
    ],
  });
}

/** The cache key of the append graph. */
export function appendGraphKey(o: KnnGraphOptions): string {
  return `knn-append-o${o.objects}-p${o.positions ? 1 : 0}-c${o.searchStride > 1 ? 1 : 0}`;
}

/**
 * Builds the append graph, run on a later frame whose object mask is given (new objects enter the video): as the
 * seed graph on that frame's `embedding` (and the stream's `positions`), `seed_rows` int64 [S'] (the new objects'
 * pixels) and `labels` uint8 [1,h,w] (the given mask on the grid), but the rows are appended to the stream's `seed`
 * [S,E] and `seed_labels` [S] -> `seed_out` [S+S',E], `seed_labels_out` [S+S'], `scores` (the mask one-hot) and,
 * coarse to fine, `cell_labels` [M] (the given mask, for the next frame). The ring is left as it is.
 *
 * @example
 * ```ts
 * const bytes = buildAppendGraph({ objects: 21, positions: true, ringCapacity: 4096, searchStride: 3 });
 * ```
 */
export function buildAppendGraph(o: KnnGraphOptions): Uint8Array {
  return build({
    name: "knn-append",
    opset: 17,
    inputs: [
      ...poolInputs(o),
      value("seed_rows", "int64", ["N"]),
      value("labels", "uint8", [1, "h", "w"]),
    ],
    outputs: [
      value("seed_out", "float32", ["T", "E"]),
      value("seed_labels_out", "int64", ["T"]),
      value("scores", "float32", [1, o.objects, "h", "w"]),
      ...(o.searchStride > 1 ? [value("cell_labels", "int64", ["M"])] : []),
    ],
    initializers: [
      ...shared,
      int64Tensor("minus_one", [1], [-1]),
      objectIds(o.objects),
    ],
    nodes: [
      ...rowNodes(o, false),
      node("Gather", ["entries", "seed_rows"], ["new_entries"], { axis: int(0) }),
      node("Concat", ["seed", "new_entries"], ["seed_out"], { axis: int(0) }),
      node("Reshape", ["labels", "minus_one"], ["flat_labels"]),
      node("Cast", ["flat_labels"], [o.searchStride > 1 ? "cell_labels" : "all_labels"], { to: int(7) }),
      node("Gather", [o.searchStride > 1 ? "cell_labels" : "all_labels", "seed_rows"], ["new_labels"], {
        axis: int(0),
      }),
      node("Concat", ["seed_labels", "new_labels"], ["seed_labels_out"], { axis: int(0) }),
      ...oneHotNodes(), // the given mask's scores
    ],
  });
}

/**
 * Builds the search graph: `embedding` [1,D,h,w], `positions` [M,2] (with position channels), `seed` [S,E],
 * `seed_labels` int64 [S], with a ring also `ring` [C,E], `ring_labels` int64 [C], `ring_count` and `ring_next`
 * int64 [1], and `k` int64 [1] (at most the pool's size) -> `labels` uint8 [1,h,w] (the majority of the k nearest
 * entries), `votes` float32 [1,h,w] (the winner's share of the k votes), `scores` float32 [1,objects,h,w] (each
 * object's share), `searched` int64 [1] (cells searched), and with a ring `added` int64 [1] (searched cells whose
 * k votes were unanimous: they joined the ring), `ring_out` and `ring_labels_out` (the grown ring).
 *
 * With `searchStride` s > 1 the search is coarse to fine (input `previous_labels` int64 [M], the last frame's
 * labels; output `cell_labels`, this frame's): every s-th cell in each direction is searched first (in `chunks`
 * chunks); a cell whose surrounding searched cells (the up to 4 it lies between) all voted unanimously for the object
 * it had in the previous frame takes that object (all k votes, but it does not join the ring: it was not searched);
 * every other cell is searched as well (in `refineChunks` chunks), so an object too small for the coarse cells to
 * see, or one moving, is still searched.
 *
 * @example
 * ```ts
 * const bytes = buildSearchGraph({ objects: 8, positions: true, ringCapacity: 4096, searchStride: 3 }, 8, 16);
 * ```
 */
export function buildSearchGraph(o: KnnGraphOptions, chunks: number, refineChunks = 1, block = topKBlock): Uint8Array {
  for (const [name, count] of Object.entries({ chunks, refineChunks })) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`'${name}' must be >= 1, got ${count}`);
  }
  if (!Number.isInteger(block) || block < 0) throw new RangeError(`'block' must be >= 0, got ${block}`);
  const ring = o.ringCapacity > 0, strided = o.searchStride > 1;
  return build({
    name: "knn-search",
    opset: 17,
    inputs: [
      ...poolInputs(o),
      ...(ring
        ? [
          value("ring", "float32", [o.ringCapacity, "E"]),
          value("ring_labels", "int64", [o.ringCapacity]),
          value("ring_count", "int64", [1]),
          value("ring_next", "int64", [1]),
        ]
        : []),
      value("k", "int64", [1]),
      ...(strided ? [value("previous_labels", "int64", ["M"])] : []),
    ],
    outputs: [
      value("labels", "uint8", [1, "h", "w"]),
      value("votes", "float32", [1, "h", "w"]),
      value("scores", "float32", [1, o.objects, "h", "w"]),
      value("searched", "int64", [1]),
      ...(strided ? [value("cell_labels", "int64", ["M"])] : []),
      ...(ring
        ? [
          value("added", "int64", [1]),
          value("ring_out", "float32", [o.ringCapacity, "E"]),
          value("ring_labels_out", "int64", [o.ringCapacity]),
        ]
        : []),
    ],
    initializers: [
      ...shared,
      int64Tensor("depth", [1], [o.objects]),
      int64Tensor("one_hot_values", [2], [0, 1]),
      int64Tensor("objects", [1], [o.objects]),
      int64Tensor("minus_one", [1], [-1]),
      int64Tensor("minus_one_scalar", [], [-1]),
      int64Tensor("zero_scalar", [], [0]),
      int64Tensor("one_scalar", [], [1]),
      int64Tensor("to_end", [1], [Number.MAX_SAFE_INTEGER]),
      int64Tensor("block", [1], [Math.max(1, block)]),
      int64Tensor("block_shape", [3], [0, -1, Math.max(1, block)]),
      int64Tensor("row_shape", [2], [0, -1]),
      int64Tensor("filler_rows", [1], [Math.max(1, block)]),
      { name: "filler_column", type: "float32", dims: [1, 1], data: Float32Array.of(fillerSimilarity) },
      int64Tensor("stride", [1], [o.searchStride]),
      int64Tensor("stride_scalar", [], [o.searchStride]),
      int64Tensor("grid_axes", [2], [0, 1]),
      int64Tensor("grid_steps", [2], [o.searchStride, o.searchStride]),
      int64Tensor("grid_starts", [2], [0, 0]),
      int64Tensor("whole_grid", [2], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]),
      int64Tensor("refine_padding", [refineChunks], new Array(refineChunks).fill(0)),
      { name: "zero_f_1", type: "float32", dims: [1], data: Float32Array.of(0) },
      ...chunkConstants(chunks),
      ...(strided && refineChunks !== chunks ? chunkConstants(refineChunks) : []),
      float32Scalar("whole", 1 - 1e-6),
      ...(ring
        ? [int64Tensor("capacity", [1], [o.ringCapacity]), int64Tensor("minus_capacity", [1], [-o.ringCapacity])]
        : []),
    ],
    nodes: [
      ...rowNodes(o, true),
      node("Shape", ["embedding"], ["embedding_shape"]),
      node("Slice", ["embedding_shape", "i2", "i4"], ["grid_hw"]),
      node("Shape", ["queries"], ["queries_shape"]),
      node("Slice", ["queries_shape", "i0", "i1"], ["cell_count"]),
      // The pool: the seed, then the ring's valid entries (in ring order, as the host pool was laid out).
      ...(ring
        ? [
          node("Slice", ["ring", "i0", "ring_count", "i0"], ["ring_valid"]),
          node("Slice", ["ring_labels", "i0", "ring_count", "i0"], ["ring_labels_valid"]),
          node("Concat", ["seed", "ring_valid"], ["pool"], { axis: int(0) }),
          node("Concat", ["seed_labels", "ring_labels_valid"], ["pool_labels"], { axis: int(0) }),
        ]
        : [node("Identity", ["seed"], ["pool"]), node("Identity", ["seed_labels"], ["pool_labels"])]),
      ...(block > 0 ? padPool() : [node("Identity", ["pool"], ["padded_pool"])]),
      node("Transpose", ["padded_pool"], ["pool_t"], { perm: { kind: "ints", value: [1, 0] } }),
      node("Cast", ["k"], ["k_float"], { to: int(1) }),
      ...(strided ? coarseToFine(chunks, refineChunks, block) : [
        ...searchNodes("all", "queries", chunks, block),
        node("Identity", ["all_counts"], ["vote_counts"]),
        node("Identity", ["cell_count"], ["searched"]),
      ]),
      // vote_counts [M,objects] -> the outputs.
      node("Concat", ["i1", "grid_hw"], ["map_shape"], { axis: int(0) }),
      node("Concat", ["i1", "objects", "grid_hw"], ["scores_shape"], { axis: int(0) }),
      node("Transpose", ["vote_counts"], ["counts_by_object"], { perm: { kind: "ints", value: [1, 0] } }),
      node("Div", ["counts_by_object", "k_float"], ["shares"]), // [objects, M]
      node("Reshape", ["shares", "scores_shape"], ["scores"]),
      node("ArgMax", ["shares"], ["winner"], { axis: int(0), keepdims: int(0) }),
      node("ReduceMax", ["shares"], ["winner_share"], { axes: { kind: "ints", value: [0] }, keepdims: int(0) }),
      node("Cast", ["winner"], ["labels_flat"], { to: int(2) }),
      node("Reshape", ["labels_flat", "map_shape"], ["labels"]),
      node("Reshape", ["winner_share", "map_shape"], ["votes"]),
      ...(strided ? [node("Identity", ["winner"], ["cell_labels"])] : []),
      ...(ring ? ringNodes(strided) : []),
    ],
  });
}

/**
 * Nodes searching the pool for `queries` [Q,E] in `chunks` chunks (rows floor(i Q / chunks) .. floor((i + 1) Q /
 * chunks)): `${prefix}_counts` float32 [Q,objects], the votes of each query's k nearest entries.
 */
function searchNodes(prefix: string, queries: string, chunks: number, block: number): NodeSpec[] {
  const n = (name: string) => `${prefix}_${name}`;
  const parts = Array.from({ length: chunks }, (_, i) => n(`query_${i}`));
  const perChunk = parts.flatMap((part, i) => [
    node("MatMul", [part, "pool_t"], [n(`similarity_${i}`)]),
    ...(block > 0 ? blockTopK(n(`similarity_${i}`), n(`${i}`)) : [
      node("TopK", [n(`similarity_${i}`), "k"], [n(`top_values_${i}`), n(`top_${i}`)], {
        axis: int(1),
        largest: int(1),
      }),
    ]),
  ]);
  return [
    node("Shape", [queries], [n("shape")]),
    node("Slice", [n("shape"), "i0", "i1"], [n("count")]),
    node("Mul", [`chunk_ends_${chunks}`, n("count")], [n("scaled_ends")]),
    node("Div", [n("scaled_ends"), `chunk_count_${chunks}`], [n("ends")]),
    node("Concat", ["i0", n("ends")], [n("bounds")], { axis: int(0) }),
    node("Slice", [n("bounds"), "i0", `chunk_count_${chunks}`], [n("starts")]),
    node("Sub", [n("ends"), n("starts")], [n("sizes")]),
    node("Split", [queries, n("sizes")], parts, { axis: int(0) }),
    ...perChunk,
    ...(block > 0 ? blockIndices(prefix, chunks) : [
      node("Concat", parts.map((_, i) => n(`top_${i}`)), [n("top")], { axis: int(0) }),
    ]),
    // The votes of the k nearest entries.
    node("Gather", ["pool_labels", n("top")], [n("neighbour_labels")], { axis: int(0) }),
    node("OneHot", [n("neighbour_labels"), "depth", "one_hot_values"], [n("one_hot")], { axis: int(-1) }),
    node("Cast", [n("one_hot")], [n("one_hot_f")], { to: int(1) }),
    node("ReduceSum", [n("one_hot_f"), "axis1"], [n("counts")], { keepdims: int(0) }),
  ];
}

/** The constants a search in `chunks` chunks reads. */
function chunkConstants(chunks: number): InitializerSpec[] {
  return [
    int64Tensor(`chunk_count_${chunks}`, [1], [chunks]),
    int64Tensor(`chunk_ends_${chunks}`, [chunks], Array.from({ length: chunks }, (_, i) => i + 1)),
  ];
}

/**
 * Coarse to fine: `coarse_queries` (every stride-th cell) searched in `chunks` chunks; the cells whose surrounding
 * searched cells agree unanimously take their object; the rest searched in `refineChunks` chunks. Gives
 * `vote_counts` [M,objects] (k for the object of a settled cell) and `searched` [1].
 */
function coarseToFine(chunks: number, refineChunks: number, block: number): NodeSpec[] {
  // Grid line y lies between searched lines floor(y / s) and min(ceil(y / s), searched lines - 1).
  const lines = (axis: "zero_scalar" | "one_scalar", name: string) => [
    node("Gather", ["grid_hw", axis], [`${name}_cells`], { axis: int(0) }),
    node("Range", ["zero_scalar", `${name}_cells`, "one_scalar"], [`${name}_lines`]),
    node("Div", [`${name}_lines`, "stride_scalar"], [`${name}_before`]),
    node("Add", [`${name}_lines`, "stride_scalar"], [`${name}_ahead`]),
    node("Sub", [`${name}_ahead`, "one_scalar"], [`${name}_ahead1`]),
    node("Div", [`${name}_ahead1`, "stride_scalar"], [`${name}_after_unclamped`]),
    node("Gather", ["coarse_hw", axis], [`${name}_coarse`], { axis: int(0) }),
    node("Sub", [`${name}_coarse`, "one_scalar"], [`${name}_last`]),
    node("Min", [`${name}_after_unclamped`, `${name}_last`], [`${name}_after`]),
  ];
  const corner = (rows: string, cols: string, name: string) => [
    node("Gather", ["coarse_labels", rows], [`${name}_rows`], { axis: int(0) }),
    node("Gather", [`${name}_rows`, cols], [name], { axis: int(1) }),
  ];
  return [
    ...stridedQueries(),
    ...searchNodes("coarse", "coarse_queries", chunks, block),
    node("ArgMax", ["coarse_counts"], ["coarse_winner"], { axis: int(1), keepdims: int(0) }),
    node("ReduceMax", ["coarse_counts"], ["coarse_votes"], { axes: { kind: "ints", value: [1] }, keepdims: int(0) }),
    node("Equal", ["coarse_votes", "k_float"], ["coarse_unanimous"]),
    node("Where", ["coarse_unanimous", "coarse_winner", "minus_one_scalar"], ["coarse_label_list"]),
    node("Reshape", ["coarse_label_list", "coarse_hw"], ["coarse_labels"]), // [hc,wc], -1: not unanimous
    ...lines("zero_scalar", "y"),
    ...lines("one_scalar", "x"),
    ...corner("y_before", "x_before", "corner_00"),
    ...corner("y_before", "x_after", "corner_01"),
    ...corner("y_after", "x_before", "corner_10"),
    ...corner("y_after", "x_after", "corner_11"),
    node("Equal", ["corner_00", "corner_01"], ["same_01"]),
    node("Equal", ["corner_00", "corner_10"], ["same_10"]),
    node("Equal", ["corner_00", "corner_11"], ["same_11"]),
    node("GreaterOrEqual", ["corner_00", "zero_scalar"], ["some_object"]),
    node("And", ["same_01", "same_10"], ["same_a"]),
    node("And", ["same_11", "some_object"], ["same_b"]),
    node("And", ["same_a", "same_b"], ["agreed_map"]), // [h,w]
    node("Reshape", ["agreed_map", "minus_one"], ["agreed"]), // [M]
    node("Reshape", ["corner_00", "minus_one"], ["settled_object"]),
    // ... and the cell had that object in the previous frame: an object no searched cell sees stays searched.
    node("Equal", ["settled_object", "previous_labels"], ["unchanged"]),
    node("And", ["agreed", "unchanged"], ["settled"]),
    // The settled cells' votes: all k for their object.
    node("Max", ["settled_object", "zero_scalar"], ["settled_id"]),
    node("Concat", ["zero_f_1", "k_float"], ["settled_values"], { axis: int(0) }),
    node("OneHot", ["settled_id", "depth", "settled_values"], ["settled_one_hot"], { axis: int(-1) }),
    node("Cast", ["settled"], ["settled_f"], { to: int(1) }),
    node("Unsqueeze", ["settled_f", "i1"], ["settled_column"]),
    node("Mul", ["settled_one_hot", "settled_column"], ["settled_counts"]), // [M,objects]
    // The other cells, searched (padded by a row per chunk, so that no chunk is empty; the padding is dropped).
    node("Not", ["settled"], ["unsettled"]),
    // The cells searched: the coarse ones and the unsettled ones (only those may join the ring).
    node("Mod", ["y_lines", "stride_scalar"], ["y_phase"]),
    node("Mod", ["x_lines", "stride_scalar"], ["x_phase"]),
    node("Equal", ["y_phase", "zero_scalar"], ["y_searched"]),
    node("Equal", ["x_phase", "zero_scalar"], ["x_searched"]),
    node("Unsqueeze", ["y_searched", "i1"], ["y_searched_column"]),
    node("And", ["y_searched_column", "x_searched"], ["coarse_map"]), // [h,w]
    node("Reshape", ["coarse_map", "minus_one"], ["coarse_cell"]),
    node("Or", ["coarse_cell", "unsettled"], ["searched_cell"]),
    node("NonZero", ["unsettled"], ["unsettled_at"]),
    node("Squeeze", ["unsettled_at", "i0"], ["unsettled_cells"]), // [U]
    node("Shape", ["unsettled_cells"], ["unsettled_count"]),
    node("Concat", ["unsettled_cells", "refine_padding"], ["refine_cells"], { axis: int(0) }),
    node("Gather", ["queries", "refine_cells"], ["refine_queries"], { axis: int(0) }),
    ...searchNodes("refine", "refine_queries", refineChunks, block),
    node("Slice", ["refine_counts", "i0", "unsettled_count", "i0"], ["unsettled_counts"]),
    node("Unsqueeze", ["unsettled_cells", "i1"], ["unsettled_index"]),
    node("ScatterND", ["settled_counts", "unsettled_index", "unsettled_counts"], ["vote_counts"]),
    node("Add", ["coarse_count", "unsettled_count"], ["searched"]), // coarse_count: from the coarse search
  ];
}

/** Nodes taking every stride-th cell of the grid's `queries` [M,E] in each direction: `coarse_queries` [Mc,E]. */
function stridedQueries(): NodeSpec[] {
  return [
    node("Concat", ["grid_hw", "minus_one"], ["query_grid_shape"], { axis: int(0) }),
    node("Reshape", ["queries", "query_grid_shape"], ["query_grid"]), // [h,w,E]
    node("Slice", ["query_grid", "grid_starts", "whole_grid", "grid_axes", "grid_steps"], ["coarse_grid"]),
    node("Shape", ["coarse_grid"], ["coarse_grid_shape"]),
    node("Slice", ["coarse_grid_shape", "i0", "i2"], ["coarse_hw"]),
    node("Slice", ["queries_shape", "i1", "i2"], ["query_width"]),
    node("Concat", ["minus_one", "query_width"], ["coarse_rows_shape"], { axis: int(0) }),
    node("Reshape", ["coarse_grid", "coarse_rows_shape"], ["coarse_queries"]),
  ];
}

/**
 * Nodes padding `pool` [N,E] to `padded_pool` [N',E], N' the next multiple of the block, with entries no query
 * picks: a zero row whose last column (the `-|p|^2 / 2` a query multiplies by 1) is {@linkcode fillerSimilarity}.
 * Also `k_blocks` [1]: how many blocks a blocked TopK keeps (k, or every block of a smaller pool).
 */
function padPool(): NodeSpec[] {
  return [
    node("Shape", ["pool"], ["pool_shape"]),
    node("Slice", ["pool_shape", "i0", "i1"], ["pool_count"]),
    node("Mod", ["pool_count", "block"], ["pool_rest"]),
    node("Sub", ["block", "pool_rest"], ["pool_gap"]),
    node("Mod", ["pool_gap", "block"], ["pad_count"]),
    node("Shape", ["rows"], ["rows_shape"]),
    node("Slice", ["rows_shape", "i1", "i2"], ["row_width"]),
    node("Concat", ["filler_rows", "row_width"], ["filler_shape"], { axis: int(0) }),
    node("ConstantOfShape", ["filler_shape"], ["filler_zeros"]),
    node("Concat", ["filler_rows", "i1"], ["filler_column_shape"], { axis: int(0) }),
    node("Expand", ["filler_column", "filler_column_shape"], ["filler_norms"]),
    node("Concat", ["filler_zeros", "filler_norms"], ["filler"], { axis: int(1) }),
    node("Slice", ["filler", "i0", "pad_count", "i0"], ["padding"]),
    node("Concat", ["pool", "padding"], ["padded_pool"], { axis: int(0) }),
    node("Add", ["pool_count", "pad_count"], ["padded_count"]),
    node("Div", ["padded_count", "block"], ["block_count"]),
    node("Min", ["k", "block_count"], ["k_blocks"]),
  ];
}

/**
 * TopK by blocks, the same indices as one TopK (see {@linkcode blockIndices}): `similarity` [c,N'] cut into
 * blocks of B entries; the k nearest entries lie in the k blocks with the largest maxima (a block holding one of
 * them has a maximum at least that entry's; ties go to the lower block, as TopK sends ties to the lower index), so
 * only those blocks' entries, in index order, go through TopK. ReduceMax is vectorised, TopK a scalar heap.
 * Leaves `${name}_blocks_in_order` [c,kb,1] and `${name}_candidate` [c,k] (index into those blocks' entries).
 */
function blockTopK(similarity: string, name: string): NodeSpec[] {
  const n = (part: string) => `${name}_${part}`;
  return [
    node("Reshape", [similarity, "block_shape"], [n("blocks")]), // [c, N'/B, B]
    node("ReduceMax", [n("blocks")], [n("block_max")], { axes: { kind: "ints", value: [2] }, keepdims: int(1) }),
    node("TopK", [n("block_max"), "k_blocks"], [n("best_max"), n("best_blocks")], { axis: int(1), largest: int(1) }),
    node("TopK", [n("best_blocks"), "k_blocks"], [n("blocks_in_order"), n("order")], {
      axis: int(1),
      largest: int(0),
    }), // [c, kb, 1]
    node("GatherND", [n("blocks"), n("blocks_in_order")], [n("candidate_blocks")], { batch_dims: int(1) }),
    node("Reshape", [n("candidate_blocks"), "row_shape"], [n("candidates")]), // [c, kb B]
    node("TopK", [n("candidates"), "k"], [n("top_candidates"), n("candidate")], { axis: int(1), largest: int(1) }),
  ];
}

/** After the chunks' blocked TopKs: `${prefix}_top` [Q,k], the pool indices of the k nearest entries. */
function blockIndices(prefix: string, chunks: number): NodeSpec[] {
  const n = (part: string) => `${prefix}_${part}`;
  const each = (part: string) => Array.from({ length: chunks }, (_, i) => n(`${i}_${part}`));
  return [
    node("Concat", each("blocks_in_order"), [n("blocks_in_order")], { axis: int(0) }),
    node("Squeeze", [n("blocks_in_order"), "i2"], [n("chosen_blocks")]), // [Q, kb]
    node("Concat", each("candidate"), [n("candidate")], { axis: int(0) }),
    node("Div", [n("candidate"), "block"], [n("candidate_block")]),
    node("Mod", [n("candidate"), "block"], [n("candidate_offset")]),
    node("GatherElements", [n("chosen_blocks"), n("candidate_block")], [n("chosen_block")], { axis: int(1) }),
    node("Mul", [n("chosen_block"), "block"], [n("block_start")]),
    node("Add", [n("block_start"), n("candidate_offset")], [n("top")]),
  ];
}

/**
 * Online adaptation: the unanimously voted pixels join the ring in raster order, as adding them one at a time
 * would leave it (only the last `capacity` of them can survive, at `(next + i) mod capacity` for addition i).
 */
function ringNodes(strided: boolean): NodeSpec[] {
  return [
    node("GreaterOrEqual", ["winner_share", "whole"], [strided ? "whole_share" : "unanimous"]),
    // Coarse to fine: a settled cell was not searched, so its votes are inferred, not unanimous.
    ...(strided ? [node("And", ["whole_share", "searched_cell"], ["unanimous"])] : []),
    node("NonZero", ["unanimous"], ["unanimous_at"]), // [1,U]
    node("Squeeze", ["unanimous_at", "i0"], ["joining"]), // [U]
    node("Shape", ["joining"], ["added"]),
    node("Slice", ["joining", "minus_capacity", "to_end", "i0"], ["surviving"]), // the last min(U, C): [T]
    node("Shape", ["surviving"], ["survivors"]),
    node("Add", ["ring_next", "added"], ["after_all"]),
    node("Sub", ["after_all", "survivors"], ["first_slot"]),
    node("Squeeze", ["survivors", "i0"], ["survivors_scalar"]),
    node("Range", ["zero_scalar", "survivors_scalar", "one_scalar"], ["steps"]),
    node("Add", ["steps", "first_slot"], ["unwrapped"]),
    node("Mod", ["unwrapped", "capacity"], ["slots"]),
    node("Unsqueeze", ["slots", "i1"], ["slot_indices"]), // [T,1]
    node("Gather", ["entries", "surviving"], ["new_entries"], { axis: int(0) }),
    node("Gather", ["winner", "surviving"], ["new_labels"], { axis: int(0) }),
    node("ScatterND", ["ring", "slot_indices", "new_entries"], ["ring_out"]),
    node("ScatterND", ["ring_labels", "slot_indices", "new_labels"], ["ring_labels_out"]),
  ];
}
