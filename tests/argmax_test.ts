/**
 * The `argmax` stage: class scores on a model's (padded) grid to a label map at the frame's size, in ONNX, and
 * its check that it is fed one score map per class.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { buildArgmaxGraph } from "../stages/argmax.ts";
import { imageSizeTensor, labelSizeInput } from "../stages/model.ts";
import { graphError, graphFrom, testingGraphHead, testSetup } from "./_helpers.ts";

/** The message graph `text` (as test.yaml) is rejected with. */
const rejectionOf = async (text: string): Promise<string> => (await graphError(text)).message;

Deno.test("argmax: scores on a coarse grid become labels at the frame's size", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("scores", (frame) => {
    // 2 classes on a 1x2 grid: class 0 wins on the left, class 1 on the right.
    frame.slots.set("scores", { type: "float32", dims: [1, 2, 1, 2], data: Float32Array.of(5, 0, 0, 5) } as Tensor);
  });
  let labels: Tensor | undefined;
  probe.functions.set("collect", (frame) => void (labels = frame.slots.get("labels") as Tensor));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 1, width: 8, height: 2 }
stages:
  - { id: scores, kind: call, fn: scores, out: { value: scores } }
  - { id: argmax, kind: argmax, in: { scores: scores }, out: { labels: labels } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  await runGraph(graph);
  assert.deepEqual(labels!.dims, [1, 2, 8]);
  assert.deepEqual([...labels!.data as Uint8Array], [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
});

Deno.test("the label head maps a padded grid's cells to the pixels they cover, then crops to the frame", async () => {
  // A 13x10 frame seen on a stride-4 grid (4x3 cells, covering 16x12): cell (i, j) is class 3i + j.
  const [width, height, rows, cols] = [13, 10, 3, 4];
  const classes = rows * cols;
  const scores = new Float32Array(classes * rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) scores[(i * cols + j) * rows * cols + i * cols + j] = 10;
  }
  const session = await ort.InferenceSession.create(buildArgmaxGraph("image"));
  const size = imageSizeTensor(width, height);
  const out = await session.run({
    scores: new ort.Tensor("float32", scores, [1, classes, rows, cols]),
    [labelSizeInput]: new ort.Tensor("int64", size.data as BigInt64Array, [2]),
  });
  await session.release();
  const labels = out.labels!;
  assert.deepEqual(labels.dims, [1, height, width]);
  const data = labels.data as Uint8Array;
  // The two middle pixels of every 4-pixel cell belong to it (the edges blend with the neighbour).
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x % 4 === 0 || x % 4 === 3 || y % 4 === 0 || y % 4 === 3) continue;
      assert.equal(data[y * width + x], Math.floor(y / 4) * cols + Math.floor(x / 4), `pixel (${y}, ${x})`);
    }
  }
});

Deno.test("check: argmax over a label map, or over scores that are not one per class, fails at its 'in'", async () => {
  const seg = testingGraphHead + `models: { seg: seg, s1: seg-s1 }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
`;
  assert.match(
    await rejectionOf(seg + `  - { id: argmax, kind: argmax, in: { scores: labels } }\n`),
    /^test\.yaml:7:37: stage 'argmax': input 'scores' is slot 'labels', a label map, not class scores \(uint8 NHW label map, stride 1\)$/,
  );
  assert.match(
    await rejectionOf(
      seg + `  - { id: s1, kind: model, model: s1, out: { feat1: feat1 } }
  - { id: argmax, kind: argmax, in: { scores: feat1 } }
`,
    ),
    /^test\.yaml:8:37: stage 'argmax': input 'scores' is slot 'feat1' with 8 channels, but the model set has 11 classes \(Sky, Building, \.\.\.\)$/,
  );
});
