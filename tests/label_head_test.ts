/**
 * The blockwise label head (`labelHead`) against the full-resize head it replaces (`fullResizeLabelHead`): the same
 * labels on random scores (every block mixed), smooth scores (large uniform regions), constant scores (no block
 * mixed), near-ties and exact ties, 256 classes and real CamVid model scores, at strides 8 and 16 and at the odd
 * sizes the engine pads. Every label must be the same, float ties included.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { extendModel, type GraphExtension } from "../engine/onnx/inspect.ts";
import { padToMultiple } from "../engine/image_tensor.ts";
import type { RgbImage } from "../engine/frame.ts";
import { readRgbImage } from "../datasets/image_files.ts";
import { seededRandom } from "../datasets/pattern.ts";
import {
  fullResizeLabelHead,
  imageSizeTensor,
  labelHead,
  labelHeadGraph,
  labelSizeInput,
} from "../stages/_label_head.ts";
import { modelsRoot } from "./_helpers.ts";
import { sharedData, sharedDataPresent } from "./_cli.ts";

/** A graph of `head` alone over `scores` [N, C, h, w] (opset 13, the lowest of the project's models). */
const headGraph = (head: GraphExtension) => labelHeadGraph(head, { opset: 13 });

/** Runs `model` once on a fresh session and returns its `labels`. */
async function labelsOf(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(model);
  try {
    return (await session.run(feeds, ["labels"])).labels!;
  } finally {
    await session.release();
  }
}

function sizeFeed(height: number, width: number): ort.Tensor {
  return new ort.Tensor("int64", imageSizeTensor(width, height).data as BigInt64Array, [2]);
}

/** Pixels where two label maps differ. */
function differences(a: ort.Tensor, b: ort.Tensor): number {
  assert.deepEqual(a.dims, b.dims);
  const x = a.data as Uint8Array, y = b.data as Uint8Array;
  let count = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) count++;
  return count;
}

/** Asserts that both heads label `scores` alike for an `height` x `width` frame; returns the labels. */
async function assertSameLabels(what: string, scores: ort.Tensor, height: number, width: number): Promise<Uint8Array> {
  const feeds = { scores, [labelSizeInput]: sizeFeed(height, width) };
  const blockwise = await labelsOf(headGraph(labelHead("scores")), feeds);
  const reference = await labelsOf(headGraph(fullResizeLabelHead("scores")), feeds);
  assert.deepEqual(reference.dims, [scores.dims[0], height, width]);
  const differing = differences(blockwise, reference);
  assert.equal(differing, 0, `${what}: ${differing} of ${height * width} labels differ`);
  return reference.data as Uint8Array;
}

/** Scores [1, classes, rows, cols] from `value(class, row, col)`. */
function scoresFrom(
  classes: number,
  rows: number,
  cols: number,
  value: (c: number, i: number, j: number) => number,
): ort.Tensor {
  const data = new Float32Array(classes * rows * cols);
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[(c * rows + i) * cols + j] = value(c, i, j);
  }
  return new ort.Tensor("float32", data, [1, classes, rows, cols]);
}

/** Uniform random scores in [-10, 10): nearly every block is mixed. */
function randomScores(classes: number, rows: number, cols: number, seed: number): ort.Tensor {
  const random = seededRandom(seed);
  return scoresFrom(classes, rows, cols, () => random() * 20 - 10);
}

/** Smooth scores, each class highest near its own seed point: large uniform regions with boundaries between. */
function smoothScores(classes: number, rows: number, cols: number, seed: number): ort.Tensor {
  const random = seededRandom(seed);
  const centres = Array.from({ length: classes }, () => [random() * rows, random() * cols] as const);
  return scoresFrom(classes, rows, cols, (c, i, j) => -Math.hypot(i - centres[c]![0], j - centres[c]![1]) / 3);
}

/** The engine's grid for a frame: ceil(side / stride) cells (the padded input's stride-s output, cropped). */
const gridOf = (height: number, width: number, stride: number) =>
  [Math.ceil(height / stride), Math.ceil(width / stride)] as const;

/** Frame sizes with the model strides that see them: CamVid, the smallest frame, odd padded sizes, full HD. */
const cases: { height: number; width: number; stride: number }[] = [
  { height: 360, width: 480, stride: 8 },
  { height: 360, width: 480, stride: 16 },
  { height: 16, width: 16, stride: 8 },
  { height: 16, width: 16, stride: 16 },
  { height: 17, width: 23, stride: 8 }, // 3x3 cells: strides 6 and 8 as the head derives them
  { height: 239, width: 321, stride: 8 },
  { height: 1080, width: 1920, stride: 8 },
  { height: 1080, width: 1920, stride: 16 },
];

Deno.test("labelHead: the same labels as the full-resize head on random scores (every block mixed)", async () => {
  for (const [n, { height, width, stride }] of cases.entries()) {
    const [rows, cols] = gridOf(height, width, stride);
    await assertSameLabels(
      `random ${height}x${width} stride ${stride}`,
      randomScores(11, rows, cols, n + 1),
      height,
      width,
    );
  }
});

Deno.test("labelHead: the same labels as the full-resize head on smooth scores (large uniform regions)", async () => {
  for (const [n, { height, width, stride }] of cases.entries()) {
    const [rows, cols] = gridOf(height, width, stride);
    await assertSameLabels(
      `smooth ${height}x${width} stride ${stride}`,
      smoothScores(11, rows, cols, n + 1),
      height,
      width,
    );
  }
});

