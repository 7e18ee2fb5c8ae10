import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import {
  buildKnnGraph,
  classifyInChunks,
  embeddingRows,
  maskOnGrid,
  minSeedPerObject,
  ReferencePool,
  seedRows,
} from "../stages/knn.ts";
import type { Tensor } from "../engine/tensor.ts";

Deno.test("buildKnnGraph: each query takes the majority label of its k nearest pool entries", async () => {
  // Pool: 3 entries near (1, 0) labelled 1, 3 near (0, 1) labelled 2, one outlier near (1, 0) labelled 2.
  const pool = Float32Array.of(1, 0, 0.95, 0.05, 0.9, 0.1, 0, 1, 0.05, 0.95, 0.1, 0.9, 0.97, 0.03);
  const labels = BigInt64Array.of(1n, 1n, 1n, 2n, 2n, 2n, 2n);
  const query = Float32Array.of(0.99, 0.01, 0.02, 0.98, 0.6, 0.4);
  const session = await ort.InferenceSession.create(buildKnnGraph(3));
  const out = await session.run({
    query: new ort.Tensor("float32", query, [3, 2]),
    pool: new ort.Tensor("float32", pool, [7, 2]),
    pool_labels: new ort.Tensor("int64", labels, [7]),
    k: new ort.Tensor("int64", BigInt64Array.of(3n), [1]),
  });
  await session.release();
  // Query 0: nearest are (1,0)=1, (0.97,0.03)=2, (0.95,0.05)=1 -> 1 with 2 votes.
  assert.deepEqual([...(out.labels!.data as Uint8Array)], [1, 2, 1]);
  assert.deepEqual([...(out.votes!.data as Float32Array)], [2, 3, 2]);
});

Deno.test("embeddingRows appends weighted (row, column) channels; maskOnGrid samples nearest pixels", () => {
  const rows = embeddingRows({ type: "float32", dims: [1, 1, 2, 2], data: Float32Array.of(1, 2, 3, 4) }, 2);
  assert.deepEqual([...rows], [1, 0.5, 0.5, 2, 0.5, 1.5, 3, 1.5, 0.5, 4, 1.5, 1.5]);
  const mask = Uint8Array.from({ length: 16 }, (_, i) => (i % 4 >= 2 ? 1 : 0));
  assert.deepEqual([...maskOnGrid(mask, 4, 4, 2, 2)], [0, 1, 0, 1]);
});

Deno.test("ReferencePool stays bounded over a long stream: the seed is kept, the oldest additions are evicted", () => {
  const pool = new ReferencePool(2, 100);
  pool.seed(Float32Array.of(9, 9, 8, 8), Uint8Array.of(1, 0));
  const row = new Float32Array(2);
  for (let i = 0; i < 10_000; i++) {
    row[0] = i;
    pool.add(row, 0, 1);
  }
  assert.equal(pool.size, 102);
  const { pool: tensor, labels } = pool.take();
  assert.deepEqual(tensor.dims, [102, 2]);
  assert.deepEqual([...(tensor.data as Float32Array).subarray(0, 4)], [9, 9, 8, 8]);
  // The ring holds the last 100 additions: 9900..9999.
  const kept = [...(tensor.data as Float32Array)].filter((_, i) => i >= 4 && i % 2 === 0).sort((a, b) => a - b);
  assert.equal(kept[0], 9900);
  assert.equal(kept.at(-1), 9999);
  assert.equal(labels.data.length, 102);
});

Deno.test("seedRows thins a large first frame evenly per object, keeping small objects whole", () => {
  // A 1080p grid (135 x 240 cells): background, a large object and a 100-cell one.
  const labels = new Uint8Array(135 * 240);
  labels.fill(1, 0, 12_000);
  labels.fill(2, 12_000, 12_100);
  assert.deepEqual(seedRows(labels.subarray(0, 500), 8192), Array.from({ length: 500 }, (_, i) => i));
  const keep = seedRows(labels, 8192);
  const count = (id: number) => keep.filter((row) => labels[row] === id).length;
  assert.ok(keep.length <= 8192 + minSeedPerObject, `${keep.length} rows`);
  assert.equal(count(2), 100, "a small object keeps every cell");
  assert.ok(Math.abs(count(1) - Math.round((12_000 * 8192) / labels.length)) <= 1);
  assert.ok(keep.every((row, i) => i === 0 || row > keep[i - 1]!), "rows in order, no repeats");
  const pool = new ReferencePool(2, 0);
  pool.seed(new Float32Array(labels.length * 2), labels, 8192);
  assert.equal(pool.size, keep.length);
});

Deno.test("classifyInChunks: queries in chunks (a bounded distance matrix) give the one-run labels, votes, shares", async () => {
  const objects = 3, depth = 4, poolSize = 50, rows = 37;
  const random = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) % 1);
  const pool = random(poolSize * depth, 1), query = random(rows * depth, 2);
  const poolLabels = BigInt64Array.from({ length: poolSize }, (_, i) => BigInt(i % objects));
  const session = await ort.InferenceSession.create(buildKnnGraph(objects));
  const run = async (q: Tensor, fetches: string[]) => {
    const out = await session.run({
      query: new ort.Tensor("float32", q.data as Float32Array, q.dims),
      pool: new ort.Tensor("float32", pool, [poolSize, depth]),
      pool_labels: new ort.Tensor("int64", poolLabels, [poolSize]),
      k: new ort.Tensor("int64", BigInt64Array.of(5n), [1]),
    }, fetches);
    return Object.fromEntries(
      Object.entries(out).map(([name, t]) => [name, { type: t.type, dims: [...t.dims], data: t.data } as Tensor]),
    );
  };
  const tensor: Tensor = { type: "float32", dims: [rows, depth], data: query };
  const whole = await classifyInChunks(run, tensor, poolSize, objects, true);
  const chunked = await classifyInChunks(run, tensor, poolSize, objects, true, poolSize * 8); // chunks of 8 rows
  await session.release();
  assert.deepEqual([...chunked.labels], [...whole.labels]);
  assert.deepEqual([...chunked.votes], [...whole.votes]);
  assert.deepEqual([...chunked.shares!], [...whole.shares!]);
});
