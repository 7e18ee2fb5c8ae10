import assert from "node:assert/strict";
import {
  boundaryF,
  boundaryTolerance,
  ConfusionMatrix,
  DavisScorer,
  endPointError,
  EndPointErrorAccumulator,
  jaccard,
  objectIds,
  seg2bmap,
  sequenceStats,
} from "../eval/metrics/mod.ts";

function close(actual: number | null, expected: number, message?: string): void {
  assert.ok(actual !== null, message ?? `expected ${expected}, got null`);
  assert.ok(Math.abs(actual - expected) < 1e-12, message ?? `expected ${expected}, got ${actual}`);
}

/** A `height x width` mask from rows of "0"/"1" characters. */
function grid(...rows: string[]): { mask: Uint8Array; width: number; height: number } {
  const width = rows[0]!.length;
  const mask = new Uint8Array(rows.join("").split("").map(Number));
  return { mask, width, height: rows.length };
}

/** A mask with a filled rectangle: rows `top..bottom`, columns `left..right`, inclusive. */
function rect(width: number, height: number, top: number, left: number, bottom: number, right: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = top; y <= bottom; y++) mask.fill(1, y * width + left, y * width + right + 1);
  return mask;
}

/** Literal port of the official numpy `_seg2bmap`, array by array, as an independent reference. */
function referenceSeg2bmap(seg: Uint8Array, w: number, h: number): Uint8Array {
  const at = (a: Uint8Array, y: number, x: number) => a[y * w + x]!;
  const bin = seg.map((v) => (v ? 1 : 0));
  const e = new Uint8Array(w * h);
  const s = new Uint8Array(w * h);
  const se = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w - 1; x++) e[y * w + x] = at(bin, y, x + 1);
  for (let y = 0; y < h - 1; y++) for (let x = 0; x < w; x++) s[y * w + x] = at(bin, y + 1, x);
  for (let y = 0; y < h - 1; y++) for (let x = 0; x < w - 1; x++) se[y * w + x] = at(bin, y + 1, x + 1);
  const b = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) b[i] = (bin[i]! ^ e[i]!) | (bin[i]! ^ s[i]!) | (bin[i]! ^ se[i]!);
  for (let x = 0; x < w; x++) b[(h - 1) * w + x] = at(bin, h - 1, x) ^ at(e, h - 1, x);
  for (let y = 0; y < h; y++) b[y * w + w - 1] = at(bin, y, w - 1) ^ at(s, y, w - 1);
  b[h * w - 1] = 0;
  return b;
}

/** Naive disk stamping (cv2.dilate with skimage disk(r)), as an independent reference. */
function referenceDilate(b: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!b[y * w + x]) continue;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (dy * dy + dx * dx <= r * r && yy >= 0 && yy < h && xx >= 0 && xx < w) out[yy * w + xx] = 1;
        }
      }
    }
  }
  return out;
}

/** The official `f_measure`, written naively. */
function referenceF(mask: Uint8Array, truth: Uint8Array, w: number, h: number, r: number): number[] {
  const fg = referenceSeg2bmap(mask, w, h);
  const gt = referenceSeg2bmap(truth, w, h);
  const fgDil = referenceDilate(fg, w, h, r);
  const gtDil = referenceDilate(gt, w, h, r);
  let nFg = 0, nGt = 0, fgMatch = 0, gtMatch = 0;
  for (let i = 0; i < w * h; i++) {
    nFg += fg[i]!;
    nGt += gt[i]!;
    fgMatch += fg[i]! & gtDil[i]!;
    gtMatch += gt[i]! & fgDil[i]!;
  }
  let p: number, rc: number;
  if (nFg === 0 && nGt > 0) [p, rc] = [1, 0];
  else if (nFg > 0 && nGt === 0) [p, rc] = [0, 1];
  else if (nFg === 0 && nGt === 0) [p, rc] = [1, 1];
  else [p, rc] = [fgMatch / nFg, gtMatch / nGt];
  return [p, rc, p + rc === 0 ? 0 : (2 * p * rc) / (p + rc)];
}

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

