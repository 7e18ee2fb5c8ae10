/**
 * PML with objects that enter later (DAVIS 2017 style): `knn`'s `masks` folder gives masks of later frames, whose
 * new ids join the pool from that frame; annotated frames come out as given; the pool stays bounded however many
 * objects enter; a mask of another size is a one-line error.
 */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { encodeIndexedPng } from "../datasets/png.ts";
import type { Tensor } from "../engine/tensor.ts";
import { davisPalette } from "../stages/_picture.ts";
import { minSeedPerObject, newObjectRows } from "../stages/knn.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

const width = 32, height = 8;

/** A mask with `ids[c]` over the 8-pixel-wide column band c (four bands). */
function bands(ids: number[]): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) mask[y * width + x] = ids[Math.floor(x / 8)]!;
  return mask;
}

/**
 * Runs PML (knn + refine) over 6 fake frames whose embedding grid is the four bands: bands 0 and 1 look alike
 * (background), band 2 is object 1 from the start, band 3 looks like the background until frame 3, when object 2
 * enters there. Returns each frame's output labels and the run's counters.
 */
async function run(masks: string, extra = "") {
  const { probe, registry } = testSetup();
  probe.functions.set("embedding", (frame) => {
    const entered = frame.index >= 3;
    const cells = [[1, 0, 0], [1, 0, 0], [0, 1, 0], entered ? [0, 0, 1] : [1, 0, 0]];
    const data = new Float32Array(12);
    cells.forEach((v, c) => v.forEach((x, d) => data[d * 4 + c] = x));
    frame.slots.set("embedding", { type: "float32", dims: [1, 3, 1, 4], data });
  });
  const labels: Tensor[] = [];
  probe.functions.set("keep", (frame) => void labels.push(frame.slots.get("labels") as Tensor));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 6, width: ${width}, height: ${height} }
stages:
  - { id: embedding, kind: call, fn: embedding, out: { value: embedding } }
  - { id: pml, kind: knn, k: 1, position_weight: 0, objects: 3, masks: ${masks}${extra}, in: { embedding: embedding }, out: { scores: scores, given: given } }
  - { id: refine, kind: refine, sigma_spatial: 2, in: { scores: scores, image: image, given: given }, out: { labels: labels } }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
  );
  const report = await runGraph(graph, { quiet: true });
  return { labels, report };
}

