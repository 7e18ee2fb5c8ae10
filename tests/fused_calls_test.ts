/**
 * Fused worker calls (issue 14 item 3): runs whose outputs all stay in the worker wait for the next runs on their
 * worker and go with them in one call; DFF's non-key frame (flow -> warp -> head -> argmax) is one call and gives
 * the same scores as the stages sent one by one; a fused run's failure names its own stage.
 */
import assert from "node:assert/strict";
import { FusedRunError, ModelPool } from "../engine/model_pool.ts";
import { parseProvider } from "../engine/providers.ts";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { isHandle, type Tensor, type TensorHandle } from "../engine/tensor.ts";
import { modelsRoot, scaleModel, testingSetOverrides, testSetup } from "./_helpers.ts";

const cpu = parseProvider("cpu");

const image = (): Tensor => ({ type: "float32", dims: [1, 2, 3, 4], data: new Float32Array(24).fill(1) });

Deno.test("ModelPool: runs whose outputs stay resident wait and go with the run that needs data, in one call", async () => {
  const pool = await ModelPool.start({ workers: 1, provider: cpu });
  try {
    await pool.load("x2", scaleModel(2));
    await pool.load("x3", scaleModel(3));
    const ran: number[] = [];
    const first = await pool.run("x2", { x: image() }, ["y"], {
      keep: { y: {} },
      fuse: true,
      onRan: (t) => ran.push(t.runMs),
    });
    assert.equal(first.fused, true);
    assert.equal(first.calls, 0, "a waiting run makes no call of its own");
    const pending = first.outputs.y as TensorHandle;
    assert.ok(isHandle(pending) && !pending.ready);
    assert.throws(() => pending.dims, /read before the fused call making it ran/);
    const second = await pool.run("x3", { x: pending }, ["y"], { keep: { y: {} }, fuse: true });
    assert.equal(second.fused, true);
    // A run with a host output sends the batch: the three runs in one call.
    const last = await pool.run("x2", { x: second.outputs.y! }, ["y"], { fuse: true });
    assert.equal(last.fused, undefined);
    assert.equal(last.calls, 1);
    assert.deepEqual([...(last.outputs.y as Tensor).data], new Array(24).fill(12));
    assert.ok(pending.ready, "pending handles get their shape when the call answers");
    assert.deepEqual(pending.dims, [1, 2, 3, 4]);
    assert.equal(ran.length, 1, "the waiting run's timing arrives with the call");
    // Nothing waits when nobody asks: the batch goes at the end of the task.
    const lone = await pool.run("x2", { x: image() }, ["y"], { keep: { y: {} }, fuse: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await pool.drain();
    assert.ok((lone.outputs.y as TensorHandle).ready);
    pool.free([pending, second.outputs.y as TensorHandle, lone.outputs.y as TensorHandle]);
    assert.deepEqual(await pool.resident(), [{ count: 0, bytes: 0 }]);
  } finally {
    await pool.close();
  }
});

Deno.test("ModelPool: a fused run's failure is reported under its own label, by the run that needed it", async () => {
  const pool = await ModelPool.start({ workers: 1, provider: cpu });
  try {
    await pool.load("x2", scaleModel(2));
    const bad: Tensor = { type: "float32", dims: [24], data: new Float32Array(24) };
    const failing = await pool.run("x2", { x: bad }, ["y"], {
      keep: { y: {} },
      fuse: true,
      label: "stage 'flow' failed on frame 3",
    });
    await assert.rejects(
      pool.run("x2", { x: failing.outputs.y! }, ["y"], { fuse: true, label: "stage 'argmax' failed on frame 3" }),
      (error: Error) => error instanceof FusedRunError && /^stage 'flow' failed on frame 3: /.test(error.message),
    );
    // With no run to tell, the failure waits for the end of the stream.
    await pool.run("x2", { x: bad }, ["y"], { keep: { y: {} }, fuse: true, label: "stage 'warp' failed on frame 4" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await pool.drain();
    assert.match(String(pool.fusedFailure?.message), /^stage 'warp' failed on frame 4: /);
  } finally {
    await pool.close();
  }
});

async function dff(overrides: string[]) {
  const { registry } = testSetup();
  const graph = await loadGraph("graphs/dff.yaml", {
    registry,
    modelsRoot,
    modelSet: "testing",
    overrides: [...testingSetOverrides("dff"), "source.width=96", "source.height=72", "source.frames=10", ...overrides],
  });
  graph.sinks.length = 0;
  return graph;
}

Deno.test("DFF: a non-key frame is one worker call, and fused scores equal the unfused stages' to 1e-5", async () => {
  // The head's scores read on the main thread: flow -> warp -> head fused; compared with every run sent alone.
  const scores = async (fuse: boolean) => {
    const out: Float32Array[] = [];
    await runGraph(await dff([]), {
      quiet: true,
      warn: () => {},
      fuse,
      hostSlots: ["scores"],
      onFrame: (frame) => out.push((frame.slots.get("scores") as Tensor).data as Float32Array),
    });
    return out;
  };
  const [fused, unfused] = [await scores(true), await scores(false)];
  assert.equal(fused.length, 10);
  fused.forEach((frame, i) => {
    const other = unfused[i]!;
    assert.equal(frame.length, other.length);
    for (let j = 0; j < frame.length; j++) assert.ok(Math.abs(frame[j]! - other[j]!) <= 1e-5, `frame ${i}`);
  });
  // Calls: one key frame in 10 (decide.every=100): 9 non-key frames of one call each.
  const calls = async (fuse: boolean) =>
    (await runGraph(await dff(["decide.every=100"]), { quiet: true, warn: () => {}, fuse })).threads_traffic;
  const [one, many] = [await calls(true), await calls(false)];
  assert.equal(one.worker_calls, 10, `fused: ${one.worker_calls} calls for 10 frames`);
  assert.ok(many.worker_calls >= 3 * 9 + 1, `unfused: ${many.worker_calls} calls`);
  assert.equal(one.bytes_from_workers, many.bytes_from_workers);
});