// ---------------------------------------------------------------------------------------------------------
// ConfusionMatrix

/** Two frames of a 3-class problem with ignore 255; see the hand computation in the first test. */
function twoFrames(): { a: [Uint8Array, Uint8Array]; b: [Uint8Array, Uint8Array] } {
  return {
    // prediction, truth
    a: [new Uint8Array([0, 1, 1, 1, 0, 2]), new Uint8Array([0, 0, 1, 1, 2, 255])],
    b: [new Uint8Array([0, 2, 2, 1]), new Uint8Array([0, 2, 2, 2])],
  };
}

Deno.test("ConfusionMatrix accumulates one matrix over all frames and drops ignore pixels", () => {
  const { a, b } = twoFrames();
  const matrix = new ConfusionMatrix(3, 255);
  matrix.add(...a);
  matrix.add(...b);
  // truth rows: t0 = {p0: 2, p1: 1}, t1 = {p1: 2}, t2 = {p0: 1, p1: 1, p2: 2}; the 255 pixel is gone.
  assert.equal(matrix.total, 9);
  assert.equal(matrix.count(0, 0), 2);
  assert.equal(matrix.count(0, 1), 1);
  assert.equal(matrix.count(1, 1), 2);
  assert.equal(matrix.count(2, 0), 1);
  assert.equal(matrix.count(2, 1), 1);
  assert.equal(matrix.count(2, 2), 2);
  // IoU_c = TP / (row + column - TP): 2/(3+3-2), 2/(2+4-2), 2/(4+2-2)
  assert.deepEqual(matrix.iou(), [0.5, 0.5, 0.5]);
  assert.equal(matrix.meanIoU(), 0.5);
  close(matrix.pixelAccuracy(), 6 / 9);
  close(matrix.meanClassAccuracy(), (2 / 3 + 2 / 2 + 2 / 4) / 3);
});

Deno.test("ConfusionMatrix.meanIoU differs from the mean of per-frame mIoUs", () => {
  const { a, b } = twoFrames();
  const frameA = new ConfusionMatrix(3, 255);
  frameA.add(...a);
  const frameB = new ConfusionMatrix(3, 255);
  frameB.add(...b);
  // Frame a: IoUs 1/3, 2/3, 0 -> 1/3. Frame b: IoUs 1, 0, 2/3 -> 5/9. Their mean is 4/9, not 1/2.
  close(frameA.meanIoU(), 1 / 3);
  close(frameB.meanIoU(), 5 / 9);
  const perFrame = (frameA.meanIoU()! + frameB.meanIoU()!) / 2;
  close(perFrame, 4 / 9);
  assert.equal(frameA.merge(frameB).meanIoU(), 0.5);
});

Deno.test("ConfusionMatrix.meanIoU skips classes absent from truth and prediction", () => {
  const matrix = new ConfusionMatrix(4);
  matrix.add(new Uint8Array([0, 1, 1, 2]), new Uint8Array([0, 1, 0, 0]));
  // t0 = {p0: 1, p1: 1, p2: 1}, t1 = {p1: 1}; class 2 only predicted (IoU 0), class 3 nowhere (null).
  const iou = matrix.iou();
  close(iou[0]!, 1 / 3);
  close(iou[1]!, 1 / 2);
  assert.equal(iou[2], 0);
  assert.equal(iou[3], null);
  close(matrix.meanIoU(), (1 / 3 + 1 / 2 + 0) / 3);
  close(matrix.meanClassAccuracy(), (1 / 3 + 1) / 2);
});

Deno.test("ConfusionMatrix.add counts a prediction >= classes as a false negative of the truth class", () => {
  const matrix = new ConfusionMatrix(2);
  matrix.add(new Uint8Array([0, 9, 1]), new Uint8Array([0, 0, 1]));
  assert.equal(matrix.count(0, 2), 1);
  assert.deepEqual(matrix.iou(), [0.5, 1]);
  close(matrix.pixelAccuracy(), 2 / 3);
});