Deno.test("labelHead: one class everywhere (no mixed block) gives that class at every pixel", async () => {
  for (const { height, width, stride } of cases) {
    const [rows, cols] = gridOf(height, width, stride);
    const scores = scoresFrom(5, rows, cols, (c, i, j) => (c === 3 ? 1 : 0) + Math.sin(i + j));
    const labels = await labelsOf(headGraph(labelHead("scores")), {
      scores,
      [labelSizeInput]: sizeFeed(height, width),
    });
    assert.ok((labels.data as Uint8Array).every((v) => v === 3), `${height}x${width} stride ${stride}`);
  }
});

Deno.test("labelHead: 256 classes, one class, strides that differ per axis, grids that are not padded", async () => {
  // 33x47 on 5x6 cells: strides 7 and 8.
  await assertSameLabels("256 classes", randomScores(256, 5, 6, 7), 33, 47);
  await assertSameLabels("one class", randomScores(1, 5, 6, 7), 33, 47);
  // 2x8 on 1x2 cells: strides 2 and 4.
  await assertSameLabels("1x2 cells", randomScores(3, 1, 2, 8), 2, 8);
  // 60x80 cells over 100x130 pixels span the frame exactly: the head resizes every map as before.
  await assertSameLabels("not padded", smoothScores(7, 60, 80, 9), 100, 130);
  // A grid finer than the frame (downsampling) is not padded either.
  await assertSameLabels("finer grid", smoothScores(4, 40, 50, 10), 20, 30);
});

Deno.test("labelHead: near-tied and tied classes come out as Resize + ArgMax has them", async () => {
  // Class 1 wins every cell over class 0 by a relative margin of 2^e, or ties it: every block's corners agree, and
  // below about 2^-21 Resize's rounding makes the two equal at some pixels, where ArgMax picks class 0.
  const { height, width, stride } = cases[0]!;
  const [rows, cols] = gridOf(height, width, stride);
  let tiedPixels = 0;
  for (const magnitude of [1e-3, 10, 1e4]) {
    const random = seededRandom(11);
    const base = Float32Array.from({ length: rows * cols }, () => (random() * 2 - 1) * magnitude);
    for (const exponent of [-Infinity, -24, -23, -22, -21, -20, -19, -18]) {
      const scores = scoresFrom(3, rows, cols, (c, i, j) => {
        const value = base[i * cols + j]!;
        if (c === 2) return value - magnitude;
        return c === 1 ? value : value - Math.abs(value) * 2 ** exponent;
      });
      const labels = await assertSameLabels(`margin 2^${exponent} at ${magnitude}`, scores, height, width);
      if (exponent > -Infinity) tiedPixels += labels.filter((label) => label === 0).length;
    }
  }
  assert.ok(tiedPixels > 0, "Resize's rounding ties some near-tied pixels (else this test tests nothing)");
});

/** A copy of the top-left `width` x `height` of `image`. */
function cropImage(image: RgbImage, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    data.set(image.data.subarray(y * image.width * 3, (y * image.width + width) * 3), y * width * 3);
  }
  return { width, height, data };
}

/** `image` scaled up by whole factors (nearest), to stand in for a full HD frame. */
function scaleUp(image: RgbImage, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (Math.floor(y * image.height / height) * image.width + Math.floor(x * image.width / width)) * 3;
      data.set(image.data.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { width, height, data };
}

/** Asserts that both heads appended to a real model label `image` alike, fed as the engine feeds it (padded). */
async function assertSameModelLabels(what: string, model: string, scores: string, image: RgbImage) {
  const bytes = await Deno.readFile(`${modelsRoot}/camvid/${model}`);
  const padded = padToMultiple(image, 8);
  const feeds = {
    image: new ort.Tensor("uint8", padded.data, [1, padded.height, padded.width, 3]),
    [labelSizeInput]: sizeFeed(image.height, image.width),
  };
  const blockwise = await labelsOf(extendModel(bytes, labelHead(scores)), feeds);
  const reference = await labelsOf(extendModel(bytes, fullResizeLabelHead(scores)), feeds);
  assert.deepEqual(reference.dims, [1, image.height, image.width]);
  const differing = differences(blockwise, reference);
  assert.equal(differing, 0, `${what}: ${differing} of ${image.height * image.width} labels differ`);
}

/** Runs a model once and returns output `name`. */
async function outputOf(model: string, feeds: Record<string, ort.Tensor>, name: string): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(await Deno.readFile(`${modelsRoot}/camvid/${model}`));
  try {
    return (await session.run(feeds, [name]))[name]!;
  } finally {
    await session.release();
  }
}

Deno.test({
  name: "labelHead: the same labels as the full-resize head on CamVid seg scores at stride 8 and 16, any frame size",
  ignore: !sharedDataPresent("camvid/val"),
  async fn() {
    const frame = await readRgbImage(`${sharedData}camvid/val/0016E5_07959.png`);
    const frames: [string, RgbImage][] = [
      ["360x480", frame],
      ["353x479", cropImage(frame, 479, 353)],
      ["17x23", cropImage(frame, 23, 17)],
      ["16x16", cropImage(frame, 16, 16)],
      ["1080x1920", scaleUp(frame, 1920, 1080)],
    ];
    for (const [size, image] of frames) await assertSameModelLabels(`seg ${size}`, "seg.onnx", "scores", image);
    // Stride 16: Clockwork's stage 2 scores, from stage 1's features.
    const image = new ort.Tensor("uint8", frame.data, [1, 360, 480, 3]);
    const feat1 = await outputOf("seg-s1.onnx", { image }, "feat1");
    const score2 = await outputOf("seg-s2.onnx", { feat1 }, "score2");
    assert.deepEqual(score2.dims, [1, 11, 23, 30]);
    await assertSameLabels("seg-s2 stride 16", score2, 360, 480);
  },
});
