/**
 * `withoutUnreadStages`: a stage whose outputs nothing reads is dropped (transitively); stages without outputs,
 * stages read by a sink, a guard or the caller stay.
 */
import assert from "node:assert/strict";
import { loadGraph } from "../engine/graph.ts";
import { withoutUnreadStages } from "../engine/prune.ts";
import { runGraph } from "../engine/run.ts";
import { graphFrom, modelsRoot, testingGraphHead, testSetup } from "./_helpers.ts";

const ids = (nodes: { id: string }[]) => nodes.map((n) => n.id);

Deno.test("DVSNet without its overlay sink drops the boxes and tracks only the sink reads", async () => {
  const { registry } = testSetup();
  const graph = await loadGraph("graphs/dvsnet.yaml", { registry, modelsRoot, modelSet: "testing" });
  const kept = ids(withoutUnreadStages(graph.stages, graph.sinks));
  assert.ok(kept.includes("boxes") && kept.includes("track"));
  const pruned = ids(withoutUnreadStages(graph.stages, []));
  assert.ok(!pruned.includes("boxes") && !pruned.includes("track"), "the track stage goes, and the boxes it read");
  // The evaluate stage has no outputs and stays, and with it the argmax whose labels it reads.
  assert.deepEqual(pruned, ids(graph.stages).filter((id) => id !== "boxes" && id !== "track"));
});

Deno.test("a chain nothing reads goes as a whole; slots the caller reads keep their writers", async () => {
  const { registry } = testSetup();
  const graph = await graphFrom(
    testingGraphHead + `models: { seg: seg }
stages:
  - { id: segment, kind: model, model: seg, out: { scores: scores } }
  - { id: argmax, kind: argmax, in: { scores: scores }, out: { labels: labels } }
`,
    registry,
  );
  assert.deepEqual(ids(withoutUnreadStages(graph.stages, [])), []);
  assert.deepEqual(ids(withoutUnreadStages(graph.stages, [], ["labels"])), ["segment", "argmax"]);
  assert.deepEqual(ids(withoutUnreadStages(graph.stages, [], ["scores"])), ["segment"]);
  // The pruned graph still runs, and the caller's slot is there on every frame.
  graph.stages = withoutUnreadStages(graph.stages, [], ["scores"]);
  let seen = 0;
  const report = await runGraph(graph, {
    hostSlots: ["scores"],
    onFrame: (frame) => void (seen += frame.slots.has("scores") ? 1 : 0),
  });
  assert.equal(report.frames, 2);
  assert.equal(seen, 2);
});

Deno.test("a guard slot counts as read", async () => {
  const { registry } = testSetup();
  const graph = await graphFrom(
    testingGraphHead + `models: { seg: seg }
stages:
  - { id: clock, kind: decide, every: 2, out: { key: fire } }
  - { id: segment, kind: model, model: seg, when: fire, out: { scores: scores } }
`,
    registry,
  );
  assert.deepEqual(ids(withoutUnreadStages(graph.stages, [], ["scores"])), ["clock", "segment"]);
});