Deno.test("ConfusionMatrix.add rejects an out-of-range truth label, naming it, and counts nothing", () => {
  const matrix = new ConfusionMatrix(3, 255);
  assert.throws(() => matrix.add(new Uint8Array([0, 0]), new Uint8Array([1, 7])), (error: Error) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /Truth label 7/);
    return true;
  });
  assert.equal(matrix.total, 0);
  assert.throws(() => matrix.add(new Uint8Array(2), new Uint8Array(3)), TypeError);
  assert.throws(() => new ConfusionMatrix(0), RangeError);
  assert.throws(() => new ConfusionMatrix(3, 300), RangeError);
});

Deno.test("ConfusionMatrix.add treats every label as valid truth when no ignore label is given", () => {
  const matrix = new ConfusionMatrix(2);
  assert.throws(() => matrix.add(new Uint8Array([0]), new Uint8Array([255])), /Truth label 255/);
});

Deno.test("ConfusionMatrix with no pixels reports null scores", () => {
  const matrix = new ConfusionMatrix(2, 255);
  matrix.add(new Uint8Array([0, 1]), new Uint8Array([255, 255]));
  assert.equal(matrix.total, 0);
  assert.deepEqual(matrix.iou(), [null, null]);
  assert.equal(matrix.meanIoU(), null);
  assert.equal(matrix.pixelAccuracy(), null);
  assert.equal(matrix.meanClassAccuracy(), null);
});

Deno.test("ConfusionMatrix.merge adds counts and refuses a different shape", () => {
  const { a, b } = twoFrames();
  const left = new ConfusionMatrix(3, 255);
  left.add(...a);
  const right = new ConfusionMatrix(3, 255);
  right.add(...b);
  const both = new ConfusionMatrix(3, 255);
  both.add(...a);
  both.add(...b);
  assert.deepEqual(left.merge(right).toJSON(), both.toJSON());
  assert.throws(() => left.merge(new ConfusionMatrix(3)), RangeError);
  assert.throws(() => left.merge(new ConfusionMatrix(4, 255)), RangeError);
});

Deno.test("ConfusionMatrix.summary keys per-class IoU by name and serialises undefined classes as null", () => {
  const matrix = new ConfusionMatrix(3, 11);
  matrix.add(new Uint8Array([0, 1, 1, 0]), new Uint8Array([0, 1, 11, 1]));
  // t0 = {p0: 1}, t1 = {p1: 1, p0: 1}: IoU 1/2, 1/2, null
  assert.deepEqual(matrix.summary(["road", "car", "sky"]), {
    miou: 0.5,
    pixel_acc: 2 / 3,
    mean_class_acc: 0.75,
    per_class_iou: { road: 0.5, car: 0.5, sky: null },
  });
  assert.deepEqual(Object.keys(matrix.toJSON().per_class_iou), ["0", "1", "2"]);
  assert.match(JSON.stringify(matrix), /"2":null/);
  assert.throws(() => matrix.summary(["road"]), RangeError);
});

// ---------------------------------------------------------------------------------------------------------
// DAVIS J and F

Deno.test("jaccard is |M n G| / |M u G| with any non-zero byte as foreground", () => {
  close(jaccard(new Uint8Array([1, 1, 0, 0]), new Uint8Array([0, 255, 3, 0])), 1 / 3);
  assert.equal(jaccard(new Uint8Array([1, 0]), new Uint8Array([1, 0])), 1);
});

Deno.test("jaccard is 1 when both masks are empty and 0 when only one is", () => {
  assert.equal(jaccard(new Uint8Array(4), new Uint8Array(4)), 1);
  assert.equal(jaccard(new Uint8Array([0, 1]), new Uint8Array(2)), 0);
  assert.equal(jaccard(new Uint8Array(2), new Uint8Array([0, 1])), 0);
  assert.throws(() => jaccard(new Uint8Array(2), new Uint8Array(3)), TypeError);
});

Deno.test("seg2bmap marks a square's edge half a pixel towards the origin", () => {
  const { mask, width, height } = grid(
    "000000",
    "000000",
    "001100",
    "001100",
    "000000",
    "000000",
  );
  // Pixels differing from their east, south or south-east neighbour: the ring one up and left of the square.
  const expected = grid(
    "000000",
    "011100",
    "010100",
    "011100",
    "000000",
    "000000",
  );
  assert.deepEqual(seg2bmap(mask, width, height), expected.mask);
});

