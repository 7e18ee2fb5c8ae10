/**
 * The `knn` stage: PML's nearest-neighbour classification (Chen et al., CVPR 2018). Every pixel of the
 * current embedding map takes the majority label of its k nearest reference embeddings (squared Euclidean
 * distance), with optional spatio-temporal channels (normalised row and column, times `position_weight`)
 * appended to query and pool so nearby pixels match more easily.
 *
 * The reference pool: the first frame of each stream (its ground-truth object mask, or a `mask` slot) seeds
 * it; with `adapt: true`, pixels of later frames whose k votes were unanimous join it (online adaptation),
 * at most `pool_size` entries, the oldest additions evicted first (the first frame's pixels are kept), so the
 * cost stays flat over long videos.
 *
 * The pool lives in the model worker (`_knn_graph.ts`): the first frame's graph makes it from the embedding there,
 * each later frame's graph searches it and returns it grown, as resident tensors the stage holds per stream
 * (released when the stream's pool is replaced or evicted, and at close). So a frame sends a few counters, the
 * embedding stays where the model made it, and only the scores come back. The search itself is one MatMul per
 * chunk of queries with the norms precomputed, and a TopK by blocks: exactly the neighbours a plain search finds.
 *
 * `search_stride` n > 1 searches coarse to fine: every n-th cell in each direction first; a cell between searched
 * cells that all voted unanimously for the object it had in the previous frame takes that object without a search;
 * the other cells (near object edges, where votes split, where objects move, objects too small for the coarse
 * cells) are searched as well. Only searched cells can join the pool, so it gathers the informative cells near the
 * edges rather than the last rows of the frame. It searches a fifth to a third of the cells (DAVIS); the labels
 * differ from the exhaustive search's (`search_stride: 1`, the kind's default), on the ten DAVIS 2016 sequences of
 * `davis2016-extra` for the better (J&F 41.2 -> 44.3 at 2, 3 and 4; `graphs/pml-vos.yaml` uses 3).
 *
 * The first frame's mask comes from the `masks` folder if it has one for that frame, else the `mask` slot if bound,
 * else `first_mask` (a PNG: DAVIS 2017 palette ids or 2016 0/255), else the source's ground truth. Later frames may
 * be annotated too (`masks`, DAVIS 2017 style: `_annotated_masks.ts`): the ids new to the stream join the pool
 * from that frame on (their cells appended to the first frame's, so they are never evicted; thinned above
 * `seed_size`), and that frame's labels are the given mask. `scores` gives each object's share of the k votes
 * [1, objects, h, w], what the `refine` stage upsamples; `given` is the given mask at the frame's size on the frames
 * that have one, for `refine` to pass through unchanged (an annotated frame's output is its annotation).
 *
 * @module
 */
import { defineStage, type OnnxRunner, perFrame, readSlot, type StageContext } from "../engine/stage.ts";
import { isHandle, type Tensor, type TensorLike } from "../engine/tensor.ts";
import type { Frame } from "../engine/frame.ts";
import type { IndexedImage } from "../datasets/png.ts";
import { StreamState } from "../engine/stream_state.ts";
import { checkFirstMaskIds, checkFirstMaskSize } from "./_mask_size.ts";
import { labelsType } from "../engine/graph_channels.ts";
import { readFirstMask } from "./_first_mask_file.ts";
import {
  appendGraphKey,
  buildAppendGraph,
  buildSearchGraph,
  buildSeedGraph,
  buildShapeGraph,
  type KnnGraphOptions,
  searchChunks,
  searchGraphKey,
  seedGraphKey,
  shapeGraphKey,
} from "./_knn_graph.ts";
import { maskOnGrid, newObjectRows, positionRows, seedRows } from "./_knn_seed.ts";
import { AnnotatedMasks } from "./_annotated_masks.ts";

export { maskOnGrid, minSeedPerObject, newObjectRows, positionRows, seedRows } from "./_knn_seed.ts";
// The host-side implementation the worker graphs replaced, re-exported for the tests that check them against it.
export { buildKnnGraph, classifyInChunks, embeddingRows, maxDistancesPerRun, ReferencePool } from "./_knn_reference.ts";
export { readFirstMask } from "./_first_mask_file.ts";

/** Streams whose pools are kept (least recently used dropped first): about 1.5 MB of worker memory each at 480p. */
const streamLimit = 16;

