import assert from "node:assert/strict";
import { FlowGate, type OverflowPolicy } from "../engine/flow_gate.ts";

function gate(policy: OverflowPolicy, maxInFlight = 2, queueSize?: number) {
  const admitted: number[] = [];
  const dropped: number[] = [];
  const g = new FlowGate<number>({
    maxInFlight,
    policy,
    ...(queueSize ? { queueSize } : {}),
    admit: (n) => admitted.push(n),
    onDrop: (n) => dropped.push(n),
  });
  return { g, admitted, dropped };
}

Deno.test("FlowGate(block) makes the source wait for a credit and loses nothing", async () => {
  const { g, admitted } = gate("block", 2);
  await g.offer(0);
  await g.offer(1);
  let thirdDone = false;
  const third = g.offer(2).then(() => (thirdDone = true));
  await Promise.resolve();
  assert.equal(thirdDone, false);
  assert.deepEqual(admitted, [0, 1]);
  g.release();
  await third;
  assert.deepEqual(admitted, [0, 1, 2]);
  assert.equal(g.inFlight, 2);
  assert.equal(g.dropped, 0);
  assert.equal(g.peakInFlight, 2);
});

Deno.test("FlowGate(drop_oldest) keeps the newest waiting frames and drops the oldest", async () => {
  const { g, admitted, dropped } = gate("drop_oldest", 1, 2);
  for (let i = 0; i < 5; i++) await g.offer(i);
  assert.deepEqual(admitted, [0]);
  assert.deepEqual(dropped, [1, 2]);
  g.release();
  g.release();
  assert.deepEqual(admitted, [0, 3, 4]);
  assert.equal(g.dropped, 2);
});

Deno.test("FlowGate(keep_latest) holds one waiting frame, replaced by each newer one", async () => {
  const { g, admitted, dropped } = gate("keep_latest", 1);
  for (let i = 0; i < 4; i++) await g.offer(i);
  assert.deepEqual(dropped, [1, 2]);
  g.release();
  assert.deepEqual(admitted, [0, 3]);
});

Deno.test("FlowGate(fail) rejects a frame when no credit is free", async () => {
  const { g } = gate("fail", 1);
  await g.offer(0);
  await assert.rejects(() => g.offer(1), /overflow policy 'fail'/);
});

Deno.test("FlowGate.drain waits for waiting frames; close rejects a blocked offer", async () => {
  const { g, admitted } = gate("drop_oldest", 1, 4);
  await g.offer(0);
  await g.offer(1);
  let drained = false;
  const done = g.drain().then(() => (drained = true));
  await Promise.resolve();
  assert.equal(drained, false);
  g.release();
  await done;
  assert.deepEqual(admitted, [0, 1]);

  const blocking = gate("block", 1);
  await blocking.g.offer(0);
  const pending = blocking.g.offer(1);
  blocking.g.close(new Error("stopped"));
  await assert.rejects(pending, /stopped/);
});

Deno.test("FlowGate rejects a non-positive max_in_flight", () => {
  assert.throws(() => gate("block", 0), /'max_in_flight' must be a positive integer, got 0/);
});