Deno.test("seg2bmap uses the official padding on the last row and column", () => {
  // Last row compares east only, last column south only, bottom-right is always 0.
  const corner = grid("0000", "0000", "0000", "0001");
  assert.deepEqual(seg2bmap(corner.mask, 4, 4), grid("0000", "0000", "0011", "0010").mask);
  const bottom = grid("0000", "0000", "0110");
  assert.deepEqual(seg2bmap(bottom.mask, 4, 3), grid("0000", "1110", "1010").mask);
  // A full frame has no boundary at all.
  assert.deepEqual(seg2bmap(new Uint8Array(12).fill(1), 4, 3), new Uint8Array(12));
  assert.throws(() => seg2bmap(new Uint8Array(5), 4, 3), RangeError);
});

Deno.test("seg2bmap matches a literal port of the numpy code on random masks", () => {
  const random = lcg(7);
  for (const [w, h] of [[1, 1], [1, 5], [5, 1], [7, 4], [13, 9]] as const) {
    for (let trial = 0; trial < 20; trial++) {
      const mask = new Uint8Array(w * h).map(() => (random() < 0.5 ? 1 : 0));
      assert.deepEqual(seg2bmap(mask, w, h), referenceSeg2bmap(mask, w, h));
    }
  }
});

Deno.test("boundaryTolerance is 8 px at 854x480 and takes boundTh >= 1 as pixels", () => {
  assert.equal(boundaryTolerance(854, 480), 8); // ceil(0.008 * 979.65)
  assert.equal(boundaryTolerance(480, 360), 5); // ceil(0.008 * 600)
  assert.equal(boundaryTolerance(854, 480, 3), 3);
  assert.equal(boundaryTolerance(854, 480, 1), 1);
  assert.throws(() => boundaryTolerance(854, 480, 1.5), RangeError);
  assert.throws(() => boundaryTolerance(854, 480, 0), RangeError);
});

Deno.test("boundaryF on a square shifted by 2 px with a 1 px tolerance: P = R = 10/16", () => {
  // Both boundaries are 5x5 rings of 16 pixels, columns 1..5 (truth) and 3..7 (prediction). Within the
  // radius-1 disk (4-neighbourhood): predicted top/bottom columns 3..6 (8) and the left ring pixels next to
  // truth's top and bottom rows (2) match; symmetrically for recall.
  const truth = rect(10, 10, 2, 2, 5, 5);
  const mask = rect(10, 10, 2, 4, 5, 7);
  const score = boundaryF(mask, truth, 10, 10, 1);
  assert.deepEqual(score, { precision: 10 / 16, recall: 10 / 16, f: 10 / 16 });
});

Deno.test("boundaryF on a square inside another: the disk of radius 1 excludes diagonals, radius 2 includes them", () => {
  // Truth ring: rows/cols 1..5 (16 px). Prediction ring: rows/cols 2..4 (8 px), all next to the truth ring.
  // Truth's four corners are diagonal to the prediction ring's corners: unmatched at r = 1, matched at r = 2.
  const truth = rect(10, 10, 2, 2, 5, 5);
  const mask = rect(10, 10, 3, 3, 4, 4);
  const r1 = boundaryF(mask, truth, 10, 10, 1);
  assert.equal(r1.precision, 1);
  assert.equal(r1.recall, 12 / 16);
  close(r1.f, 6 / 7);
  assert.deepEqual(boundaryF(mask, truth, 10, 10, 2), { precision: 1, recall: 1, f: 1 });
});

Deno.test("boundaryF at 854x480 matches boundaries 8 px apart but not 9 px apart", () => {
  const truth = rect(854, 480, 100, 100, 199, 199);
  assert.equal(boundaryF(rect(854, 480, 100, 108, 199, 207), truth, 854, 480).f, 1);
  // Shifted 9 px: each 400-px ring loses one side (99 px), 83 px of the other side and 2 corners.
  const shifted = boundaryF(rect(854, 480, 100, 109, 199, 208), truth, 854, 480);
  close(shifted.precision, 216 / 400);
  close(shifted.recall, 216 / 400);
  close(shifted.f, 216 / 400);
});

