/**
 * The `decide` stage: key frames every N frames (`interval`), when labels changed enough since the last key
 * (`adaptive`), and DVSNet's `confidence` policy with a stub decision model (its score is the feature value a
 * test stage writes) and the dynamic target.
 */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { adaptiveFires, confidenceModes, labelChange, nextTarget } from "../stages/decide.ts";
import { collectSlots, graphFrom, testSetup } from "./_helpers.ts";
import { runDecisions } from "./_dvsnet.ts";

Deno.test("decide(interval) marks every 5th frame as key, the stream's first included", async () => {
  const { seen, report } = await collectSlots("  - { id: d, kind: decide, every: 5, out: { key: is_key } }\n", [
    "is_key",
  ]);
  assert.deepEqual(seen.map((s) => s.is_key), [
    true,
    false,
    false,
    false,
    false,
    true,
    false,
    false,
    false,
    false,
    true,
    false,
  ]);
  assert.equal(report.keyframes, 3);
  assert.equal(report.keyframe_ratio, 0.25);
});

Deno.test("decide(interval) with offset fires on the first frame, then at offset + k * every", async () => {
  const { seen } = await collectSlots("  - { id: d, kind: decide, every: 4, offset: 2, out: { key: k } }\n", ["k"], 8);
  assert.deepEqual(seen.map((s) => s.k), [true, false, true, false, false, false, true, false]);
});

Deno.test("labelChange is the fraction of differing labels", () => {
  assert.equal(labelChange(Uint8Array.of(1, 2, 3, 4), Uint8Array.of(1, 2, 0, 0)), 0.5);
  assert.throws(() => labelChange(Uint8Array.of(1), Uint8Array.of(1, 2)), /differ in size/);
});

