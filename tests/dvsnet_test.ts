/**
 * DVSNet's decision logic: the `confidence` policy of `decide` with a stub decision model (its score is the
 * feature value a test stage writes), the dynamic target, and the flow stage's `reference: decided`, which reads
 * decide's decisions through a feedback edge.
 */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { buildModel, int64Tensor, node } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";
import { confidenceModes, nextTarget } from "../stages/decide.ts";
import { graphFrom, testSetup, writeDifferenceFlowModel } from "./_helpers.ts";

/** A decision model that returns its single input value as the score. */
async function writeStubDecision(dir: string) {
  await Deno.writeFile(
    `${dir}/decision.onnx`,
    buildModel({
      inputs: [{ name: "features", type: "float32", shape: [1, 1, 1, 1] }],
      outputs: [{ name: "score", type: "float32", shape: [1, 1] }],
      initializers: [int64Tensor("shape", [2], [1, 1])],
      nodes: [node("Reshape", ["features", "shape"], ["score"])],
    }),
  );
  await Deno.writeTextFile(
    `${dir}/decision.yaml`,
    "name: decision\ntask: decision\nfile: decision.onnx\n" +
      "inputs:\n  - { name: features, dtype: float32, layout: NCHW, shape: [1, 1, 1, 1] }\n" +
      "outputs:\n  - { name: score, dtype: float32, shape: [1, 1] }\n",
  );
}

/**
 * Runs [flow (reference: decided) ->] features from `scores` -> decide(confidence) on a fake clip of 8x8
 * frames (pixel value = frame index); returns per-frame decisions, flows and the report.
 */
async function runDecisions(scores: number[], decideParams: string, withFlow = false) {
  const dir = await Deno.makeTempDir();
  try {
    await writeStubDecision(dir);
    if (withFlow) await writeDifferenceFlowModel(dir);
    const { probe, registry } = testSetup();
    const seen: { key: boolean; flow?: number }[] = [];
    probe.functions.set("features", (frame) => {
      frame.slots.set("features", {
        type: "float32",
        dims: [1, 1, 1, 1],
        data: new Float32Array([scores[frame.index]!]),
      });
    });
    probe.functions.set("keep", (frame) => {
      const flow = frame.slots.get("flow") as Tensor | undefined;
      seen.push({ key: frame.slots.get("key") as boolean, ...(flow ? { flow: flow.data[0] as number } : {}) });
    });
    const flowStage = withFlow
      ? "  - { id: flow, kind: flow, model: flow, reference: decided, in: { decided: decided }, out: { flow: flow } }\n"
      : "";
    const decided = withFlow ? ", decided: decided" : "";
    const graph = await graphFrom(
      `source: { kind: fake, frames: ${scores.length}, width: 8, height: 8 }
models: { decision: ${dir}/decision.yaml${withFlow ? `, flow: ${dir}/flow.yaml` : ""} }
stages:
${flowStage}  - { id: features, kind: call, fn: features, out: { value: features } }
  - { id: decide, kind: decide, policy: confidence, model: decision, ${decideParams}, in: { features: features }, out: { key: key${decided} } }
  - { id: keep, kind: call, fn: keep }
`,
      registry,
    );
    const report = await runGraph(graph);
    return { seen, report };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

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

Deno.test("flow(reference: decided): the next frame's flow runs against the key the decide stage picked", async () => {
  // Pixel value = frame index, so the difference flow is (t - key). Decisions: segment at 0, 2 and 5.
  const scores = [0, 90, 10, 90, 90, 10, 90];
  const { seen } = await runDecisions(scores, "target: 50", true);
  assert.deepEqual(seen.map((s) => s.key), [true, false, true, false, false, true, false]);
  // Frame 0 runs against itself; then each frame against the latest key before it.
  assert.deepEqual(seen.map((s) => s.flow), [0, 1, 2, 1, 2, 3, 1]);
});

Deno.test("decide(confidence, max_interval): a region segments at least every N frames however confident", async () => {
  const { seen } = await runDecisions([0, 99, 99, 99, 99, 99, 99, 10, 99], "target: 80, max_interval: 3");
  // Segment at 0; forced at 3 and 6 (3 frames after the last); 7 by score; 8 flows.
  assert.deepEqual(seen.map((s) => s.key), [true, false, false, true, false, false, true, true, false]);
});
