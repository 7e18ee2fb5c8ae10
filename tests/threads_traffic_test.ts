/**
 * The stats count what crosses between the main thread and the model workers: worker calls and bytes each way
 * per frame (issue 14 measures its gains with them).
 */
import assert from "node:assert/strict";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { modelsRoot, testSetup } from "./_helpers.ts";

Deno.test("stats threads_traffic: per-frame makes one worker call a frame, the frame in and the labels out", async () => {
  const { registry } = testSetup();
  const graph = await loadGraph("graphs/per-frame.yaml", {
    registry,
    modelsRoot,
    modelSet: "testing",
    overrides: ["source.width=64", "source.height=48", "source.frames=4"],
  });
  graph.sinks.length = 0;
  const report = await runGraph(graph, { quiet: true, warn: () => {} });
  const traffic = report.threads_traffic;
  assert.equal(traffic.worker_calls, 4);
  assert.equal(traffic.worker_calls_per_frame, 1);
  // In: the RGB frame and the label head's int64 [H, W]; out: uint8 labels.
  assert.equal(traffic.bytes_to_workers, 4 * (64 * 48 * 3 + 16));
  assert.equal(traffic.bytes_from_workers, 4 * 64 * 48);
  assert.equal(traffic.mb_from_workers_per_frame, Math.round(((64 * 48) / 2 ** 20) * 1000) / 1000);
});
