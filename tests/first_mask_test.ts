/**
 * The first-frame one-hot scores (`first-mask`'s and `knn`'s `scores`): the ONNX graph (`stages/_one_hot_graph.ts`)
 * against the JavaScript reference (`_pixel_ops_reference.ts`), exactly, ids past the object count included; and
 * `first-mask` in a graph, one one-hot per stream.
 */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { buildOneHotGraph, oneHotOp } from "../stages/_one_hot_graph.ts";
import { oneHotScores } from "./_pixel_ops_reference.ts";
import { runOnce } from "./_pixel_ops_run.ts";
import { graphFrom, testSetup, withTempDir } from "./_helpers.ts";
import { encodeIndexedPng } from "../datasets/png.ts";

Deno.test("buildOneHotGraph equals the reference one-hot (2, 8 and 255 objects; ids >= objects are all 0)", async () => {
  for (const [objects, h, w] of [[2, 3, 5], [8, 60, 107], [8, 480, 854], [255, 4, 4]] as const) {
    const labels = Uint8Array.from({ length: h * w }, (_, p) => (p * 7 + (p >> 3)) % (objects + 3));
    const { scores } = await runOnce(buildOneHotGraph(objects), {
      labels: { type: "uint8", dims: [1, h, w], data: labels },
    });
    const expected = oneHotScores(labels, objects, h, w);
    assert.deepEqual(scores!.dims, expected.dims);
    assert.deepEqual(scores!.data, expected.data, `${objects} objects, ${w}x${h}`);
  }
  assert.throws(() => buildOneHotGraph(0), RangeError);
});

Deno.test("oneHotOp loads its graph on first use only and checks the label count", async () => {
  const loads: string[] = [];
  const oneHot = oneHotOp({
    op: (key, build) => {
      loads.push(key);
      const bytes = build();
      return Promise.resolve({ key, run: (feeds) => runOnce(bytes, feeds) });
    },
  }, 3);
  assert.deepEqual(loads, []);
  const scores = await oneHot(Uint8Array.of(0, 2, 1, 5), 2, 2);
  assert.deepEqual([...scores.data as Float32Array], [1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0]);
  await oneHot(Uint8Array.of(0, 0, 0, 0), 2, 2);
  assert.deepEqual(loads, ["one-hot-o3"]);
  await assert.rejects(() => oneHot(Uint8Array.of(0), 2, 2), RangeError);
});

Deno.test("first-mask: scores are the first mask one-hot on every frame, the same tensor each frame", async () => {
  await withTempDir(async (dir) => {
    const mask = Uint8Array.from({ length: 16 * 8 }, (_, p) => (p % 16 < 8 ? 1 : p < 64 ? 0 : 2));
    await Deno.writeFile(`${dir}/mask.png`, encodeIndexedPng(mask, 16, 8, [[0, 0, 0], [255, 0, 0], [0, 255, 0]]));
    const { probe, registry } = testSetup();
    const seen: Tensor[] = [];
    probe.functions.set("keep", (frame) => void seen.push(frame.slots.get("scores") as Tensor));
    const graph = await graphFrom(
      `source: { kind: fake, frames: 3, width: 16, height: 8 }
stages:
  - { id: first, kind: first-mask, objects: 3, first_mask: ${dir}/mask.png, out: { scores: scores } }
  - { id: keep, kind: call, fn: keep }
`,
      registry,
    );
    await runGraph(graph, { quiet: true });
    assert.equal(seen.length, 3);
    assert.deepEqual(seen[0]!.data, oneHotScores(mask, 3, 8, 16).data);
    assert.ok(seen.every((s) => s === seen[0]));
  });
});