Deno.test("boundaryF edge cases: both empty 1, one empty 0 with the official P and R", () => {
  const empty = new Uint8Array(16);
  const square = rect(4, 4, 1, 1, 2, 2);
  assert.deepEqual(boundaryF(empty, empty, 4, 4), { precision: 1, recall: 1, f: 1 });
  assert.deepEqual(boundaryF(empty, square, 4, 4), { precision: 1, recall: 0, f: 0 });
  assert.deepEqual(boundaryF(square, empty, 4, 4), { precision: 0, recall: 1, f: 0 });
  // Full-frame masks have no boundary either, so they count as "both empty".
  const full = new Uint8Array(16).fill(1);
  assert.deepEqual(boundaryF(full, full, 4, 4), { precision: 1, recall: 1, f: 1 });
  assert.throws(() => boundaryF(square, new Uint8Array(15), 4, 4), RangeError);
});

Deno.test("boundaryF matches naive disk dilation of the official algorithm on random masks", () => {
  const random = lcg(42);
  for (const [w, h, r] of [[9, 7, 1], [16, 12, 2], [23, 17, 3], [30, 20, 5], [12, 40, 8]] as const) {
    for (let trial = 0; trial < 8; trial++) {
      // Blobby masks: random rectangles, plus salt noise, so boundaries are both long and scattered.
      const make = () => {
        const m = new Uint8Array(w * h);
        for (let k = 0; k < 3; k++) {
          const y0 = Math.floor(random() * h), x0 = Math.floor(random() * w);
          const y1 = Math.min(h - 1, y0 + Math.floor(random() * h / 2));
          const x1 = Math.min(w - 1, x0 + Math.floor(random() * w / 2));
          m.set(rect(w, h, y0, x0, y1, x1).map((v, i) => v | m[i]!));
        }
        for (let i = 0; i < m.length; i++) if (random() < 0.03) m[i] = 1;
        return m;
      };
      const mask = make();
      const truth = make();
      const { precision, recall, f } = boundaryF(mask, truth, w, h, r);
      assert.deepEqual([precision, recall, f], referenceF(mask, truth, w, h, r));
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// DAVIS sequence statistics and scorer

Deno.test("sequenceStats mean and recall exclude the first and last frames", () => {
  const stats = sequenceStats([0, 1, 1, 0.25, 0]);
  close(stats.mean, 0.75);
  close(stats.recall, 2 / 3);
});

Deno.test("sequenceStats decay uses the official overlapping quartile bins on a 10-frame list", () => {
  // Kept: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2] (n = 8). ids = round(linspace(1, 8, 5) + 1e-10) - 1
  // = round([1, 2.75, 4.5, 6.25, 8]) - 1 = [0, 2, 4, 5, 7]. Bin 0 = X[0:3] = [0.9, 0.8, 0.7] (mean 0.8),
  // bin 3 = X[5:8] = [0.4, 0.3, 0.2] (mean 0.3): decay 0.5 (equal quarters would give 0.85 - 0.25 = 0.6).
  const stats = sequenceStats([0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.0]);
  close(stats.mean, 4.4 / 8);
  close(stats.recall, 4 / 8); // 0.5 itself is not > 0.5
  close(stats.decay, 0.5);
});

Deno.test("sequenceStats with fewer than 3 frames is NaN, with 3 it is the middle frame", () => {
  for (const values of [[], [0.7], [0.7, 0.9]]) {
    const stats = sequenceStats(values);
    assert.ok(Number.isNaN(stats.mean) && Number.isNaN(stats.recall) && Number.isNaN(stats.decay));
  }
  assert.deepEqual(sequenceStats([0, 0.75, 0]), { mean: 0.75, recall: 1, decay: 0 });
  // n = 2 kept: ids [0, 0, 1, 1, 1], bins [X0], [X0, X1], [X1], [X1]
  close(sequenceStats([0, 0.9, 0.4, 0]).decay, 0.5);
});

Deno.test("sequenceStats skips NaN values in the mean, as np.nanmean", () => {
  const stats = sequenceStats([0, 1, NaN, 0.5, 0]);
  close(stats.mean, 0.75);
  close(stats.recall, 1 / 3);
});

Deno.test("sequenceStats does not copy the official uint8 bin-index wrap: long sequences get a real decay", () => {
  // The official code would wrap ids [0, 75, 150, 224, 299] to [..., 43] for 300 kept frames (decay NaN).
  const values = [0.5, ...Array.from({ length: 300 }, (_, i) => (i < 150 ? 1 : 0)), 0.5];
  const long = sequenceStats(values);
  close(long.mean, 0.5);
  close(long.decay, 1);
});

Deno.test("objectIds lists the non-zero ids except void 255", () => {
  assert.deepEqual(objectIds(new Uint8Array([0, 3, 1, 255, 3])), [1, 3]);
  assert.deepEqual(objectIds(new Uint8Array([0, 0])), []);
  assert.deepEqual(objectIds(new Uint8Array([0, 255]), 254), [255]);
});

/** 4x4 label maps: object 1 the top-left 2x2 block, object 2 the bottom-right 2x2 block. */
function twoObjects(keep: readonly number[]): Uint8Array {
  const labels = new Uint8Array(16);
  if (keep.includes(1)) { for (const i of [0, 1, 4, 5]) labels[i] = 1; }
  if (keep.includes(2)) { for (const i of [10, 11, 14, 15]) labels[i] = 2; }
  return labels;
}

Deno.test("DavisScorer.addLabels scores each object and drops first and last frames", () => {
  const scorer = new DavisScorer();
  const truth = twoObjects([1, 2]);
  const garbage = new Uint8Array(16).fill(2);
  // Frames 0 and 3 are wrong but excluded; frame 2 misses object 2 (J = 0, F = 0 with P = 1, R = 0).
  for (const prediction of [garbage, twoObjects([1, 2]), twoObjects([1]), garbage]) {
    scorer.addLabels("a", prediction, truth, 4, 4);
  }
  assert.deepEqual(scorer.frames("a", 2)?.j.slice(1, 3), [1, 0]);
  assert.deepEqual(scorer.frames("a", 2)?.f.slice(1, 3), [1, 0]);
  const summary = scorer.summary();
  assert.deepEqual(summary.sequences["a"]!.objects["1"], {
    J: { mean: 1, recall: 1, decay: 0 },
    F: { mean: 1, recall: 1, decay: 0 },
  });
  assert.deepEqual(summary.sequences["a"]!.objects["2"]!.J, { mean: 0.5, recall: 0.5, decay: 1 });
  assert.equal(summary.sequences["a"]!.J.mean, 0.75);
  assert.equal(summary["J&F"], 0.75);
});

Deno.test("DavisScorer.summary averages over (sequence, object) entries, not over sequences", () => {
  const scorer = new DavisScorer();
  const truth = twoObjects([1, 2]);
  for (const prediction of [truth, twoObjects([1]), truth]) scorer.addLabels("two-objects", prediction, truth, 4, 4);
  const single = rect(4, 4, 1, 1, 2, 2);
  for (let frame = 0; frame < 3; frame++) scorer.add("one-object", 1, single, single, 4, 4);
  const summary = scorer.summary();
  // Entries: 1 and 0 (two-objects), 1 (one-object): 2/3. Per-sequence means 0.5 and 1 would give 0.75.
  close(summary.J.mean, 2 / 3);
  close(summary.F.mean, 2 / 3);
  close(summary["J&F"], 2 / 3);
  assert.equal(summary.sequences["two-objects"]!.J.mean, 0.5);
  assert.equal(summary.sequences["one-object"]!.J.mean, 1);
});

Deno.test("DavisScorer.addLabels: objects 1..max of the first frame, later ones from their frame, truth 255 as background", () => {
  const scorer = new DavisScorer();
  const first = new Uint8Array([0, 3, 255, 0]);
  scorer.addLabels("s", new Uint8Array([0, 3, 0, 0]), first, 2, 2);
  // Object 4 enters on the second frame: scored from there on; objects 1, 2, 3 stay.
  scorer.addLabels("s", new Uint8Array([0, 3, 0, 0]), new Uint8Array([4, 3, 0, 0]), 2, 2);
  assert.deepEqual(scorer.frames("s", 1)?.j, [1, 1]); // absent from both: J = 1
  assert.deepEqual(scorer.frames("s", 3)?.j, [1, 1]); // the 255 pixel is not part of object 3
  assert.deepEqual(scorer.frames("s", 4)?.j, [0]); // missed on the frame it entered
  assert.deepEqual(Object.keys(scorer.summary().sequences["s"]!.objects), ["1", "2", "3", "4"]);
  const chosen = new DavisScorer();
  chosen.addLabels("s", first, first, 2, 2, [3]);
  assert.equal(chosen.frames("s", 1), undefined);
});

// ---------------------------------------------------------------------------------------------------------
// Flow EPE

/** 2x2 truth: (0,0), (3,4), unknown (1e10, 0), (0,0). */
const flowTruth = new Float32Array([0, 0, 3, 4, 1e10, 0, 0, 0]);
/** Errors against flowTruth: 5, 0, skipped, 2. */
const flowPrediction = new Float32Array([3, 4, 3, 4, 0, 0, 0, -2]);

Deno.test("endPointError averages the vector distance over pixels with known truth", () => {
  const result = endPointError(flowPrediction, flowTruth, 2, 2);
  close(result.epe, 7 / 3);
  assert.equal(result.count, 3);
});

Deno.test("endPointError skips pixels outside the valid mask, with unknown or NaN truth", () => {
  assert.deepEqual(endPointError(flowPrediction, flowTruth, 2, 2, new Uint8Array([0, 1, 1, 1])), { epe: 1, count: 2 });
  const odd = new Float32Array([0, -2e9, NaN, 0, 1e9, 0, 0, 0]);
  // -2e9 and NaN are unknown; 1e9 itself is still a value.
  const result = endPointError(new Float32Array(8), odd, 2, 2);
  assert.equal(result.count, 2);
  close(result.epe, 1e9 / 2);
  assert.deepEqual(endPointError(new Float32Array(2), new Float32Array([1e10, 0]), 1, 1), { epe: null, count: 0 });
});

Deno.test("endPointError rejects arrays that do not match the frame size", () => {
  assert.throws(() => endPointError(new Float32Array(6), flowTruth, 2, 2), RangeError);
  assert.throws(() => endPointError(flowPrediction, flowTruth, 2, 2, new Uint8Array(3)), RangeError);
});

Deno.test("EndPointErrorAccumulator weights frames by their valid pixels", () => {
  const pooled = new EndPointErrorAccumulator();
  assert.equal(pooled.epe, null);
  pooled.add(flowPrediction, flowTruth, 2, 2); // sum 7 over 3 pixels
  const single = pooled.add(new Float32Array([1, 0]), new Float32Array([0, 0]), 1, 1); // 1 over 1 pixel
  assert.deepEqual(single, { epe: 1, count: 1 });
  assert.equal(pooled.epe, 2); // 8 / 4; the mean of frame means would be (7/3 + 1) / 2
  assert.deepEqual(pooled.toJSON(), { epe: 2, pixels: 4, frames: 2 });
});

Deno.test("DavisScorer.summary leaves an object with no scored frame (entered on the last frame) out of the means", () => {
  const scorer = new DavisScorer();
  const one = new Uint8Array([1, 0, 0, 0]);
  for (let t = 0; t < 3; t++) scorer.addLabels("s", one, one, 2, 2);
  scorer.addLabels("s", one, new Uint8Array([1, 2, 0, 0]), 2, 2); // object 2 enters on the last frame
  const summary = scorer.summary();
  assert.ok(Number.isNaN(summary.sequences["s"]!.objects["2"]!.J.mean));
  assert.equal(summary.J.mean, 1);
  assert.equal(summary["J&F"], 1);
});