Deno.test("knn masks: an object annotated on a later frame joins from that frame; annotated frames come out as given", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = bands([0, 0, 255, 0]); // a DAVIS 2016 0/255 mask: object 1
    const later = bands([0, 0, 1, 2]); // a palette mask: object 2 enters in band 3
    await Deno.writeFile(`${dir}/00000.png`, encodeIndexedPng(first, width, height, [[0, 0, 0], [255, 255, 255]]));
    await Deno.writeFile(`${dir}/00003.png`, encodeIndexedPng(later, width, height, davisPalette(256)));
    const { labels, report } = await run(dir);
    assert.equal(labels.length, 6);
    assert.deepEqual([...labels[0]!.data], [...bands([0, 0, 1, 0])], "frame 0: the given mask (0/255 read as id 1)");
    assert.deepEqual([...labels[3]!.data], [...later], "frame 3: the given mask, not a prediction");
    for (const t of [1, 2]) {
      assert.ok(![...labels[t]!.data].includes(2), `frame ${t}: object 2 is not there yet`);
      assert.ok([...labels[t]!.data].includes(1), `frame ${t}: object 1 is tracked`);
    }
    for (const t of [4, 5]) {
      const band3 = [...labels[t]!.data].filter((_, i) => i % width >= 24);
      assert.ok(band3.filter((id) => id === 2).length > band3.length / 2, `frame ${t}: object 2 found in band 3`);
    }
    assert.equal(report.counters.knn_annotated_frames, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Writes `masks` (file name -> [labels, width]) into a temporary folder, runs `check` on it, removes it. */
async function withMasks(masks: Record<string, [Uint8Array, number]>, check: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, [labels, w]] of Object.entries(masks)) {
      await Deno.writeFile(`${dir}/${name}`, encodeIndexedPng(labels, w, labels.length / w, davisPalette(256)));
    }
    await check(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("knn masks: a mask of another size than the frames is a one-line error naming the file", async () => {
  const masks: Record<string, [Uint8Array, number]> = {
    "00000.png": [bands([0, 0, 1, 0]), width],
    "00002.png": [new Uint8Array(16 * 8).fill(1), 16],
  };
  await withMasks(masks, async (dir) => {
    await assert.rejects(
      () => run(dir),
      (error: Error) =>
        error.name === "InputError" &&
        error.message.endsWith(`frame 2: mask ${dir}/00002.png is 16x8 but the frames of fake are 32x8`),
    );
  });
});

Deno.test("knn masks: an id past 'objects' is an error that says to raise it", async () => {
  const masks: Record<string, [Uint8Array, number]> = {
    "00000.png": [bands([0, 0, 1, 0]), width],
    "00001.png": [bands([0, 0, 1, 5]), width],
  };
  await withMasks(masks, async (dir) => {
    await assert.rejects(() => run(dir), /mask .*00001\.png has object id 5, but 'objects' is 3 .*raise 'objects'/);
  });
});

Deno.test("newObjectRows: only ids new to the pool; bounded however many objects enter", () => {
  assert.deepEqual(newObjectRows(Uint8Array.of(0, 1, 2, 2, 3), new Set([0, 1]), 100), [2, 3, 4]);
  // 20 objects of 1,000 cells each enter one by one into a pool of at most 2,048 seed entries.
  const seedSize = 2048;
  let seedCount = 1500;
  const known = new Set([0]);
  for (let id = 1; id <= 20; id++) {
    const labels = new Uint8Array(20 * 1000);
    labels.fill(id, (id - 1) * 1000, id * 1000);
    const rows = newObjectRows(labels, known, seedSize - seedCount);
    assert.ok(rows.length >= Math.min(1000, minSeedPerObject), `object ${id} keeps at least ${minSeedPerObject} cells`);
    assert.ok(rows.every((r) => labels[r] === id));
    seedCount += rows.length;
    known.add(id);
  }
  assert.ok(seedCount <= seedSize + 20 * minSeedPerObject, `the seed is bounded: ${seedCount}`);
});

Deno.test("knn masks: twenty objects entering one per frame are each tracked from their frame on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cells = 20, w = cells * 8, h = 8;
    // Cell c looks like the background (dimension 20) until object c + 1 enters there on frame c + 1.
    const maskOf = (t: number) => {
      const mask = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          mask[y * w + x] = Math.floor(x / 8) < t ? Math.floor(x / 8) + 1 : 0;
        }
      }
      return mask;
    };
    for (let t = 0; t <= cells; t++) {
      await Deno.writeFile(
        `${dir}/${String(t).padStart(5, "0")}.png`,
        encodeIndexedPng(maskOf(t), w, h, davisPalette(256)),
      );
    }
    const { probe, registry } = testSetup();
    probe.functions.set("embedding", (frame) => {
      const data = new Float32Array(21 * cells);
      for (let c = 0; c < cells; c++) data[(c < frame.index ? c : 20) * cells + c] = 1;
      frame.slots.set("embedding", { type: "float32", dims: [1, 21, 1, cells], data });
    });
    const labels: Uint8Array[] = [];
    probe.functions.set("keep", (frame) => void labels.push((frame.slots.get("labels") as Tensor).data as Uint8Array));
    // Frames 0..20 are annotated (object t enters on frame t); frames 21..23 are predicted.
    const graph = await graphFrom(
      `source: { kind: fake, frames: 24, width: ${w}, height: ${h} }
stages:
  - { id: embedding, kind: call, fn: embedding, out: { value: embedding } }
  - { id: pml, kind: knn, k: 1, position_weight: 0, objects: 21, seed_size: 16, masks: ${dir}, in: { embedding: embedding }, out: { labels: labels } }
  - { id: keep, kind: call, fn: keep }
`,
      registry,
    );
    const report = await runGraph(graph, { quiet: true });
    assert.equal(report.counters.knn_annotated_frames, 20);
    for (const t of [21, 22, 23]) assert.deepEqual([...labels[t]!], Array.from({ length: cells }, (_, c) => c + 1));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
