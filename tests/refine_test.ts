/**
 * The `refine` stage: its ONNX graph against the JavaScript reference (`_refine_reference.ts`) on random scores and
 * structured images at odd sizes, its behaviour on small hand-made cases, and the stage in a graph.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { buildRefineGraph, type RefineOptions } from "../stages/_refine_graph.ts";
import { refineShape } from "../stages/refine.ts";
import { randomShares, refineScores, structuredImage } from "./_refine_reference.ts";

import type { RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import { runGraph } from "../engine/run.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

const options: RefineOptions = { radius: 2, sigmaSpatial: 8, sigmaRange: 20, threshold: 0.5 };

/** Runs the refine graph on one frame (optionally in bands of at most `bandWeights` weights). */
async function refineOnnx(
  scores: Tensor,
  image: RgbImage,
  opts: RefineOptions = options,
  bandWeights?: number,
): Promise<Uint8Array> {
  const graph = buildRefineGraph(refineShape(scores, image), opts, bandWeights ? { bandWeights } : {});
  const session = await ort.InferenceSession.create(graph);
  try {
    const out = await session.run({
      scores: new ort.Tensor("float32", scores.data as Float32Array, scores.dims),
      image: new ort.Tensor("uint8", image.data, [image.height, image.width, 3]),
    });
    assert.deepEqual(out.labels!.dims, [1, image.height, image.width]);
    return out.labels!.data as Uint8Array;
  } finally {
    await session.release();
  }
}

/**
 * Share of pixels the ONNX graph and the reference label alike, with the reference's tabulated range weights
 * and with exact ones. Random vote shares tie exactly now and then (two objects with 2 of 5 votes each), and
 * such a pixel goes either way with the summation order.
 */
async function agreement(
  width: number,
  height: number,
  w: number,
  h: number,
  objects: number,
  opts: RefineOptions = options,
  bandWeights?: number,
): Promise<{ tabulated: number; exact: number }> {
  const image = structuredImage(width, height, width + height);
  const scores: Tensor = { type: "float32", dims: [1, objects, h, w], data: randomShares(objects, h, w, w * h) };
  const labels = await refineOnnx(scores, image, opts, bandWeights);
  const share = (reference: Uint8Array) => {
    let same = 0;
    for (let p = 0; p < labels.length; p++) if (labels[p] === reference[p]) same++;
    return same / labels.length;
  };
  return {
    tabulated: share(refineScores(scores, image, opts)),
    exact: share(refineScores(scores, image, opts, { exactRange: true })),
  };
}

Deno.test("buildRefineGraph labels like the reference at 853x479 (a padded 107x60 grid), 8 objects", async () => {
  const { tabulated } = await agreement(853, 479, 107, 60, 8);
  assert.ok(tabulated >= 0.999, `${(100 * tabulated).toFixed(3)}% of pixels alike`);
});

Deno.test("buildRefineGraph labels like the reference at 64x48 (8x6 grid), 2 and 5 objects", async () => {
  for (const objects of [2, 5]) {
    const { tabulated } = await agreement(64, 48, 8, 6, objects);
    assert.ok(tabulated >= 0.999, `${objects} objects: ${(100 * tabulated).toFixed(3)}% of pixels alike`);
  }
});

Deno.test("buildRefineGraph labels like the reference with other radii, sigmas, thresholds, strides and bands", async () => {
  const cases: [number, number, number, number, number, RefineOptions, number?][] = [
    // Radius 1 and 3; a tight range Gaussian; a low threshold.
    [61, 45, 8, 6, 3, { radius: 1, sigmaSpatial: 4, sigmaRange: 5, threshold: 0.3 }],
    [61, 45, 8, 6, 3, { radius: 3, sigmaSpatial: 12, sigmaRange: 40, threshold: 0.6 }],
    // Odd stride 7, and a grid taller than the frame needs (rows 7: wholly past the bottom edge).
    [64, 48, 10, 8, 3, options],
    // Stride 4, and a frame in bands of block rows.
    [90, 70, 23, 18, 4, options, 2000],
    [853, 479, 107, 60, 8, options, 2 ** 20],
  ];
  // A tight range Gaussian (sigma 5) magnifies the reference table's rounding of the squared distance to an
  // integer (weights off by up to 2%), which decides near-ties its own way: compared with exact range weights.
  for (const [width, height, w, h, objects, opts, bands] of cases) {
    const { tabulated, exact } = await agreement(width, height, w, h, objects, opts, bands);
    const what = `${width}x${height}, ${w}x${h}, radius ${opts.radius}`;
    assert.ok(exact >= 0.998, `${what}: ${(100 * exact).toFixed(3)}% of pixels alike`);
    assert.ok(tabulated >= 0.995, `${what}: ${(100 * tabulated).toFixed(3)}% of pixels alike the tabulated reference`);
  }
});

