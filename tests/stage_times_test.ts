import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { formatSummary } from "../engine/stats.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

/** Runs graph `text`; the report, its wall time in ms and the stats of stage `stageId`. */
async function runTimed(text: string, stageId: string) {
  const { registry } = testSetup();
  const report = await runGraph(await graphFrom(text, registry));
  const stage = report.stages[stageId];
  assert.ok(stage, `stage '${stageId}' has stats`);
  return { report, wallMs: report.seconds * 1000, stage };
}

Deno.test("stats: a stage's ms_total counts work only; queueing for a busy worker is wait_ms_total", async () => {
  const { report, wallMs, stage: model } = await runTimed(
    `source: { kind: fake, frames: 24 }
stages:
  - { id: model, kind: fake-model, run_ms: 15, concurrency: 4 }
sinks:
  - { kind: slow, delay_ms: 0 }
`,
    "model",
  );
  assert.equal(model.calls, 24);
  // One serial worker: work adds up to the wall time at most (the elapsed sum would be ~4x it); the slack
  // is the stage's own code on the main thread, which runs while the worker does, and timer rounding.
  assert.ok(model.ms_total <= wallMs * 1.02 + 2, `work ${model.ms_total} ms > wall ${wallMs} ms`);
  assert.ok(model.ms_total >= 24 * 15 * 0.9, `work ${model.ms_total} ms counts every run`);
  // Four frames at once on one worker: each waits for the ones ahead of it.
  assert.ok(model.wait_ms_total > model.ms_total, `waits ${model.wait_ms_total} ms`);
  assert.match(formatSummary(report), /^stage +calls +ms\/call +ms total +waited ms$/m);
});

Deno.test("stats: with real models and concurrency 4, segment's work is at most wall time x workers", async () => {
  const { report, wallMs, stage: segment } = await runTimed(
    `model_set: testing
source: { kind: pattern, frames: 24, width: 160, height: 128 }
models: { seg: seg }
execution: { workers: 1, max_in_flight: 8 }
stages:
  - { id: segment, kind: model, model: seg, concurrency: 4, out: { labels: labels } }
sinks:
  - { kind: slow, delay_ms: 0 }
`,
    "segment",
  );
  assert.equal(segment.calls, 24);
  assert.ok(segment.ms_total <= wallMs * report.models.workers, `work ${segment.ms_total} ms > wall ${wallMs} ms`);
  assert.ok(segment.ms_total >= report.models.ms_total * 0.99, "work includes the model time");
  assert.ok(segment.wait_ms_total > 0);
});
