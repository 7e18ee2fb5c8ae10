/**
 * The `fuse` stage's sum and mean (coarser maps resized to the first one's grid) and its checks on its operands.
 * The fusion-model method runs in graphs/accel.yaml (tests/method_graphs_test.ts).
 */
import assert from "node:assert/strict";
import { loadGraphText } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { graphError, graphFrom, modelsRoot, testingGraphHead, testSetup } from "./_helpers.ts";

/** The message graph `text` (as test.yaml) is rejected with. */
const rejectionOf = async (text: string): Promise<string> => (await graphError(text)).message;

Deno.test("fuse(sum|mean) resizes coarser maps to the first one's grid and combines them", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("a", (frame) => {
    frame.slots.set("a", { type: "float32", dims: [1, 1, 2, 2], data: Float32Array.of(1, 2, 3, 4) } as Tensor);
  });
  probe.functions.set("b", (frame) => {
    frame.slots.set("b", { type: "float32", dims: [1, 1, 1, 1], data: Float32Array.of(10) } as Tensor);
  });
  const results: Record<string, number[]> = {};
  probe.functions.set("collect", (frame) => {
    for (const slot of ["sum", "mean"]) results[slot] = [...(frame.slots.get(slot) as Tensor).data as Float32Array];
  });
  const graph = await graphFrom(
    `source: { kind: fake, frames: 1 }
stages:
  - { id: a, kind: call, fn: a, out: { value: a } }
  - { id: b, kind: call, fn: b, out: { value: b } }
  - { id: add, kind: fuse, method: sum, in: { a: a, b: b }, out: { scores: sum } }
  - { id: avg, kind: fuse, method: mean, in: { a: a, b: b }, out: { scores: mean } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  await runGraph(graph);
  assert.deepEqual(results.sum, [11, 12, 13, 14]);
  assert.deepEqual(results.mean, [5.5, 6, 6.5, 7]);
});

Deno.test("check: fuse operands need equal channels, and 'a' the finest grid", async () => {
  const base = testingGraphHead + `models: { s1: seg-s1, s3: seg-s3 }
stages:
  - { id: s1, kind: model, model: s1, out: { score1: score1, feat1: feat1 } }
`;
  assert.match(
    await rejectionOf(base + `  - { id: fuse, kind: fuse, method: sum, in: { a: score1, b: feat1 } }\n`),
    /^test\.yaml:7:46: stage 'fuse': inputs 'a' \(slot 'score1', 11 channels\) and 'b' \(slot 'feat1', 8 channels\) must have the same channels$/,
  );
  const coarse = base + `  - { id: s3, kind: model, model: s3, in: { feat2: feat2 }, out: { score3: score3 } }\n`;
  // seg-s3 reads feat2 (8 channels, any stride): feed it feat1 under that name.
  const graph = coarse.replace("feat1: feat1 }", "feat1: feat2 }");
  assert.match(
    await rejectionOf(graph + `  - { id: fuse, kind: fuse, method: mean, in: { a: score3, b: score1 } }\n`),
    /^test\.yaml:8:47: stage 'fuse': input 'b' is slot 'score1' at stride 8, finer than 'a' \(slot 'score3', stride 32\), whose grid the result takes; bind the finest map to 'a'$/,
  );
  // Coarser operands are resized to a's grid: fine.
  const { registry } = testSetup();
  await loadGraphText(
    "test.yaml",
    graph + `  - { id: fuse, kind: fuse, method: mean, in: { a: score1, b: score3 } }\n`,
    {
      registry,
      modelsRoot,
    },
  );
});
