/** The multi-object tracker: assignment, the box Kalman filter, and ByteTrack-style association. */
import assert from "node:assert/strict";
import { minCostAssignment } from "../stages/_assignment.ts";
import { BoxKalman, boxToMeasurement, measurementToBox } from "../stages/_box_kalman.ts";
import { type Detection, Tracker, type TrackerStep } from "../stages/_tracker.ts";

/** A detection `w` x `h` pixels with its top-left at (x, y). */
function box(x: number, y: number, w: number, h: number, classId = 0, confidence = 0.9): Detection {
  return { x0: x, y0: y, x1: x + w - 1, y1: y + h - 1, classId, confidence };
}

/** Runs `frames` frames of `scene(frame)` through `tracker`, returning each frame's step. */
function run(tracker: Tracker, frames: number, scene: (frame: number) => Detection[]): TrackerStep[] {
  return Array.from({ length: frames }, (_, frame) => tracker.update(scene(frame), frame));
}

/** The id reported for the detection at `index` on a step, if any. */
const idOf = (step: TrackerStep, index: number) => step.tracks.find((t) => t.detection === index)?.id;

/** A deterministic pseudo-random sequence in [0, 1). */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

Deno.test("minCostAssignment finds the optimum where greedy fails", () => {
  assert.deepEqual(minCostAssignment([[1, 2], [2, 10]], 100), {
    matches: [[0, 1], [1, 0]],
    unmatchedRows: [],
    unmatchedCols: [],
  });
  assert.deepEqual(minCostAssignment([[4, 1, 3], [2, 0, 5], [3, 2, 2]], 100).matches, [[0, 1], [1, 0], [2, 2]]);
});

Deno.test("minCostAssignment matches brute force on random rectangular matrices", () => {
  const next = random(7);
  // Every row matched, for rows <= columns.
  const best = (cost: number[][], row: number, used: Set<number>): number => {
    if (row === cost.length) return 0;
    let lowest = Infinity;
    for (let col = 0; col < cost[0]!.length; col++) {
      if (used.has(col)) continue;
      used.add(col);
      lowest = Math.min(lowest, cost[row]![col]! + best(cost, row + 1, used));
      used.delete(col);
    }
    return lowest;
  };
  for (let trial = 0; trial < 200; trial++) {
    const rows = 1 + Math.floor(next() * 5), cols = 1 + Math.floor(next() * 5);
    const cost = Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.round(next() * 20)));
    const { matches, unmatchedRows, unmatchedCols } = minCostAssignment(cost, Infinity);
    const total = matches.reduce((sum, [r, c]) => sum + cost[r]![c]!, 0);
    const optimum = rows <= cols
      ? best(cost, 0, new Set())
      : best(cost[0]!.map((_, c) => cost.map((r) => r[c]!)), 0, new Set());
    assert.equal(total, optimum, JSON.stringify(cost));
    assert.equal(matches.length, Math.min(rows, cols));
    assert.equal(unmatchedRows.length + matches.length, rows);
    assert.equal(unmatchedCols.length + matches.length, cols);
  }
});

Deno.test("minCostAssignment handles more rows or more columns", () => {
  assert.deepEqual(minCostAssignment([[1], [0], [3]], 10), {
    matches: [[1, 0]],
    unmatchedRows: [0, 2],
    unmatchedCols: [],
  });
  assert.deepEqual(minCostAssignment([[5, 1, 3]], 10), { matches: [[0, 1]], unmatchedRows: [], unmatchedCols: [0, 2] });
});

Deno.test("minCostAssignment never matches a pair above maxCost, nor lets one distort the others", () => {
  assert.deepEqual(minCostAssignment([[0.1, 0.9], [0.2, 0.95]], 0.5), {
    matches: [[0, 0]],
    unmatchedRows: [1],
    unmatchedCols: [1],
  });
  // Forbidden 0.9 must not push row 0 onto column 1: the allowed pairs alone decide.
  assert.deepEqual(minCostAssignment([[0.3, 0.9], [0.2, 0.4]], 0.5).matches, [[0, 0], [1, 1]]);
  // Infinity and NaN are forbidden too.
  assert.deepEqual(minCostAssignment([[Infinity, NaN]], 1), { matches: [], unmatchedRows: [0], unmatchedCols: [0, 1] });
});