Deno.test("decide(adaptive) fires when labels changed >= theta since the last fired frame, not the previous frame", async () => {
  const { probe, registry } = testSetup();
  // Each frame's label map: 10 labels, the first `n` are 1. Change vs the last fired map accumulates.
  const ones = [0, 1, 2, 3, 4, 4, 9, 9, 6];
  probe.functions.set("labels", (frame) => {
    const data = Uint8Array.from({ length: 10 }, (_, i) => (i < ones[frame.index]! ? 1 : 0));
    frame.slots.set("labels", { type: "uint8", dims: [1, 1, 10], data } as Tensor);
  });
  const fired: boolean[] = [];
  const changes: number[] = [];
  probe.functions.set("collect", (frame) => {
    fired.push(frame.slots.get("k") as boolean);
    changes.push(frame.slots.get("change") as number);
  });
  const graph = await graphFrom(
    `source: { kind: fake, frames: ${ones.length} }
stages:
  - { id: labels, kind: call, fn: labels, out: { value: labels } }
  - { id: d, kind: decide, policy: adaptive, theta: 0.3, in: { labels: labels }, out: { key: k, change: change } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  await runGraph(graph);
  // Frame 0 fires (first). Frames 1, 2: change 0.1, 0.2 vs frame 0; frame 3: 0.3 -> fires. Frame 4, 5: 0.1;
  // frame 6: 0.6 -> fires; frame 7: 0; frame 8: 0.3 -> fires.
  assert.deepEqual(fired, [true, false, false, true, false, false, true, false, true]);
  assert.deepEqual(changes.map((c) => Math.round(c * 10) / 10), [1, 0.1, 0.2, 0.3, 0.1, 0.1, 0.6, 0, 0.3]);
});

Deno.test("decide(confidence): score < target takes the segmentation path, else flow; the first frame segments", async () => {
  const scores = [99, 90, 70, 85, 40, 95, 79.9, 80];
  const { seen, report } = await runDecisions(scores, "target: 80");
  assert.deepEqual(seen.map((s) => s.key), [true, false, true, false, true, false, true, false]);
  assert.equal(report.counters.segmentation_steps, 4);
  assert.equal(report.counters.flow_steps, 4);
  assert.equal(report.keyframes, null, "confidence decisions are counted as steps, not key frames");
});

Deno.test("decide(confidence): the named modes set the target (fast 50, balanced 80, slow 95)", async () => {
  assert.deepEqual(confidenceModes, { fast: 50, balanced: 80, slow: 95 });
  const scores = [0, 60, 90, 96, 45];
  for (
    const [mode, expected] of Object.entries({
      fast: [true, false, false, false, true],
      balanced: [true, true, false, false, true],
      slow: [true, true, true, false, true],
    })
  ) {
    const { seen } = await runDecisions(scores, `mode: ${mode}`);
    assert.deepEqual(seen.map((s) => s.key), expected, mode);
  }
});

Deno.test("decide(confidence, dynamic): the target falls by 1 per segmentation step and rises by 0.1 per flow step", async () => {
  assert.equal(nextTarget(80, true), 79);
  assert.ok(Math.abs(nextTarget(80, false) - 80.1) < 1e-9);
  // Target starts at 80 (the first frame segments without moving it). Frame 1: 79.5 < 80 -> segment, target 79.
  // Frame 2: 79.5 >= 79 -> flow, 79.1. Frame 3: 79.05 < 79.1 -> segment, 78.1. Frame 4: 78.5 >= 78.1 -> flow, 78.2.
  // Frame 5: 78.15 < 78.2 -> segment, 77.2.
  const { seen } = await runDecisions([0, 79.5, 79.5, 79.05, 78.5, 78.15], "target: 80, dynamic: true");
  assert.deepEqual(seen.map((s) => s.key), [true, true, false, true, false, true]);
  // Without `dynamic` the same scores all stay below 80.
  const fixed = await runDecisions([0, 79.5, 79.5, 79.05, 78.5, 78.15], "target: 80");
  assert.ok(fixed.seen.every((s) => s.key));
});

Deno.test("decide(confidence, max_interval): a region segments at least every N frames however confident", async () => {
  const { seen } = await runDecisions([0, 99, 99, 99, 99, 99, 99, 10, 99], "target: 80, max_interval: 3");
  // Segment at 0; forced at 3 and 6 (3 frames after the last); 7 by score; 8 flows.
  assert.deepEqual(seen.map((s) => s.key), [true, false, false, true, false, false, true, true, false]);
});

Deno.test("decide(confidence) reports the longest run of flow steps since a segmentation", async () => {
  const { report } = await runDecisions([0, 99, 99, 99, 10, 99, 99, 30, 99], "target: 80");
  // Segments at 0, 4, 7: flow runs of 3, 2 and 1 frames.
  assert.equal(report.counters.longest_flow_run, 3);
  const bounded = await runDecisions([0, 99, 99, 99, 99, 99, 99, 99], "target: 80, max_interval: 3");
  assert.equal(bounded.report.counters.longest_flow_run, 2, "max_interval 3: at most 2 flow steps in a row");
});

Deno.test("adaptiveFires: max_rate caps the share of fired frames when every frame changes", () => {
  const run = (changes: number[], maxRate: number, burst: number) => {
    const state: { reference?: Uint8Array; tokens?: number } = {};
    return changes.map((change) => {
      const fires = adaptiveFires(state, change, 0.3, maxRate, burst);
      state.reference = new Uint8Array(1);
      return fires;
    });
  };
  const busy = Array(40).fill(1);
  assert.ok(run(busy, 1, 2).every((f) => f), "no budget: every changed frame fires");
  assert.deepEqual(run(busy.slice(0, 6), 0.5, 1), [true, false, true, false, true, false]);
  const third = run(busy, 1 / 3, 2);
  assert.ok(
    Math.abs(third.filter((f) => f).length / 40 - 1 / 3) <= 2 / 40,
    `share ${third.filter((f) => f).length}/40`,
  );
  // Quiet frames never fire, and save up tokens: after a quiet spell, `burst` frames in a row may fire.
  const quiet = Array(8).fill(0), quietFired = Array(8).fill(false);
  assert.deepEqual(run([1, ...quiet, 1, 1, 1, 1], 0.25, 2), [true, ...quietFired, true, true, false, false]);
});

Deno.test("decide(adaptive, max_rate) in a graph: half the frames at most on a clip that changes every frame", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("labels", (frame) => {
    const data = Uint8Array.from({ length: 10 }, () => frame.index); // every label changes on every frame
    frame.slots.set("labels", { type: "uint8", dims: [1, 1, 10], data } as Tensor);
  });
  const fired: boolean[] = [];
  probe.functions.set("collect", (frame) => void fired.push(frame.slots.get("k") as boolean));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 12 }
stages:
  - { id: labels, kind: call, fn: labels, out: { value: labels } }
  - { id: d, kind: decide, policy: adaptive, theta: 0.3, max_rate: 0.5, burst: 1, in: { labels: labels }, out: { key: k } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  const report = await runGraph(graph);
  assert.deepEqual(fired, Array.from({ length: 12 }, (_, i) => i % 2 === 0));
  assert.equal(report.keyframe_ratio, 0.5);
});
