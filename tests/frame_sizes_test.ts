/**
 * Any frame size runs through every method graph: model inputs are padded to the card's `multiple_of` and
 * outputs cropped back, regions tile any size, and labels come out at the input's own size. The matrix runs
 * on the `testing` cuts (multiple_of 8, strided grids like the trained sets); a few sizes also run the
 * trained synthetic-world models.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { cropGrid, gridCoverage, gridStride } from "../engine/grid.ts";
import { buildArgmaxGraph } from "../stages/argmax.ts";
import { imageSizeTensor, labelSizeInput } from "../stages/model.ts";
import { prepareFlowInput } from "../stages/flow.ts";
import { regionBoxes } from "../stages/regions.ts";
import { maskOnGrid } from "../stages/knn.ts";
import { graphFrom, methodGraphs, modelsRoot, testSetup } from "./_helpers.ts";
import { shell } from "./_cli.ts";

/** The sizes users bring: qHD, full HD, 854-ish DAVIS, portrait phone video, and odd sides. */
const sizes: [number, number][] = [[960, 540], [1920, 1080], [853, 480], [720, 1280], [321, 239]];

/** Runs a method graph on `frames` synthetic frames of `width` x `height`, keeping the labels in memory. */
async function runAtSize(graph: string, width: number, height: number, modelSet: string, frames = 2) {
  const { probe, registry } = testSetup();
  const labels: Tensor[] = [];
  const loaded = await loadGraph(`graphs/${graph}.yaml`, {
    registry,
    modelsRoot,
    modelSet,
    overrides: [`source.width=${width}`, `source.height=${height}`, `source.frames=${frames}`],
  });
  loaded.sinks.length = 0;
  probe.functions.set("keep", (frame) => void labels.push(frame.slots.get("labels") as Tensor));
  loaded.sinks.push({
    id: "keep",
    kind: "call",
    role: "sink",
    definition: registry.stages.get("call")!,
    params: { fn: "keep", concurrency: 1 },
    inputs: {},
    outputs: {},
  });
  const report = await runGraph(loaded, { quiet: true, warn: () => {} });
  return { report, labels };
}

for (const graph of methodGraphs) {
  Deno.test(`graphs/${graph}.yaml runs at ${sizes.map(([w, h]) => `${w}x${h}`).join(", ")} with labels at each size`, async () => {
    // DAVIS J&F leaves out each sequence's first and last frames: PML needs a third to be scored.
    const frames = graph === "pml-vos" ? 3 : 2;
    for (const [width, height] of sizes) {
      const { report, labels } = await runAtSize(graph, width, height, "testing", frames);
      assert.equal(report.frames, frames, `${width}x${height}`);
      assert.equal(labels.length, frames, `${width}x${height}`);
      for (const l of labels) assert.deepEqual(l.dims, [1, height, width], `${graph} at ${width}x${height}`);
      const metric = graph === "pml-vos" ? report.metrics.jf : report.metrics.miou;
      assert.ok(Number.isFinite(metric), `${graph} at ${width}x${height} is scored at the frame's size: ${metric}`);
    }
  });
}

for (const graph of ["per-frame", "dvsnet", "pml-vos"]) {
  Deno.test(`graphs/${graph}.yaml with the trained synthetic models at 853x480 and 720x1280`, async () => {
    for (const [width, height] of [[853, 480], [720, 1280]] as const) {
      const { labels, report } = await runAtSize(graph, width, height, "synthetic", 1);
      assert.deepEqual(labels[0]!.dims, [1, height, width]);
      if (graph === "per-frame") {
        // The synthetic clip through its own seg: a padded frame must still segment well, not only run.
        assert.ok((report.metrics.miou as number) > 0.4, `mIoU ${report.metrics.miou} at ${width}x${height}`);
      }
    }
  });
}