Deno.test("minCostAssignment accepts empty matrices and rejects ragged ones", () => {
  assert.deepEqual(minCostAssignment([], 1), { matches: [], unmatchedRows: [], unmatchedCols: [] });
  assert.deepEqual(minCostAssignment([[], []], 1), { matches: [], unmatchedRows: [0, 1], unmatchedCols: [] });
  assert.throws(() => minCostAssignment([[1, 2], [3]], 1), TypeError);
});

Deno.test("boxToMeasurement and measurementToBox use inclusive bounds and invert each other", () => {
  assert.deepEqual(boxToMeasurement({ x0: 10, y0: 0, x1: 19, y1: 4 }), [14.5, 2, 10, 5]);
  assert.deepEqual(measurementToBox([14.5, 2, 10, 5]), { x0: 10, y0: 0, x1: 19, y1: 4 });
});

Deno.test("BoxKalman predicts a box at constant velocity within a pixel, and its velocity converges", () => {
  const at = (t: number) => [100 + 3 * t, 200 - 1.5 * t, 20, 40] as const;
  const filter = new BoxKalman(at(0));
  const velocityErrors: number[] = [];
  for (let t = 1; t <= 20; t++) {
    filter.predict();
    const [cx, cy, w, h] = filter.measurement;
    const [tx, ty] = at(t);
    if (t > 5) {
      assert.ok(Math.hypot(cx - tx, cy - ty) < 1, `frame ${t}: predicted (${cx}, ${cy}), truth (${tx}, ${ty})`);
    }
    assert.ok(Math.abs(w - 20) < 1e-9 && Math.abs(h - 40) < 1e-9);
    filter.update(at(t));
    velocityErrors.push(Math.hypot(filter.velocity.x - 3, filter.velocity.y + 1.5));
  }
  assert.ok(velocityErrors.every((error, t) => t === 0 || error < velocityErrors[t - 1]!), "velocity error shrinks");
  assert.ok(velocityErrors.at(-1)! < 0.06, JSON.stringify(filter.velocity));
  assert.ok(filter.gatingDistance(at(21)) < 9.4877);
  assert.ok(filter.gatingDistance([at(21)[0] + 20, at(21)[1], 20, 40]) > 9.4877);
});

Deno.test("BoxKalman keeps width and height at least one pixel while coasting on a shrinking box", () => {
  const filter = new BoxKalman([50, 50, 40, 40]);
  for (let t = 1; t <= 6; t++) {
    filter.predict();
    filter.update([50, 50, 40 - 6 * t, 40 - 6 * t]);
  }
  for (let t = 0; t < 20; t++) filter.predict(2);
  const [, , w, h] = filter.measurement;
  assert.ok(w >= 1 && h >= 1);
  assert.throws(() => filter.predict(0), RangeError);
});

Deno.test("Tracker keeps ids of two crossing objects through overlap and full occlusion", () => {
  const jitter = random(3);
  const noisy = (d: Detection) => {
    const [dx, dy] = [Math.round(jitter() * 2 - 1), Math.round(jitter() * 2 - 1)];
    return { ...d, x0: d.x0 + dx, x1: d.x1 + dx, y0: d.y0 + dy, y1: d.y1 + dy };
  };
  // A moves right on rows 100..160, B left on rows 130..190: they overlap around frame 25; B hides 22..26.
  const truth: string[][] = [];
  const steps = run(new Tracker({}), 50, (frame) => {
    const seen: Detection[] = [noisy(box(6 * frame, 100, 30, 61))];
    truth[frame] = ["A"];
    if (frame < 22 || frame > 26) (seen.push(noisy(box(300 - 6 * frame, 130, 30, 61))), truth[frame]!.push("B"));
    return seen;
  });
  const last = new Map<string, number>();
  let switches = 0;
  steps.forEach((step, frame) => {
    truth[frame]!.forEach((who, index) => {
      const id = idOf(step, index);
      assert.notEqual(id, undefined, `${who} untracked on frame ${frame}`);
      if (last.has(who) && last.get(who) !== id) switches++;
      last.set(who, id!);
    });
  });
  assert.equal(switches, 0);
  assert.deepEqual([...last.values()].sort(), [1, 2]);
});

