/**
 * Every method graph in graphs/ runs end to end on the `testing` model set (tiny random-weight cuts with the
 * trained sets' names and shapes) over a small synthetic clip: the wiring of DFF, Accel and the three
 * Clockwork schedules is checked on any machine, without trained models.
 */
import assert from "node:assert/strict";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { writeSyntheticDataset } from "../datasets/synthetic/write.ts";
import type { Tensor } from "../engine/tensor.ts";
import { modelsRoot, segmentationGraphs, testingSetOverrides, testSetup } from "./_helpers.ts";

const clipDir = await Deno.makeTempDir();
await writeSyntheticDataset(clipDir, { width: 128, height: 96, frames: 8, fps: 15, seed: 5 }, 1);

async function runMethod(graph: string, overrides: string[] = [], input = clipDir) {
  const { registry } = testSetup();
  overrides = [...testingSetOverrides(graph), ...overrides];
  const labels: Tensor[] = [];
  const graphFile = graph.startsWith("/") ? `${graph}.yaml` : `graphs/${graph}.yaml`;
  const loaded = await loadGraph(graphFile, {
    registry,
    modelsRoot,
    modelSet: "testing",
    input,
    overrides,
  });
  // Keep the outputs in memory instead of the graph's PNG sink (read in onFrame: slots stay where the graph
  // puts them; labels are host tensors).
  loaded.sinks.length = 0;
  const report = await runGraph(loaded, {
    onFrame: (frame) => void labels.push(frame.slots.get("labels") as Tensor),
    hostSlots: ["labels"],
  });
  return { report, labels };
}

for (const graph of segmentationGraphs) {
  Deno.test(`graphs/${graph}.yaml runs end to end on the testing cuts`, async () => {
    const { report, labels } = await runMethod(graph);
    assert.equal(report.frames, 8);
    assert.equal(labels.length, 8);
    for (const l of labels) assert.deepEqual(l.dims, [1, 96, 128]);
    if (graph.startsWith("dff") || graph === "accel") assert.equal(report.keyframes, 2); // frames 0 and 5
    if (graph === "clockwork") assert.equal(report.keyframes, 4); // S3 every 2nd frame
    if (graph.startsWith("clockwork-adaptive")) assert.ok(report.keyframes! >= 1 && report.keyframes! <= 8);
    if (graph === "dvsnet") {
      // 4 regions x 8 frames, each a segmentation or a flow step; each region's first frame segments.
      const { segmentation_steps: seg = 0, flow_steps: flow = 0 } = report.counters;
      assert.equal(seg + flow, 32);
      assert.ok(seg >= 4);
      for (const r of [0, 1, 2, 3]) assert.ok(report.counters[`segmentation_steps.r${r}`]! >= 1);
    }
    assert.ok(report.metrics.miou !== undefined, "scored against the clip's labels");
  });
}

Deno.test("graphs/clockwork-adaptive-deep.yaml: S2 and S3 fire together; firing on every frame is Clockwork at every frame", async () => {
  const never = await runMethod("clockwork-adaptive-deep", ["clock23.theta=1"]);
  assert.equal(never.report.keyframes, 1); // the first frame only (no frame changes every label)
  assert.equal(never.report.stages.s2!.calls, 1);
  assert.equal(never.report.stages.s3!.calls, 1);
  const always = await runMethod("clockwork-adaptive-deep", ["clock23.theta=0", "clock23.max_rate=1"]);
  assert.equal(always.report.keyframes, 8);
  const everyFrame = await runMethod("clockwork", ["clock3.every=1"]);
  for (const [i, labels] of always.labels.entries()) assert.deepEqual(labels.data, everyFrame.labels[i]!.data);
});

Deno.test("graphs/clockwork-adaptive-deep.yaml: its budget (max_rate 0.5) holds when every frame fires the clock", async () => {
  const capped = await runMethod("clockwork-adaptive-deep", ["clock23.theta=0"]);
  assert.ok(capped.report.keyframes! <= 5, `${capped.report.keyframes} of 8 frames fired`);
  assert.ok(capped.report.keyframes! >= 4);
});

Deno.test("graphs/dff.yaml: --set decide.every=1 makes every frame a key frame", async () => {
  const { report } = await runMethod("dff", ["decide.every=1"]);
  assert.equal(report.keyframes, 8);
  assert.equal(report.stages.warp!.calls, 8);
});

Deno.test("graphs/dff.yaml warps the scores: the labels of warping the features and then running the head", async () => {
  const scores = await runMethod("dff");
  const features = await runMethod("dff-features", ["warp.border=clamp"]);
  assert.equal(scores.report.stages.head, undefined);
  assert.equal(scores.labels.length, 8);
  assert.deepEqual(scores.labels.map((l) => [...l.data]), features.labels.map((l) => [...l.data]));
});

Deno.test("graphs/dff-features.yaml: the task head is its own stage on the warped map; labels as on the main thread", async () => {
  const resident = await runMethod("dff-features");
  const host = await runMethod("dff-features", ["execution.resident_tensors=false"]);
  assert.equal(resident.report.frames, 8);
  assert.ok(resident.report.stages.head!.calls === 8, "the head runs on every frame, key frames too");
  assert.deepEqual(resident.labels.map((l) => [...l.data]), host.labels.map((l) => [...l.data]));
  // The labels DFF gave with the head chained after warp in the worker (`warp.head`, before this change) are
  // checked against recorded hashes in tests/resident_test.ts.
  assert.ok(resident.report.threads_traffic.bytes_to_workers < host.report.threads_traffic.bytes_to_workers / 2);
});

// The clip's DAVIS-layout sequence (object masks) for video object segmentation.
const sequenceDir = `${clipDir}/JPEGImages/480p/${[...Deno.readDirSync(`${clipDir}/JPEGImages/480p`)][0]!.name}`;

for (const graph of ["pml-vos", "tools/vos-copy-first", "tools/vos-flow-warp"]) {
  Deno.test(`graphs/${graph}.yaml runs end to end on the testing cuts and scores DAVIS J&F`, async () => {
    const { report, labels } = await runMethod(graph, [], sequenceDir);
    assert.equal(report.frames, 8);
    for (const l of labels) assert.deepEqual(l.dims, [1, 96, 128]);
    const jf = report.metrics.jf as number;
    assert.ok(jf >= 0 && jf <= 1, `J&F ${jf}`);
  });
}

Deno.test("graphs/clockwork-pipelined.yaml with one frame in flight: a stream's first run serves two frames", async () => {
  // Frame 0 uses its own S2/S3 runs and leaves before frame 1 takes them as its lagged inputs: each frame must
  // hold the resident outputs it uses (regression: 'resident tensor 3 was already freed').
  const { report, labels } = await runMethod("clockwork-pipelined", ["execution.max_in_flight=1"]);
  assert.equal(report.frames, 8);
  assert.equal(labels.length, 8);
});

Deno.test({
  name: "method graphs test clip cleanup",
  sanitizeResources: false,
  async fn() {
    await Deno.remove(clipDir, { recursive: true });
  },
});
