/**
 * Feature-grid pooling (the `flow` stage's `features_grid`): the ONNX graph (`stages/_pool_graph.ts`) against the
 * JavaScript reference (`_pixel_ops_reference.ts`), within 1e-6 (relative, for values above 1), at the shapes
 * DVSNet pools and at grids finer than the map; and the pooling weights.
 */
import assert from "node:assert/strict";
import type { Tensor } from "../engine/tensor.ts";
import { buildPoolGraph, gridPooler, poolingWeights } from "../stages/_pool_graph.ts";
import { poolToGrid, seededFloats } from "./_pixel_ops_reference.ts";
import { runOnce } from "./_pixel_ops_run.ts";

Deno.test("buildPoolGraph pools like the reference within 1e-6 (DVSNet's 4x8 grid and others)", async () => {
  const graph = buildPoolGraph();
  const cases = [[64, 23, 30, 4, 8], [64, 68, 120, 4, 8], [16, 45, 60, 4, 8], [3, 7, 5, 4, 8], [5, 9, 9, 3, 3], [
    2,
    1,
    1,
    1,
    1,
  ]] as const;
  for (const [channels, h, w, rows, cols] of cases) {
    const map: Tensor = {
      type: "float32",
      dims: [1, channels, h, w],
      data: seededFloats(channels * h * w, h * w, -20, 20),
    };
    const expected = poolToGrid(map, rows, cols);
    const { pooled } = await runOnce(graph, { map, ...poolingWeights(h, w, rows, cols) });
    assert.deepEqual(pooled!.dims, expected.dims);
    const got = pooled!.data as Float32Array, want = expected.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
    }
    assert.ok(worst <= 1e-6, `C=${channels} ${h}x${w} -> ${rows}x${cols}: off by ${worst}`);
  }
});

Deno.test("poolingWeights: PyTorch's cell bounds, rows of 1 / cell size; bad sizes throw", () => {
  // 5 rows to 2 cells: rows 0..2 and 2..4 (row 2 in both).
  const { row_weights: rows, col_weights: cols } = poolingWeights(5, 3, 2, 1);
  assert.deepEqual([...rows.data as Float32Array].map((v) => +v.toFixed(4)), [
    0.3333,
    0.3333,
    0.3333,
    0,
    0,
    0,
    0,
    0.3333,
    0.3333,
    0.3333,
  ]);
  assert.deepEqual([...cols.data as Float32Array].map((v) => +v.toFixed(4)), [0.3333, 0.3333, 0.3333]);
  assert.throws(() => poolingWeights(0, 3, 2, 1), RangeError);
});

Deno.test("gridPooler runs the graph through ctx.op once and rejects maps that are not [1,C,h,w]", async () => {
  const loads: string[] = [];
  const pool = gridPooler({
    op: (key, build) => {
      loads.push(key);
      const bytes = build();
      return Promise.resolve({ key, run: (feeds) => runOnce(bytes, feeds) });
    },
  });
  const map: Tensor = { type: "float32", dims: [1, 2, 4, 4], data: seededFloats(32, 3) };
  for (let i = 0; i < 3; i++) {
    const pooled = await pool(map, 2, 2);
    assert.deepEqual(pooled.dims, [1, 2, 2, 2]);
    const want = poolToGrid(map, 2, 2).data as Float32Array;
    (pooled.data as Float32Array).forEach((v, j) => assert.ok(Math.abs(v - want[j]!) <= 1e-6));
  }
  assert.deepEqual(loads, ["pool-to-grid"]);
  await assert.rejects(() => pool({ ...map, dims: [2, 4, 4] }, 2, 2), TypeError);
});
