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
import { modelsRoot, testSetup } from "./_helpers.ts";

const clipDir = await Deno.makeTempDir();
await writeSyntheticDataset(clipDir, { width: 128, height: 96, frames: 8, fps: 15, seed: 5 }, 1);

async function runMethod(graph: string, overrides: string[] = [], input = clipDir) {
  const { probe, registry } = testSetup();
  const labels: Tensor[] = [];
  const graphFile = graph.startsWith("/") ? `${graph}.yaml` : `graphs/${graph}.yaml`;
  const loaded = await loadGraph(graphFile, {
    registry,
    modelsRoot,
    modelSet: "testing",
    input,
    overrides,
  });
  // Keep the outputs in memory instead of the graph's PNG sink.
  loaded.sinks.length = 0;
  probe.functions.set("keep", (frame) => void labels.push(frame.slots.get("labels") as Tensor));
  const keep = registry.stages.get("call")!;
  loaded.sinks.push({
    id: "keep",
    kind: "call",
    role: "sink",
    definition: keep,
    params: { fn: "keep", concurrency: 1 },
    inputs: {},
    outputs: {},
  });
  const report = await runGraph(loaded);
  return { report, labels };
}

for (
  const graph of ["per-frame", "dff", "accel", "clockwork", "clockwork-adaptive", "clockwork-pipelined", "dvsnet"]
) {
  Deno.test(`graphs/${graph}.yaml runs end to end on the testing cuts`, async () => {
    const { report, labels } = await runMethod(graph);
    assert.equal(report.frames, 8);
    assert.equal(labels.length, 8);
    for (const l of labels) assert.deepEqual(l.dims, [1, 96, 128]);
    if (graph === "dff" || graph === "accel") assert.equal(report.keyframes, 2); // frames 0 and 5
    if (graph === "clockwork") assert.equal(report.keyframes, 4); // S3 every 2nd frame
    if (graph === "clockwork-adaptive") assert.ok(report.keyframes! >= 1 && report.keyframes! <= 8);
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

Deno.test("graphs/dff.yaml: --set decide.every=1 makes every frame a key frame", async () => {
  const { report } = await runMethod("dff", ["decide.every=1"]);
  assert.equal(report.keyframes, 8);
  assert.equal(report.stages.warp!.calls, 8);
});

Deno.test("graphs/dff.yaml: the head chained after warp in the worker gives the labels of warp, then head", async () => {
  const chained = await runMethod("dff");
  const text = (await Deno.readTextFile("graphs/dff.yaml"))
    .replace(/ {4}head: head .*\n/, "")
    .replace("out: { scores: scores }", "out: { warped: warped }")
    .replace(
      "  - id: argmax",
      "  - { id: head_run, kind: segment, model: head, in: { features: warped }, out: { scores: scores } }\n  - id: argmax",
    );
  const separate = `${clipDir}/dff-separate.yaml`;
  await Deno.writeTextFile(separate, text);
  const { report, labels } = await runMethod(separate.replace(/\.yaml$/, ""));
  assert.equal(report.frames, 8);
  assert.deepEqual(labels.map((l) => [...l.data]), chained.labels.map((l) => [...l.data]));
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

Deno.test({
  name: "method graphs test clip cleanup",
  sanitizeResources: false,
  async fn() {
    await Deno.remove(clipDir, { recursive: true });
  },
});