Deno.test("refine: object edges follow the image's edge, not the stride-8 grid", async () => {
  // 32x16 image: dark left of x = 13, bright from x = 13 on. Scores on a 4x2 grid (stride 8) say object 1 in
  // the columns of cells 2 and 3 (x >= 16): the coarse edge is at 16, the image edge at 13.
  const width = 32, height = 16;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 13; x < width; x++) data.fill(220, (y * width + x) * 3, (y * width + x) * 3 + 3);
  }
  const w = 4, h = 2, scores = new Float32Array(2 * w * h);
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const object = i >= 2 ? 1 : 0;
      scores[object * w * h + j * w + i] = 1;
    }
  }
  const tensor: Tensor = { type: "float32", dims: [1, 2, h, w], data: scores };
  const image = { width, height, data };
  // Cell 1 (x 8..15) mixes dark and bright pixels; its mean colour is between. The bright pixels 13-15 side with
  // the bright object cells, the dark ones with the background.
  const want = [...Array(13).fill(0), ...Array(width - 13).fill(1)];
  for (const labels of [refineScores(tensor, image, options), await refineOnnx(tensor, image)]) {
    assert.deepEqual([...labels.subarray(8 * width, 9 * width)], want);
  }
});

Deno.test("refine: a uniform image upsamples constant scores exactly; threshold gives way to background", async () => {
  const image = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(90) };
  const scores = new Float32Array(2 * 4).fill(0);
  scores.fill(0.4, 0, 4); // background 0.4
  scores.fill(0.6, 4, 8); // object 0.6
  const tensor: Tensor = { type: "float32", dims: [1, 2, 2, 2], data: scores };
  const strict = { ...options, threshold: 0.7 };
  assert.ok(refineScores(tensor, image, options).every((v) => v === 1));
  assert.ok(refineScores(tensor, image, strict).every((v) => v === 0));
  assert.ok((await refineOnnx(tensor, image)).every((v) => v === 1));
  assert.ok((await refineOnnx(tensor, image, strict)).every((v) => v === 0));
});

Deno.test("refine: no scores at all is background; scores not [1,O,h,w] are a TypeError", async () => {
  const image = { width: 16, height: 8, data: new Uint8Array(16 * 8 * 3).fill(30) };
  const zeros: Tensor = { type: "float32", dims: [1, 3, 1, 2], data: new Float32Array(6) };
  assert.ok((await refineOnnx(zeros, image)).every((v) => v === 0));
  assert.throws(() => refineShape({ type: "float32", dims: [3, 1, 2], data: new Float32Array(6) }, image), TypeError);
  assert.throws(() => refineShape({ type: "uint8", dims: [1, 3, 1, 2], data: new Uint8Array(6) }, image), TypeError);
});

Deno.test("refine stage runs the graph in the worker pool: labels [1,H,W] as the reference's", async () => {
  const { probe, registry } = testSetup();
  const [width, height, w, h, objects] = [45, 29, 6, 4, 3];
  const seen: { labels: Tensor; want: Uint8Array }[] = [];
  probe.functions.set("prepare", (frame) => {
    frame.image.data.set(structuredImage(width, height, frame.index).data);
    const scores: Tensor = {
      type: "float32",
      dims: [1, objects, h, w],
      data: randomShares(objects, h, w, frame.index + 1),
    };
    frame.slots.set("scores", scores);
    frame.slots.set("want", { labels: refineScores(scores, frame.image, options) });
  });
  probe.functions.set("keep", (frame) => {
    const want = (frame.slots.get("want") as { labels: Uint8Array }).labels;
    seen.push({ labels: frame.slots.get("labels") as Tensor, want });
  });
  const graph = await graphFrom(
    `source: { kind: fake, frames: 3, width: ${width}, height: ${height} }
stages:
  - { id: prepare, kind: call, fn: prepare, out: { value: scores } }
  - { id: refine, kind: refine, in: { scores: scores, image: image }, out: { labels: labels } }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
  );
  await runGraph(graph);
  assert.equal(seen.length, 3);
  for (const { labels, want } of seen) {
    assert.deepEqual(labels.dims, [1, height, width]);
    assert.equal(labels.type, "uint8");
    assert.deepEqual([...labels.data], [...want]);
  }
});
