/**
 * The `knn` stage with its reference pool in the model worker (issue 14): the same labels, votes and scores as the
 * host-side pool it replaced (`stages/_knn_reference.ts`), online adaptation included; one pool per stream; the
 * chunked search equal to one chunk; the pool's handles freed at close; and what a frame sends to the worker.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { runGraph } from "../engine/run.ts";
import type { ResidentProbe } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { loadGraph } from "../engine/graph.ts";
import { writeSyntheticDataset } from "../datasets/synthetic/write.ts";
import { buildKnnGraph, embeddingRows, ReferencePool } from "../stages/_knn_reference.ts";
import { buildSearchGraph, buildSeedGraph, distancesPerChunk, searchChunks } from "../stages/_knn_graph.ts";
import { positionRows } from "../stages/_knn_seed.ts";
import { graphFrom, modelsRoot, testSetup } from "./_helpers.ts";

/** A deterministic pseudo-random L2-normalised embedding [1,D,h,w] for frame `index` of a stream. */
function embeddingOf(index: number, stream: number, depth: number, h: number, w: number): Tensor {
  const data = new Float32Array(depth * h * w);
  let s = 1 + index * 7919 + stream * 104_729;
  const next = () => (s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31 - 0.5;
  for (let p = 0; p < h * w; p++) {
    // Two clusters (left / right half) with noise, so votes are mostly unanimous but not everywhere.
    const side = p % w < w / 2 ? 1 : -1;
    let norm = 0;
    const v = Array.from({ length: depth }, (_, c) => (c === 0 ? side : 0) + 0.9 * next());
    for (const x of v) norm += x * x;
    v.forEach((x, c) => (data[c * h * w + p] = x / Math.sqrt(norm)));
  }
  return { type: "float32", dims: [1, depth, h, w], data };
}

/** The host reference: the pool on the main thread, sent to one kNN graph per frame (the stage before issue 14). */
async function referenceRun(
  frames: Tensor[],
  firstLabels: Uint8Array,
  o: { k: number; positionWeight: number; poolSize: number; objects: number },
) {
  const session = await ort.InferenceSession.create(buildKnnGraph(o.objects));
  try {
    const [, depth, h, w] = frames[0]!.dims as [number, number, number, number];
    const pool = new ReferencePool(depth + (o.positionWeight > 0 ? 2 : 0), o.poolSize);
    pool.seed(embeddingRows(frames[0]!, o.positionWeight), firstLabels);
    const out: { labels: number[]; votes: number[]; scores: number[] }[] = [];
    for (const frame of frames.slice(1)) {
      const rows = embeddingRows(frame, o.positionWeight);
      const { pool: entries, labels } = pool.take();
      const kk = Math.min(o.k, labels.dims[0]!);
      const result = await session.run({
        query: new ort.Tensor("float32", rows, [h * w, rows.length / (h * w)]),
        pool: new ort.Tensor("float32", entries.data as Float32Array, entries.dims),
        pool_labels: new ort.Tensor("int64", labels.data as BigInt64Array, labels.dims),
        k: new ort.Tensor("int64", BigInt64Array.of(BigInt(kk)), [1]),
      });
      const winners = result.labels!.data as Uint8Array, votes = result.votes!.data as Float32Array;
      for (let p = 0; p < winners.length; p++) if (votes[p] === kk) pool.add(rows, p, winners[p]!);
      out.push({
        labels: [...winners],
        votes: [...votes.map((v) => v / kk)], // float32, as the stage wrote them
        scores: [...(result.shares!.data as Float32Array)],
      });
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Runs the knn stage on `embeddings` (stream `s` of frame i: `streamOf(i)`), returning each frame's outputs. */
async function stageRun(
  embeddings: Tensor[],
  streamOf: (index: number) => string,
  masks: Map<string, Uint8Array>,
  params: Record<string, number | boolean>,
) {
  const { probe, registry } = testSetup();
  const [, , h, w] = embeddings[0]!.dims as [number, number, number, number];
  const seen: { stream: string; labels: number[]; votes: number[]; scores: number[] }[] = [];
  probe.functions.set("embedding", (frame) => {
    frame.stream = streamOf(frame.index);
    frame.slots.set("embedding", embeddings[frame.index]!);
  });
  probe.functions.set("mask", (frame) => {
    frame.slots.set("mask", { type: "uint8", dims: [1, h, w], data: masks.get(frame.stream)! });
  });
  probe.functions.set("keep", (frame) => {
    const read = (slot: string) => [...(frame.slots.get(slot) as Tensor).data as Float32Array];
    seen[frame.index] = {
      stream: frame.stream,
      labels: read("labels"),
      votes: read("votes"),
      scores: read("scores"),
    };
  });
  const graph = await graphFrom(
    `source: { kind: fake, frames: ${embeddings.length}, width: ${w * 8}, height: ${h * 8} }
stages:
  - { id: embedding, kind: call, fn: embedding, out: { value: embedding } }
  - { id: mask, kind: call, fn: mask, out: { value: mask } }
  - id: pml
    kind: knn
    in: { embedding: embedding, mask: mask }
    out: { labels: labels, votes: votes, scores: scores }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
    { overrides: Object.entries(params).map(([name, value]) => `pml.${name}=${value}`) },
  );
  const report = await runGraph(graph, { quiet: true });
  return { seen, report };
}

const options = { k: 3, positionWeight: 0.5, poolSize: 7, objects: 3 };
const knnParams = { k: 3, position_weight: 0.5, adapt: true, pool_size: 7, objects: 3 };

Deno.test("knn gives the host pool's labels, votes and scores, online adaptation included", async () => {
  const [depth, h, w] = [6, 5, 6];
  const embeddings = Array.from({ length: 7 }, (_, i) => embeddingOf(i, 0, depth, h, w));
  // Object 1 on the left half, 2 in the bottom-right corner, background elsewhere.
  const mask = Uint8Array.from({ length: h * w }, (_, p) => (p % w < w / 2 ? 1 : Math.floor(p / w) >= 3 ? 2 : 0));
  const reference = await referenceRun(embeddings, mask, options);
  const { seen } = await stageRun(embeddings, () => "fake", new Map([["fake", mask]]), knnParams);
  assert.deepEqual(seen[0]!.labels, [...mask], "the first frame: its mask");
  assert.deepEqual(seen[0]!.votes, new Array(h * w).fill(1));
  // More than 7 pixels are unanimous on most frames: the ring wraps, as the host ring did.
  assert.ok(reference.some((r) => r.votes.filter((v) => v === 1).length > 7));
  reference.forEach((expected, i) => {
    const got = seen[i + 1]!;
    assert.deepEqual(got.labels, expected.labels, `frame ${i + 1} labels`);
    assert.deepEqual(got.votes, expected.votes, `frame ${i + 1} votes`);
    assert.deepEqual(got.scores, expected.scores, `frame ${i + 1} scores`);
  });
});

Deno.test("knn keeps one pool per stream: interleaved streams each match their own host reference", async () => {
  const [depth, h, w] = [4, 4, 6];
  const streamOf = (index: number) => (index % 2 === 0 ? "a" : "b");
  const embeddings = Array.from({ length: 8 }, (_, i) => embeddingOf(i >> 1, i % 2, depth, h, w));
  const masks = new Map([
    ["a", Uint8Array.from({ length: h * w }, (_, p) => (p % w < w / 2 ? 1 : 0))],
    ["b", Uint8Array.from({ length: h * w }, (_, p) => (p % w < w / 2 ? 0 : 2))],
  ]);
  const { seen } = await stageRun(embeddings, streamOf, masks, knnParams);
  for (const [stream, parity] of [["a", 0], ["b", 1]] as const) {
    const frames = embeddings.filter((_, i) => i % 2 === parity);
    const reference = await referenceRun(frames, masks.get(stream)!, options);
    const got = seen.filter((s) => s.stream === stream);
    assert.deepEqual(got[0]!.labels, [...masks.get(stream)!]);
    reference.forEach((expected, i) => assert.deepEqual(got[i + 1]!.labels, expected.labels, `${stream} ${i + 1}`));
  }
});

Deno.test("knn search graph: chunks and blocked TopK are exact; coarse to fine searches the cells it needs", async () => {
  const o = { objects: 3, positions: true, ringCapacity: 5, searchStride: 1 };
  const [depth, h, w] = [4, 7, 9];
  const embedding = embeddingOf(1, 0, depth, h, w), first = embeddingOf(0, 0, depth, h, w);
  const tensor = (t: Tensor) => new ort.Tensor(t.type as "float32", t.data as Float32Array, t.dims);
  const positions = new ort.Tensor("float32", positionRows(h, w, 0.5), [h * w, 2]);
  const seedSession = await ort.InferenceSession.create(buildSeedGraph(o));
  const seeded = await seedSession.run({
    embedding: tensor(first),
    positions,
    seed_rows: new ort.Tensor("int64", BigInt64Array.from({ length: h * w }, (_, i) => BigInt(i)), [h * w]),
    labels: new ort.Tensor("uint8", Uint8Array.from({ length: h * w }, (_, p) => (p % w < w / 2 ? 1 : 2)), [1, h, w]),
  });
  await seedSession.release();
  const outputs = [];
  for (const [chunks, block] of [[1, 0], [4, 0], [h * w, 0], [1, 4], [3, 5], [2, 64]] as const) {
    const session = await ort.InferenceSession.create(buildSearchGraph(o, chunks, 1, block));
    const run = await session.run({
      embedding: tensor(embedding),
      positions,
      seed: seeded.seed!,
      seed_labels: seeded.seed_labels!,
      ring: seeded.ring!,
      ring_labels: seeded.ring_labels!,
      ring_count: new ort.Tensor("int64", BigInt64Array.of(0n), [1]),
      ring_next: new ort.Tensor("int64", BigInt64Array.of(0n), [1]),
      k: new ort.Tensor("int64", BigInt64Array.of(3n), [1]),
    });
    await session.release();
    outputs.push(Object.fromEntries(Object.entries(run).map(([name, t]) => [name, [...t.data as Float32Array]])));
  }
  for (const output of outputs.slice(1)) assert.deepEqual(output, outputs[0]);
  // Coarse to fine (every 2nd cell first): a cell between searched cells that all voted unanimously for the object it
  // had in the previous frame takes it; every other cell gets its own search, as the exact graph does.
  const previous = outputs[0]!.labels!.map((id, p) => (p === h * w - 1 ? 0 : id));
  for (const refineChunks of [1, 4]) {
    const strided = await ort.InferenceSession.create(buildSearchGraph({ ...o, searchStride: 2 }, 2, refineChunks));
    const coarse = await strided.run({
      embedding: tensor(embedding),
      positions,
      seed: seeded.seed!,
      seed_labels: seeded.seed_labels!,
      ring: seeded.ring!,
      ring_labels: seeded.ring_labels!,
      ring_count: new ort.Tensor("int64", BigInt64Array.of(0n), [1]),
      ring_next: new ort.Tensor("int64", BigInt64Array.of(0n), [1]),
      k: new ort.Tensor("int64", BigInt64Array.of(3n), [1]),
      // The previous frame's labels: this frame's exact ones, but object 2 moved out of the bottom-right corner.
      previous_labels: new ort.Tensor("int64", BigInt64Array.from(previous, BigInt), [h * w]),
    });
    await strided.release();
    const exact = outputs[0]!, [hc, wc] = [Math.ceil(h / 2), Math.ceil(w / 2)];
    const share = (c: number, p: number) => exact.scores![c * h * w + p]!;
    const unanimousAt = (y: number, x: number) => {
      const p = 2 * y * w + 2 * x;
      return exact.votes![p] === 1 ? exact.labels![p]! : -1;
    };
    const expected: number[] = new Array(3 * h * w);
    let unsettled = 0;
    const expectedSearched = new Set<number>();
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const ys = [y >> 1, Math.min(hc - 1, (y + 1) >> 1)], xs = [x >> 1, Math.min(wc - 1, (x + 1) >> 1)];
        const around = ys.flatMap((cy) => xs.map((cx) => unanimousAt(cy, cx)));
        const settled = around[0]! >= 0 && around.every((id) => id === around[0]) && previous[y * w + x] === around[0];
        if (!settled) unsettled++;
        if (!settled || (y % 2 === 0 && x % 2 === 0)) expectedSearched.add(y * w + x);
        for (let c = 0; c < 3; c++) {
          expected[c * h * w + y * w + x] = settled ? (c === around[0] ? 1 : 0) : share(c, y * w + x);
        }
      }
    }
    assert.ok(unsettled > 0 && unsettled < h * w, `${unsettled} cells searched again`);
    assert.deepEqual([...coarse.scores!.data as Float32Array], expected);
    assert.equal(Number((coarse.searched!.data as BigInt64Array)[0]), hc * wc + unsettled);
    assert.deepEqual([...coarse.cell_labels!.data as BigInt64Array].map(Number), [...coarse.labels!.data]);
    // Only searched cells (the coarse ones and the unsettled ones) whose votes were unanimous join the ring.
    const searchedCells = [...expectedSearched];
    const votes = coarse.votes!.data as Float32Array;
    const joined = searchedCells.filter((p) => votes[p] === 1).length;
    assert.equal(Number((coarse.added!.data as BigInt64Array)[0]), joined, "unanimous searched cells join the ring");
  }
  assert.equal(searchChunks(6420, 10_516), Math.ceil((6420 * 10_516) / distancesPerChunk));
  assert.equal(searchChunks(3, 2 * distancesPerChunk), 3, "never more chunks than queries");
  assert.equal(searchChunks(10, 10), 1);
});

Deno.test("pml-vos: pool and embeddings stay in the worker; a frame sends its image and scores, few counters", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const [width, height, frames] = [64, 48, 6];
    const entries = await writeSyntheticDataset(dir, { width, height, frames, fps: 15, seed: 11 }, 2);
    for (const stride of [1, 2]) {
      const { registry } = testSetup();
      const graph = await loadGraph("graphs/pml-vos.yaml", {
        registry,
        modelsRoot,
        modelSet: "testing",
        input: dir,
        overrides: [`pml.search_stride=${stride}`],
      });
      graph.sinks.length = 0;
      const probe: ResidentProbe = {};
      const held: number[] = [];
      const report = await runGraph(graph, {
        quiet: true,
        warn: () => {},
        residentProbe: probe,
        onFrame: () => void held.push(probe.registry!.count),
      });
      assert.equal(report.frames, entries.length * frames);
      assert.ok(probe.slots!.has("embedding"), "the embedding is made and read in the worker");
      // A stream's pool is 5 handles (positions, seed and its labels, ring and its labels), 6 with the last labels
      // (coarse to fine); the frames in flight hold theirs.
      assert.ok(Math.max(...held) <= 2 * 6 + 4 * 2, `${Math.max(...held)} handles held`);
      assert.equal(probe.registry!.count, 0, "every handle released at close");
      // Per frame: the image to the embedding and to refine, the scores to refine, a few counters to the kNN.
      const cells = Math.ceil(width / 8) * Math.ceil(height / 8);
      const perFrame = 2 * width * height * 3 + 8 * cells * 4 + 256;
      const sent = report.threads_traffic.bytes_to_workers / report.frames;
      assert.ok(sent <= perFrame, `${sent} bytes to the workers per frame`);
      const searched = report.counters.knn_cells_searched! / report.counters.knn_cells!;
      assert.ok(stride === 1 ? searched === 1 : searched < 1, `stride ${stride} searched ${searched} of the cells`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("knn search graph: TopK by blocks breaks ties as one TopK does (the lower pool index)", async () => {
  // Every cell is one of three vectors: each query ties with a third of the pool; the labels tell which entries won.
  const o = { objects: 4, positions: false, ringCapacity: 0, searchStride: 1 };
  const [depth, h, w] = [3, 6, 11];
  const data = new Float32Array(depth * h * w);
  for (let p = 0; p < h * w; p++) data[(p % 3) * h * w + p] = 1;
  const embedding = new ort.Tensor("float32", data, [1, depth, h, w]);
  const seedSession = await ort.InferenceSession.create(buildSeedGraph(o));
  const seeded = await seedSession.run({
    embedding,
    seed_rows: new ort.Tensor("int64", BigInt64Array.from({ length: h * w }, (_, i) => BigInt(i)), [h * w]),
    labels: new ort.Tensor("uint8", Uint8Array.from({ length: h * w }, (_, p) => (p < 20 ? 1 : p < 40 ? 2 : 3)), [
      1,
      h,
      w,
    ]),
  });
  await seedSession.release();
  const results = [];
  for (const block of [0, 4, 7, 64]) {
    const session = await ort.InferenceSession.create(buildSearchGraph(o, 3, 1, block));
    const out = await session.run({
      embedding,
      seed: seeded.seed!,
      seed_labels: seeded.seed_labels!,
      k: new ort.Tensor("int64", BigInt64Array.of(5n), [1]),
    });
    await session.release();
    results.push([...out.scores!.data as Float32Array]);
  }
  // The 5 lowest-indexed entries equal to a query are rows p % 3, + 3, ... + 12 (all below 20): object 1.
  assert.ok(results[0]!.slice(h * w, 2 * h * w).every((share) => share === 1));
  for (const result of results.slice(1)) assert.deepEqual(result, results[0]);
});