Deno.test("Tracker keeps the id of a detection that flickers out for a few frames, and reports it coasting", () => {
  const missing = (frame: number) => frame >= 10 && frame < 15;
  const steps = run(new Tracker({ reportLost: true }), 25, (f) => missing(f) ? [] : [box(5 * f, 50, 20, 40)]);
  for (const [frame, step] of steps.entries()) {
    assert.equal(step.tracks.length, 1);
    assert.equal(step.tracks[0]!.id, 1);
    assert.equal(step.tracks[0]!.detection, missing(frame) ? null : 0);
    assert.deepEqual(step.ended, []);
  }
  assert.equal(steps[24]!.tracks[0]!.hits, 20);
  assert.equal(steps[24]!.tracks[0]!.age, 24);
});

Deno.test("Tracker re-acquires a fast object after an occlusion longer than its width, by its velocity's reach", () => {
  // 10 px/frame, 20 px wide, hidden for 8 frames: the prediction lags the truth, the reach covers the lag.
  const hidden = (frame: number) => frame >= 6 && frame < 14;
  const steps = run(new Tracker({}), 25, (frame) => hidden(frame) ? [] : [box(10 * frame, 0, 20, 40)]);
  assert.deepEqual(steps.map((step) => step.tracks.map((t) => t.id)), steps.map((_, f) => hidden(f) ? [] : [1]));
});

Deno.test("Tracker ends a track unmatched for more than maxAge frames, with its first and last frames", () => {
  const tracker = new Tracker({ maxAge: 5 });
  const steps = run(tracker, 30, (frame) => frame >= 4 && frame < 10 ? [box(10, 10, 20, 20)] : []);
  const endedOn = steps.flatMap((step, frame) => step.ended.map((end) => ({ frame, end })));
  assert.deepEqual(endedOn, [{ frame: 15, end: { id: 1, classId: 0, firstFrame: 4, lastFrame: 9, hits: 6 } }]);
  assert.equal(tracker.liveTracks, 0);
  assert.deepEqual(tracker.finish(), []);
});

Deno.test("Tracker reports a new track only after minHits frames, except in the stream's first frames", () => {
  const steps = run(new Tracker({}), 15, (frame) => [
    box(0, 0, 20, 20), // there from the first frame: reported at once
    ...(frame === 5 ? [box(100, 0, 20, 20)] : []), // one-frame false positive: never an id
    ...(frame >= 8 ? [box(200, 0, 20, 20)] : []), // arrives later: tentative for two frames
  ]);
  assert.equal(idOf(steps[0]!, 0), 1);
  assert.equal(idOf(steps[5]!, 1), undefined);
  assert.equal(idOf(steps[8]!, 1), undefined);
  assert.equal(idOf(steps[9]!, 1), undefined);
  const confirmed = steps[10]!.tracks.find((t) => t.detection === 1)!;
  assert.deepEqual([confirmed.id, confirmed.hits, confirmed.firstFrame], [2, 3, 8]);
});

Deno.test("Tracker never gives one class's id to another class", () => {
  const steps = run(new Tracker({ reportLost: true }), 12, (frame) => [box(50, 50, 30, 60, frame < 6 ? 0 : 1)]);
  assert.deepEqual(steps[5]!.tracks.map((t) => [t.id, t.classId]), [[1, 0]]);
  assert.deepEqual(steps[6]!.tracks.map((t) => [t.id, t.classId, t.detection]), [[1, 0, null]]);
  assert.deepEqual(steps[8]!.tracks.map((t) => [t.id, t.classId, t.detection]), [[1, 0, null], [2, 1, 0]]);
});

Deno.test("Tracker extends a track with low-confidence detections but never starts one from them", () => {
  const tracker = new Tracker({});
  const steps = run(tracker, 20, (frame) => [
    box(4 * frame, 0, 20, 40, 0, frame < 5 ? 0.9 : 0.3), // fades to low confidence: keeps id 1
    box(300, 0, 20, 40, 0, 0.3), // low from the start: never a track
    box(400, 0, 20, 40, 0, 0.55), // high but below newTrackConfidence: never a track
    box(500, 0, 20, 40, 0, 0.05), // below lowConfidence: ignored
  ]);
  for (const step of steps) assert.deepEqual(step.tracks.map((t) => [t.id, t.detection]), [[1, 0]]);
  assert.equal(tracker.liveTracks, 1);
});

