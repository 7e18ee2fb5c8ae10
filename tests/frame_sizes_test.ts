/**
 * Any frame size runs through every method graph: model inputs are padded to the card's `multiple_of` and
 * outputs cropped back, regions tile any size, and labels come out at the input's own size. The matrix runs
 * on the `testing` cuts (multiple_of 8, strided grids like the trained sets); a few sizes also run the
 * trained synthetic-world models. How each stage pads or crops is tested in its own file (argmax's label head,
 * flow's shrunk input, regions' boxes).
 */
import assert from "node:assert/strict";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { cropGrid, gridCoverage, gridStride } from "../engine/grid.ts";
import { maskOnGrid } from "../stages/knn.ts";
import { graphFrom, methodGraphs, modelsRoot, testingSetOverrides, testSetup, userFrameSizes } from "./_helpers.ts";
import { shell } from "./_cli.ts";

/** Runs a method graph on `frames` synthetic frames of `width` x `height`, keeping the labels in memory. */
async function runAtSize(graph: string, width: number, height: number, modelSet: string, frames = 2) {
  const { probe, registry } = testSetup();
  const labels: Tensor[] = [];
  const loaded = await loadGraph(`graphs/${graph}.yaml`, {
    registry,
    modelsRoot,
    modelSet,
    overrides: [
      ...(modelSet === "testing" ? testingSetOverrides(graph) : []),
      `source.width=${width}`,
      `source.height=${height}`,
      `source.frames=${frames}`,
    ],
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
  Deno.test(`graphs/${graph}.yaml runs at ${userFrameSizes.map(([w, h]) => `${w}x${h}`).join(", ")} with labels at each size`, async () => {
    // DAVIS J&F leaves out each sequence's first and last frames: PML needs a third to be scored.
    const frames = graph === "pml-vos" ? 3 : 2;
    for (const [width, height] of userFrameSizes) {
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

Deno.test("maskOnGrid samples each padded cell's centre pixel (the edge pixel past the frame)", () => {
  // 10 px wide, stride 4: cells 0..2 cover pixels 0-3, 4-7, 8-11 (10, 11 are padding).
  const mask = Uint8Array.from({ length: 10 }, (_, x) => x);
  assert.deepEqual([...maskOnGrid(mask, 10, 1, 3, 1)], [2, 6, 9]);
});
