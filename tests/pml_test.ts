/**
 * PML's pieces around the kNN: the first-mask stage (baselines, first_mask files), knn's vote-share output,
 * DAVIS-layout palette masks, and padding frames to the models' size multiple. The refinement: `refine_test.ts`.
 */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { padToMultiple } from "../engine/image_tensor.ts";
import { encodeIndexedPng } from "../datasets/png.ts";
import type { Tensor } from "../engine/tensor.ts";
import { davisPalette } from "../stages/_picture.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

Deno.test("padToMultiple replicates the right and bottom edges", () => {
  const image = { width: 3, height: 2, data: Uint8Array.from({ length: 18 }, (_, i) => i) };
  const padded = padToMultiple(image, 4);
  assert.deepEqual([padded.width, padded.height], [4, 4]);
  const pixel = (x: number, y: number) => [...padded.data.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3)];
  assert.deepEqual(pixel(3, 0), [6, 7, 8], "right edge repeats the last column");
  assert.deepEqual(pixel(0, 3), [9, 10, 11], "bottom rows repeat the last row");
  assert.equal(padToMultiple(padded, 4), padded);
});

Deno.test("first-mask: every frame gets the first frame's mask from a 0/255 PNG", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const mask = new Uint8Array(16 * 8);
    for (let y = 0; y < 8; y++) for (let x = 8; x < 16; x++) mask[y * 16 + x] = 255;
    await Deno.writeFile(`${dir}/first.png`, encodeIndexedPng(mask, 16, 8, [[0, 0, 0], [255, 255, 255]]));
    const { probe, registry } = testSetup();
    const seen: Tensor[] = [];
    probe.functions.set("keep", (frame) => void seen.push(frame.slots.get("labels") as Tensor));
    const graph = await graphFrom(
      `source: { kind: fake, frames: 3, width: 16, height: 8 }
stages:
  - { id: first, kind: first-mask, first_mask: ${dir}/first.png, out: { labels: labels } }
  - { id: keep, kind: call, fn: keep }
`,
      registry,
    );
    await runGraph(graph);
    assert.equal(seen.length, 3);
    for (const labels of seen) {
      assert.deepEqual(labels.dims, [1, 8, 16]);
      assert.deepEqual([...labels.data.subarray(0, 16)], [...Array(8).fill(0), ...Array(8).fill(1)]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("labels-png layout davis writes <dir>/<sequence>/<00000>.png with the DAVIS palette", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { probe, registry } = testSetup();
    probe.functions.set("labels", (frame) => {
      frame.slots.set("labels", { type: "uint8", dims: [1, 8, 8], data: new Uint8Array(64).fill(frame.index % 3) });
    });
    const graph = await graphFrom(
      `source: { kind: fake, frames: 2, width: 8, height: 8 }
stages:
  - { id: labels, kind: call, fn: labels, out: { value: labels } }
sinks:
  - { kind: labels-png, dir: ${dir}, layout: davis, palette: davis, in: { labels: labels } }
`,
      registry,
    );
    await runGraph(graph);
    const files = [...Deno.readDirSync(`${dir}/fake`)].map((e) => e.name).sort();
    assert.deepEqual(files, ["00000.png", "00001.png"]);
    assert.deepEqual(davisPalette(4), [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("knn scores: each object's share of the k votes, [1, objects, h, w]", async () => {
  const { probe, registry } = testSetup();
  const seen: Tensor[] = [];
  // Four embedding pixels: two point at (1, 0), two at (0, 1); the first frame's mask labels them 0, 0, 1, 1.
  probe.functions.set("embedding", (frame) => {
    frame.slots.set("embedding", {
      type: "float32",
      dims: [1, 2, 1, 4],
      data: Float32Array.of(1, 1, 0, 0, 0, 0, 1, 1),
    });
  });
  probe.functions.set("mask", (frame) => {
    frame.slots.set("mask", { type: "uint8", dims: [1, 1, 4], data: Uint8Array.of(0, 0, 1, 1) });
  });
  probe.functions.set("keep", (frame) => void seen.push(frame.slots.get("scores") as Tensor));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 2, width: 8, height: 8 }
stages:
  - { id: embedding, kind: call, fn: embedding, out: { value: embedding } }
  - { id: mask, kind: call, fn: mask, out: { value: mask } }
  - { id: pml, kind: knn, k: 2, position_weight: 0, adapt: false, objects: 3, in: { embedding: embedding, mask: mask }, out: { scores: scores } }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
  );
  await runGraph(graph);
  assert.deepEqual(seen[1]!.dims, [1, 3, 1, 4]);
  // Object 0 gets both votes at pixels 0-1, object 1 at pixels 2-3, object 2 none.
  assert.deepEqual([...seen[1]!.data], [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual([...seen[0]!.data], [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0], "the first frame: its mask, one-hot");
});

Deno.test("pml-vos on a DAVIS folder annotated on its first frame only: every frame segmented, the rest unscored", async () => {
  const { writeSyntheticDataset } = await import("../datasets/synthetic/write.ts");
  const { loadGraph } = await import("../engine/graph.ts");
  const { modelsRoot } = await import("./_helpers.ts");
  const dir = await Deno.makeTempDir();
  try {
    const [entry] = await writeSyntheticDataset(dir, { width: 64, height: 48, frames: 4, fps: 15, seed: 7 }, 1);
    const masks = `${dir}/Annotations/480p/${entry!.sequence}`;
    for (const file of [...Deno.readDirSync(masks)].map((e) => e.name).sort().slice(1)) {
      await Deno.remove(`${masks}/${file}`);
    }
    const { registry } = testSetup();
    const graph = await loadGraph("graphs/pml-vos.yaml", {
      registry,
      modelsRoot,
      modelSet: "testing",
      input: `${dir}/JPEGImages/480p/${entry!.sequence}`,
    });
    graph.sinks.length = 0;
    const warnings: string[] = [];
    const report = await runGraph(graph, { quiet: true, warn: (w) => warnings.push(w) });
    assert.equal(report.frames, 4);
    assert.equal(report.counters.unscored_frames, 3);
    assert.equal(report.metrics.jf, null, "no scorable frame: no number, not NaN");
    assert.equal(warnings.filter((w) => w.includes("are not scored")).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