/** One stream's pool, resident in its worker. */
interface PoolState {
  /** The embedding grid (h, w); a stream keeps its frame size. */
  h: number;
  w: number;
  positions?: TensorLike;
  seed: TensorLike;
  seedLabels: TensorLike;
  seedCount: number;
  /** Object ids with entries in the pool (background included). */
  known: Set<number>;
  ring?: TensorLike;
  ringLabels?: TensorLike;
  ringCount: number;
  ringNext: number;
  /** Coarse to fine: the last frame's labels [h*w], and the cells it searched after the coarse pass. */
  cellLabels?: TensorLike;
  unsettled: number;
}

const int64 = (value: number): Tensor => ({ type: "int64", dims: [1], data: BigInt64Array.of(BigInt(value)) });

/** The `knn` stage kind. */
export const knn = defineStage({
  kind: "knn",
  role: "stage",
  keepsStreamState: () => true,
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
    search_stride: {
      type: "integer",
      min: 1,
      max: 4,
      default: 1,
      doc: "1: every cell searched; n: coarse to fine from every n-th cell (only searched cells join the pool)",
    },
    objects: { type: "integer", min: 2, max: 255, default: 8, doc: "label ids 0..objects-1 (0 = background)" },
    first_mask: { type: "string", doc: "PNG with the first frame's object ids (else the mask slot or ground truth)" },
    masks: {
      type: "string",
      doc: "folder of masks of later frames (<stream>/<frame>.png or <frame>.png): new ids join from their frame",
    },
  },
  inputs: [
    { name: "embedding", doc: "L2-normalised embeddings [1,D,h,w]", type: "tensor", resident: true },
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
    {
      name: "given",
      doc: "the given mask at frame size, uint8 [1,H,W], only on frames that have one (first, annotated)",
      type: "tensor",
      kind: "labels",
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
        given: labelsType(1),
      },
    };
  },
  async create(ctx) {
    const { k, position_weight: positionWeight, adapt, pool_size: poolSize, objects } = ctx.params;
    const options: KnnGraphOptions = {
      objects,
      positions: positionWeight > 0,
      ringCapacity: adapt ? poolSize : 0,
      searchStride: ctx.params.search_stride,
    };
    const op = graphCache(ctx);
    const release = (value: TensorLike | undefined) => isHandle(value) && ctx.release(value);
    const forget = (state: PoolState | undefined) => {
      if (!state) return;
      const held = [state.positions, state.seed, state.seedLabels, state.ring, state.ringLabels, state.cellLabels];
      for (const value of held) release(value);
    };
    const pools = new StreamState<PoolState | undefined>(() => undefined, streamLimit, forget);
    ctx.onClose(() => pools.clear());
    const fileMask = ctx.params.first_mask ? await readFirstMask(ctx.params.first_mask) : undefined;
    const annotated = ctx.params.masks ? new AnnotatedMasks(ctx.params.masks, objects) : undefined;
    /** A stream's first mask at the frame's size (or the mask slot's) and where it came from. */
    const firstMask = (frame: Frame): { data: Uint8Array; width: number; height: number } => {
      if (fileMask && !ctx.inputs.mask) {
        checkFirstMaskSize(ctx.params.first_mask!, fileMask, frame);
        checkFirstMaskIds(ctx.params.first_mask!, fileMask.data, objects);
        return fileMask;
      }
      if (ctx.inputs.mask) {
        const mask = readSlot<Tensor>(frame, ctx.inputs.mask);
        const [height, width] = mask.dims.slice(-2) as [number, number];
        return { data: mask.data as Uint8Array, width, height };
      }
      const truth = frame.truth?.mask;
      if (!truth) {
        throw new ReferenceError("the first frame of a stream needs an object mask (ground truth or a 'mask' slot)");
      }
      return { data: truth, width: frame.image.width, height: frame.image.height };
    };
    /** Writes a given mask as the frame's `given` output, when it has the frame's size. */
    const passGiven = (frame: Frame, mask: { data: Uint8Array; width: number; height: number }) => {
      const { width, height } = frame.image;
      if (!ctx.outputs.given || mask.width !== width || mask.height !== height) return;
      frame.slots.set(ctx.outputs.given, { type: "uint8", dims: [1, height, width], data: mask.data });
    };
    /** A frame whose mask is given: labels are the mask on the grid, scores its one-hot, every vote unanimous. */
    const writeGiven = (frame: Frame, labels: Uint8Array, h: number, w: number, scores: TensorLike | undefined) => {
      if (ctx.outputs.labels) frame.slots.set(ctx.outputs.labels, { type: "uint8", dims: [1, h, w], data: labels });
      if (ctx.outputs.scores) frame.slots.set(ctx.outputs.scores, scores!);
      if (ctx.outputs.votes) {
        frame.slots.set(ctx.outputs.votes, { type: "float32", dims: [1, h, w], data: new Float32Array(h * w).fill(1) });
      }
    };
    // The grid of an embedding the model is still making (a fused call) is asked for once per stream.
    const gridOf = async (embedding: TensorLike, frame: Frame): Promise<[number, number]> => {
      if (!isHandle(embedding) || embedding.ready) return embedding.dims.slice(-2) as [number, number];
      const probe = await op(shapeGraphKey, buildShapeGraph);
      const { shape } = await probe.run({ embedding }, ["shape"], frame);
      return Array.from((shape as Tensor).data as BigInt64Array, Number).slice(-2) as [number, number];
    };

    /** A stream's first frame: its mask is the answer, and its pool is made in the worker. */
    const seed = async (
      frame: Frame,
      embedding: TensorLike,
      given: { data: Uint8Array; width: number; height: number } | undefined,
    ): Promise<PoolState> => {
      const [h, w] = await gridOf(embedding, frame);
      const mask = given ?? firstMask(frame);
      passGiven(frame, mask);
      const labels = maskOnGrid(mask.data, mask.width, mask.height, w, h);
      const rows = seedRows(labels, ctx.params.seed_size);
      const graph = await op(seedGraphKey(options), () => buildSeedGraph(options));
      const ring = options.ringCapacity > 0 ? ["ring", "ring_labels"] : [];
      const kept = ["seed", "seed_labels", ...ring, ...(options.searchStride > 1 ? ["cell_labels"] : [])];
      const out = await graph.run(
        {
          embedding,
          ...(options.positions
            ? { positions: { type: "float32", dims: [h * w, 2], data: positionRows(h, w, positionWeight) } }
            : {}),
          seed_rows: { type: "int64", dims: [rows.length], data: BigInt64Array.from(rows, BigInt) },
          labels: { type: "uint8", dims: [1, h, w], data: labels },
        },
        [...kept, ...(ctx.outputs.scores ? ["scores"] : [])],
        frame,
        {
          keep: Object.fromEntries(kept.map((name) => [name, {}])),
          ...(options.positions ? { keepFeeds: ["positions"] } : {}),
          owner: null,
        },
      );
      writeGiven(frame, labels, h, w, out.scores);
      return {
        h,
        w,
        ...(options.positions ? { positions: out["@feed:positions"]! } : {}),
        seed: out.seed!,
        seedLabels: out.seed_labels!,
        seedCount: rows.length,
        known: new Set(labels),
        ...(ring.length ? { ring: out.ring!, ringLabels: out.ring_labels! } : {}),
        ...(options.searchStride > 1 ? { cellLabels: out.cell_labels! } : {}),
        ringCount: 0,
        ringNext: 0,
        unsettled: Math.ceil((h * w) / 4),
      };
    };

    /** A later frame with a given mask: its labels are the mask, and the ids new to the stream join the pool. */
    const append = async (frame: Frame, embedding: TensorLike, state: PoolState, mask: IndexedImage) => {
      passGiven(frame, mask);
      const labels = maskOnGrid(mask.data, mask.width, mask.height, state.w, state.h);
      const rows = newObjectRows(labels, state.known, ctx.params.seed_size - state.seedCount);
      const graph = await op(appendGraphKey(options), () => buildAppendGraph(options));
      const kept = ["seed_out", "seed_labels_out", ...(state.cellLabels ? ["cell_labels"] : [])];
      const out = await graph.run(
        {
          embedding,
          ...(state.positions ? { positions: state.positions } : {}),
          seed: state.seed,
          seed_labels: state.seedLabels,
          seed_rows: { type: "int64", dims: [rows.length], data: BigInt64Array.from(rows, BigInt) },
          labels: { type: "uint8", dims: [1, state.h, state.w], data: labels },
        },
        [...kept, ...(ctx.outputs.scores ? ["scores"] : [])],
        frame,
        { keep: Object.fromEntries(kept.map((name) => [name, {}])), owner: null },
      );
      release(state.seed);
      release(state.seedLabels);
      state.seed = out.seed_out!;
      state.seedLabels = out.seed_labels_out!;
      state.seedCount += rows.length;
      for (const row of rows) state.known.add(labels[row]!);
      if (state.cellLabels) {
        release(state.cellLabels);
        state.cellLabels = out.cell_labels!;
        state.unsettled = Math.ceil((state.h * state.w) / 4);
      }
      ctx.count("knn_annotated_frames", 1);
      writeGiven(frame, labels, state.h, state.w, out.scores);
    };

    /** A later frame: classified against the pool, which then takes its unanimously voted pixels. */
    const search = async (frame: Frame, embedding: TensorLike, state: PoolState): Promise<void> => {
      const capacity = options.ringCapacity, stride = options.searchStride, entries = state.seedCount + capacity;
      const coarse = Math.ceil(state.h / stride) * Math.ceil(state.w / stride);
      const chunks = searchChunks(coarse, entries);
      // Coarse to fine: the cells left to search after the coarse pass, as many as last frame (a power of two of
      // chunks, so that a stream needs few graphs).
      const refineChunks = stride > 1 ? 2 ** Math.ceil(Math.log2(searchChunks(state.unsettled, entries))) : 1;
      const graph = await op(
        searchGraphKey(options, chunks, refineChunks),
        () => buildSearchGraph(options, chunks, refineChunks),
      );
      const kk = Math.min(k, state.seedCount + state.ringCount);
      const wanted = (["labels", "votes", "scores"] as const).filter((port) => ctx.outputs[port]);
      const ring = capacity > 0 ? ["ring_out", "ring_labels_out"] : [];
      const states = stride > 1 ? ["cell_labels"] : [];
      const out = await graph.run(
        {
          embedding,
          ...(state.positions ? { positions: state.positions } : {}),
          seed: state.seed,
          seed_labels: state.seedLabels,
          ...(state.ring
            ? {
              ring: state.ring,
              ring_labels: state.ringLabels!,
              ring_count: int64(state.ringCount),
              ring_next: int64(state.ringNext),
            }
            : {}),
          k: int64(kk),
          ...(state.cellLabels ? { previous_labels: state.cellLabels } : {}),
        },
        [...wanted, "searched", ...(ring.length ? ["added", ...ring] : []), ...states],
        frame,
        { keep: Object.fromEntries([...ring, ...states].map((name) => [name, {}])), owner: null },
      );
      if (state.cellLabels) {
        release(state.cellLabels);
        state.cellLabels = out.cell_labels!;
      }
      for (const port of wanted) frame.slots.set(ctx.outputs[port]!, out[port]!);
      const searched = Number(((out.searched as Tensor).data as BigInt64Array)[0]!);
      state.unsettled = searched - coarse;
      ctx.count("knn_cells", state.h * state.w);
      ctx.count("knn_cells_searched", searched);
      if (!ring.length) return;
      const added = Number(((out.added as Tensor).data as BigInt64Array)[0]!);
      release(state.ring);
      release(state.ringLabels);
      state.ring = out.ring_out!;
      state.ringLabels = out.ring_labels_out!;
      state.ringNext = (state.ringNext + added) % capacity;
      state.ringCount = Math.min(capacity, state.ringCount + added);
    };

    return perFrame(ctx, async (frame) => {
      const embedding = readSlot<TensorLike>(frame, ctx.inputs.embedding!);
      const state = pools.get(frame.stream);
      const given = annotated ? (await annotated.forFrame(frame))?.mask : undefined;
      if (!state) return void pools.set(frame.stream, await seed(frame, embedding, given));
      if (given) return await append(frame, embedding, state, given);
      await search(frame, embedding, state);
    });
  },
});

/** The stage's graphs, each built and loaded on first use (the search graph: one per chunk count). */
function graphCache(ctx: Pick<StageContext, "op">): (key: string, build: () => Uint8Array) => Promise<OnnxRunner> {
  const graphs = new Map<string, Promise<OnnxRunner>>();
  return (key, build) => {
    let graph = graphs.get(key);
    if (!graph) {
      graph = ctx.op(key, build);
      graph.catch(() => graphs.delete(key));
      graphs.set(key, graph);
    }
    return graph;
  };
}