Deno.test("Tracker ids are dense over confirmed tracks", () => {
  const tracker = new Tracker({ maxAge: 2 });
  const ids = new Set<number>();
  run(tracker, 200, (frame) => {
    const lane = Math.floor(frame / 20); // a new object every 20 frames, plus a one-frame ghost every 7
    return [box(50 * (lane % 10), 0, 20, 20), ...(frame % 7 === 3 ? [box(50 * (lane % 10), 300, 20, 20)] : [])];
  }).forEach((step) => step.tracks.forEach((t) => ids.add(t.id)));
  assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: ids.size }, (_, i) => i + 1));
  assert.equal(ids.size, 10);
});

Deno.test("Tracker predicts across skipped frame numbers", () => {
  const tracker = new Tracker({ minHits: 1 });
  const frames = [0, 1, 2, 3, 4, 12, 13];
  const steps = frames.map((frame) => tracker.update([box(8 * frame, 0, 16, 16)], frame));
  assert.deepEqual(steps.map((s) => s.tracks.map((t) => t.id)), frames.map(() => [1]));
  assert.throws(() => tracker.update([], 13), RangeError);
});

Deno.test("Tracker ends tracks before matching when the frame numbers jump past maxAge", () => {
  const tracker = new Tracker({ minHits: 1, maxAge: 10 });
  for (let frame = 0; frame < 5; frame++) tracker.update([box(50, 50, 20, 20)], frame);
  const jumped = tracker.update([box(50, 50, 20, 20)], 100); // same place, 95 frames on: a new object
  assert.deepEqual(jumped.ended.map((e) => [e.id, e.lastFrame]), [[1, 4]]);
  assert.deepEqual(jumped.tracks.map((t) => [t.id, t.firstFrame]), [[2, 100]]);
  const withinAge = tracker.update([box(50, 50, 20, 20)], 110); // 9 frames missed: still track 2
  assert.deepEqual(withinAge.tracks.map((t) => t.id), [2]);
});

Deno.test("Tracker's reach follows the velocity: a detection where a fast track was last seen is not it", () => {
  // 10 px/frame, hidden for 8 frames; a different object shows up where the track was when it vanished.
  const steps = run(new Tracker({}), 15, (frame) =>
    frame < 6 ? [box(10 * frame, 0, 20, 40)] : frame < 14 ? [] : [
      box(50, 0, 20, 40),
    ]);
  assert.deepEqual(steps[5]!.tracks.map((t) => t.id), [1]);
  assert.equal(idOf(steps[14]!, 0), undefined, "the object behind the prediction starts its own (tentative) track");
});

Deno.test("Tracker.finish ends the sequence: the next update may start again from any frame number", () => {
  const tracker = new Tracker({ minHits: 1 });
  for (let frame = 0; frame < 5; frame++) tracker.update([box(0, 0, 10, 10)], frame);
  assert.deepEqual(tracker.finish().map((e) => e.id), [1]);
  const again = tracker.update([box(0, 0, 10, 10)], 0);
  assert.deepEqual(again.tracks.map((t) => t.id), [2], "ids keep counting");
});

Deno.test("Tracker memory stays bounded: 10,000 frames of objects that live 5 frames", () => {
  const tracker = new Tracker({ trail: 4 });
  let most = 0, ended = 0, longestTrail = 0;
  for (let frame = 0; frame < 10_000; frame++) {
    const alive = [0, 1, 2, 3, 4].map((k) => frame - k).filter((born) => born >= 0);
    const step = tracker.update(alive.map((born) => box(40 * (born % 60), 0, 20, 20)), frame);
    most = Math.max(most, tracker.liveTracks);
    ended += step.ended.length;
    for (const t of step.tracks) longestTrail = Math.max(longestTrail, t.trail.length);
  }
  assert.ok(most <= 5 + 30 + 1, `at most ${most} live tracks`);
  assert.equal(longestTrail, 4);
  assert.ok(ended > 9_000, `${ended} tracks ended`);
});
