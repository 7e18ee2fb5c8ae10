import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { delay } from "../engine/testing.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

const gc = (globalThis as { gc?: () => void }).gc;

function memory(): number {
  gc?.();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

Deno.test("runGraph: a slow sink bounds the frames in flight and memory stays flat over 1,000 frames", async () => {
  const { probe, registry, dropped } = testSetup();
  const graph = await graphFrom(
    `
name: bounded
source: { kind: fake, frames: 1000, width: 256, height: 256 }
execution: { max_in_flight: 4 }
sinks:
  - { kind: slow, delay_ms: 1 }
`,
    registry,
  );
  const samples: number[] = [];
  const report = await runGraph(graph, {
    onFrame: (_frame, stats) => {
      dropped.count = stats.dropped;
      if (stats.frames === 300 || stats.frames === 1000) samples.push(memory());
    },
  });
  assert.equal(report.frames, 1000);
  assert.equal(report.dropped, 0);
  assert.deepEqual(probe.completed, Array.from({ length: 1000 }, (_, i) => i));
  assert.ok(report.peak_in_flight <= 4, `peak in flight ${report.peak_in_flight}`);
  // One more frame may be decoded and waiting at the gate; never more.
  assert.ok(probe.peakOutstanding <= 5, `outstanding ${probe.peakOutstanding}`);
  // 700 leaked frames of 196 KB would be 137 MB; allow 16 MB of noise (after warm-up).
  const growth = samples[1]! - samples[0]!;
  assert.ok(growth < 16 * 2 ** 20, `memory grew by ${(growth / 2 ** 20).toFixed(1)} MB`);
});

Deno.test("runGraph: frames leave in order from a stage with concurrency 4 and random delays", async () => {
  const { probe, registry } = testSetup();
  let seed = 7;
  probe.functions.set("jitter", async () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    await delay(seed % 7);
  });
  const graph = await graphFrom(
    `
source: { kind: fake, frames: 100 }
execution: { max_in_flight: 8 }
stages:
  - { id: jitter, kind: call, fn: jitter, concurrency: 4 }
sinks:
  - { kind: slow, delay_ms: 0 }
`,
    registry,
  );
  const report = await runGraph(graph);
  assert.deepEqual(probe.completed, Array.from({ length: 100 }, (_, i) => i));
  assert.equal(report.stages.jitter!.calls, 100);
});

for (const policy of ["drop_oldest", "keep_latest"] as const) {
  Deno.test(`runGraph(overflow: ${policy}) drops frames from a fast live source, counts them, keeps order and the last frame`, async () => {
    const { probe, registry } = testSetup();
    const graph = await graphFrom(
      `
source: { kind: fake, frames: 60, interval_ms: 1 }
execution: { max_in_flight: 2, overflow: ${policy} }
sinks:
  - { kind: slow, delay_ms: 15 }
`,
      registry,
    );
    const report = await runGraph(graph);
    assert.ok(report.dropped > 0, "some frames dropped");
    assert.equal(report.frames + report.dropped, 60);
    assert.equal(probe.completed.length, report.frames);
    assert.deepEqual(probe.completed, [...probe.completed].sort((a, b) => a - b));
    assert.equal(probe.completed.at(-1), 59);
  });
}

Deno.test("runGraph(overflow: block) loses nothing from a fast live source", async () => {
  const { probe, registry } = testSetup();
  const graph = await graphFrom(
    `
source: { kind: fake, frames: 30, interval_ms: 1 }
execution: { max_in_flight: 2, overflow: block }
sinks:
  - { kind: slow, delay_ms: 5 }
`,
    registry,
  );
  const report = await runGraph(graph);
  assert.equal(report.dropped, 0);
  assert.equal(probe.completed.length, 30);
});

Deno.test("runGraph(overflow: fail) stops with a clear message when frames arrive too fast", async () => {
  const { registry } = testSetup();
  const graph = await graphFrom(
    `
source: { kind: fake, frames: 30, interval_ms: 1 }
execution: { max_in_flight: 1, overflow: fail }
sinks:
  - { kind: slow, delay_ms: 20 }
`,
    registry,
  );
  await assert.rejects(() => runGraph(graph), /frames arrive faster than the graph processes them/);
});

Deno.test("runGraph: an error thrown in a stage ends the run naming the stage and frame, and releases workers", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("explode", (frame) => {
    if (frame.index === 5) throw new Error("boom");
  });
  const graph = await graphFrom(
    `
model_set: testing
source: { kind: pattern, frames: 50, width: 64, height: 48 }
models: { seg: seg }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
  - { id: explode, kind: call, fn: explode }
sinks:
  - { kind: slow, delay_ms: 0 }
`,
    registry,
  );
  const error = await runGraph(graph).then(() => undefined, (e: Error) => e);
  assert.ok(error, "the run failed");
  assert.match(error.message, /^stage 'explode' failed on frame 5: boom$/);
  const report = (error as Error & { report?: { frames: number } }).report;
  assert.ok(report && report.frames <= 5, "the report covers the frames before the error");
  // Deno's test sanitizers fail this test if a worker or file were left open.
});

Deno.test("runGraph: a source error lets the frames before it finish, then fails naming the frame", async () => {
  const { probe, registry } = testSetup();
  const graph = await graphFrom(
    `
source: { kind: fake, frames: 20, fail_at: 7 }
sinks:
  - { kind: slow, delay_ms: 2 }
`,
    registry,
  );
  await assert.rejects(() => runGraph(graph), /frame 7 is corrupt/);
  assert.deepEqual(probe.completed, [0, 1, 2, 3, 4, 5, 6]);
});

Deno.test("runGraph: aborting stops pulling, finishes frames in flight and reports the interruption", async () => {
  const { probe, registry } = testSetup();
  const graph = await graphFrom(
    `
source: { kind: fake, frames: 1000 }
execution: { max_in_flight: 3 }
sinks:
  - { kind: slow, delay_ms: 2 }
`,
    registry,
  );
  const abort = new AbortController();
  const error = await runGraph(graph, {
    signal: abort.signal,
    onFrame: (_f, stats) => stats.frames === 10 && abort.abort(),
  }).then(() => undefined, (e: Error) => e);
  assert.equal(error?.name, "InterruptedError");
  assert.ok(probe.completed.length >= 10 && probe.completed.length <= 14, `${probe.completed.length} completed`);
  assert.equal(probe.completed.length, probe.pulled);
});

Deno.test("runGraph: 'when' runs a stage only on frames whose boolean slot is true, order kept", async () => {
  const { probe, registry } = testSetup();
  const seen: number[] = [];
  probe.functions.set("mark", (frame) => void frame.slots.set("is_key", frame.index % 3 === 0));
  probe.functions.set("keyed", async (frame) => {
    seen.push(frame.index);
    await delay(3);
  });
  const graph = await graphFrom(
    `
source: { kind: fake, frames: 12 }
stages:
  - { id: mark, kind: call, fn: mark, out: { value: is_key } }
  - { id: keyed, kind: call, fn: keyed, when: is_key }
sinks:
  - { kind: slow, delay_ms: 0 }
`,
    registry,
  );
  await runGraph(graph);
  assert.deepEqual(seen, [0, 3, 6, 9]);
  assert.deepEqual(probe.completed, Array.from({ length: 12 }, (_, i) => i));
});
