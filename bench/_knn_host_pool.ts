/**
 * The `knn` stage as it ran before its reference pool moved into the model worker, for side-by-side runs
 * (`bench/pml.ts --before`) and tests: the same kind, parameters and outputs, built from `_knn_reference.ts`.
 *
 * @module
 */
import { defineStage, perFrame, type PortDecl, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";
import { buildKnnGraph, classifyInChunks, embeddingRows, ReferencePool } from "../stages/_knn_reference.ts";
import { maskOnGrid } from "../stages/_knn_seed.ts";
import { oneHotOp } from "../stages/_one_hot_graph.ts";
import { knn } from "../stages/knn.ts";

/**
 * The `knn` stage as it ran before its pool moved into the worker (same kind, parameters and ports; the pool on the
 * main thread, sent to {@linkcode buildKnnGraph} with every frame): what `bench/pml.ts --before` measures the stage
 * against. It reads the first mask from the `mask` slot or the ground truth only (no `first_mask` file).
 *
 * @example
 * ```ts
 * const registry = builtinRegistry();
 * registry.stages.set("knn", hostPoolKnn as never); // the before of a side-by-side run
 * ```
 */
export const hostPoolKnn = defineStage({
  ...knn,
  doc: "PML kNN with the reference pool on the main thread (the stage before issue 14; benchmarks and tests)",
  inputs: (knn.inputs as PortDecl[]).map((port) => ({ ...port, resident: false })),
  async create(ctx) {
    const { k, position_weight: positionWeight, adapt, pool_size: poolSize, objects } = ctx.params;
    const graph = await ctx.op(`knn-${objects}`, () => buildKnnGraph(objects));
    const oneHot = oneHotOp(ctx, objects);
    let state: { stream: string; pool: ReferencePool } | undefined;
    return perFrame(ctx, async (frame) => {
      const embedding = readSlot<Tensor>(frame, ctx.inputs.embedding!);
      const [, depth, h, w] = embedding.dims as [number, number, number, number];
      const rows = embeddingRows(embedding, positionWeight);
      const dims = depth + (positionWeight > 0 ? 2 : 0);
      if (!state || state.stream !== frame.stream) {
        const mask = ctx.inputs.mask ? readSlot<Tensor>(frame, ctx.inputs.mask) : undefined;
        const [mh, mw] = mask ? mask.dims.slice(-2) as [number, number] : [frame.image.height, frame.image.width];
        const full = mask ? mask.data as Uint8Array : frame.truth?.mask;
        if (!full) throw new ReferenceError("the first frame of a stream needs an object mask");
        const labels = maskOnGrid(full, mw, mh, w, h);
        const pool = new ReferencePool(dims, adapt ? poolSize : 0);
        pool.seed(rows, labels, ctx.params.seed_size);
        state = { stream: frame.stream, pool };
        if (ctx.outputs.labels) frame.slots.set(ctx.outputs.labels, { type: "uint8", dims: [1, h, w], data: labels });
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
        async (query, fetches) =>
          await graph.run({ query, pool, pool_labels: poolLabels, k: int64Of(kk) }, fetches, frame) as Record<
            string,
            Tensor
          >,
        { type: "float32", dims: [h * w, dims], data: rows },
        poolLabels.dims[0]!,
        objects,
        ctx.outputs.scores !== undefined,
      );
      if (adapt) {
        for (let p = 0; p < out.labels.length; p++) if (out.votes[p] === kk) state.pool.add(rows, p, out.labels[p]!);
      }
      if (ctx.outputs.labels) frame.slots.set(ctx.outputs.labels, { type: "uint8", dims: [1, h, w], data: out.labels });
      if (ctx.outputs.votes) {
        frame.slots.set(ctx.outputs.votes, { type: "float32", dims: [1, h, w], data: out.votes.map((v) => v / kk) });
      }
      if (ctx.outputs.scores) {
        frame.slots.set(ctx.outputs.scores, { type: "float32", dims: [1, objects, h, w], data: out.shares! });
      }
    });
  },
});

const int64Of = (value: number): Tensor => ({ type: "int64", dims: [1], data: BigInt64Array.of(BigInt(value)) });