Deno.test("a frame smaller than a model takes fails with one message naming the sizes", async () => {
  const result = await shell(
    `head -c ${12 * 12 * 3} /dev/zero | SEGFLOW run graphs/per-frame.yaml --input - --size 12x12 ` +
      `--output - --format labels --quiet`,
  );
  assert.equal(result.code, 1);
  const lines = result.stderr.trim().split("\n").filter((line) => line.startsWith("error:"));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /^error: .*the frame is 12x12, smaller than model 'seg' takes \(at least 16x16\)$/);
  // Half-resolution flow needs twice its own minimum (16 px): 32 px frames.
  const { registry } = testSetup();
  const graph = await graphFrom(
    `model_set: synthetic
source: { kind: pattern, frames: 2, width: 24, height: 24 }
models: { flow: flow }
stages:
  - { id: decide, kind: decide, every: 5, out: { key: is_key } }
  - { id: flow, kind: flow, model: flow, scale: 0.5, in: { image: image, key: is_key }, out: { flow: flow } }
`,
    registry,
  );
  await assert.rejects(
    () => runGraph(graph, { quiet: true, warn: () => {} }),
    /the frame is 24x24, smaller than model 'flow' takes \(at least 32x32\)/,
  );
});

Deno.test("gridStride: a padded grid has the whole stride; a grid spanning the frame exactly has its own", () => {
  assert.equal(gridStride(853, 107), 8);
  assert.equal(gridStride(480, 60), 8);
  assert.equal(gridStride(1080, 135), 8);
  assert.equal(gridStride(540, 68), 8);
  assert.equal(gridStride(853, 53), 853 / 53); // resampled, not padded: 53 x 17 = 901 would overshoot a cell
  assert.equal(gridCoverage(853, 107), 856);
  assert.equal(gridCoverage(480, 60), 480);
});

Deno.test("cropGrid cuts a padded model output back to the frame's grid; a fitting one is returned as is", () => {
  const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
  const tensor: Tensor = { type: "float32", dims: [1, 2, 3, 4], data };
  const cropped = cropGrid(tensor, 2, 3);
  assert.deepEqual(cropped.dims, [1, 2, 2, 3]);
  assert.deepEqual([...cropped.data as Float32Array], [0, 1, 2, 4, 5, 6, 12, 13, 14, 16, 17, 18]);
  assert.equal(cropGrid(tensor, 3, 4), tensor);
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

Deno.test("prepareFlowInput: half-resolution flow on an odd frame is a padded grid of stride 2 x model stride", () => {
  const frame = { width: 853, height: 479, data: new Uint8Array(853 * 479 * 3) };
  const input = prepareFlowInput(frame, 0.5, 8);
  assert.equal(input.image.width % 8, 0);
  assert.equal(input.image.height % 8, 0);
  assert.deepEqual([input.image.width, input.image.height], [432, 240]); // 853 -> 854 -> 427 -> 432
  assert.deepEqual(input.cells(8), [30, 54]); // ceil(479 / 16), ceil(853 / 16)
  assert.equal(gridStride(853, input.cells(8)[1]), 16);
  // A scale whose inverse is not whole resamples the frame: the grid then spans it exactly.
  const resampled = prepareFlowInput(frame, 0.3, 8);
  assert.deepEqual([resampled.image.width, resampled.image.height], [256, 144]);
});

Deno.test("regionBoxes tile any frame once padded; a frame too small for the grid is refused", () => {
  for (const [width, height] of sizes) {
    const padded = [Math.ceil(width / 8) * 8, Math.ceil(height / 8) * 8] as const;
    const boxes = regionBoxes(padded[0], padded[1], [2, 2], 16, 8);
    assert.equal(boxes.length, 4);
    const last = boxes[3]!;
    assert.equal(last.x + last.width, padded[0]);
    assert.equal(last.y + last.height, padded[1]);
    for (const box of boxes) assert.ok(box.x % 8 === 0 && box.y % 8 === 0 && box.width % 8 === 0);
  }
  assert.throws(() => regionBoxes(8, 8, [2, 2], 0, 8), /too small for a 2x2 grid/);
});

Deno.test("maskOnGrid samples each padded cell's centre pixel (the edge pixel past the frame)", () => {
  // 10 px wide, stride 4: cells 0..2 cover pixels 0-3, 4-7, 8-11 (10, 11 are padding).
  const mask = Uint8Array.from({ length: 10 }, (_, x) => x);
  assert.deepEqual([...maskOnGrid(mask, 10, 1, 3, 1)], [2, 6, 9]);
});
