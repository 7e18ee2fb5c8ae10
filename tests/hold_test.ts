/** The `hold` stage: a slot's value, or its last value on frames where it has none. */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

Deno.test("hold: frames a guarded stage skips get its last output", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("stamp", (frame) => void frame.slots.set("fresh", frame.index));
  const held: unknown[] = [];
  probe.functions.set("collect", (frame) => void held.push(frame.slots.get("held")));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 7 }
stages:
  - { id: clock, kind: decide, every: 3, out: { key: fire } }
  - { id: stamp, kind: call, fn: stamp, when: fire, out: { value: fresh } }
  - { id: hold, kind: hold, in: { value: fresh }, out: { value: held } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  await runGraph(graph);
  assert.deepEqual(held, [0, 0, 0, 3, 3, 3, 6]);
});

Deno.test("hold keeps a last value per stream: each region holds its own", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("stamp", (frame) => void frame.slots.set("fresh", `${frame.stream}@${frame.index}`));
  const held = new Map<string, unknown[]>();
  probe.functions.set("collect", (frame) => {
    held.set(frame.stream, [...held.get(frame.stream) ?? [], frame.slots.get("held")]);
  });
  const graph = await graphFrom(
    `source: { kind: fake, frames: 5, width: 16, height: 16 }
stages:
  - { id: regions, kind: regions, grid: [2, 2] }
  - { id: clock, kind: decide, every: 2, out: { key: fire } }
  - { id: stamp, kind: call, fn: stamp, when: fire, out: { value: fresh } }
  - { id: hold, kind: hold, in: { value: fresh }, out: { value: held } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  await runGraph(graph);
  assert.deepEqual([...held.keys()].sort(), ["fake#r0", "fake#r1", "fake#r2", "fake#r3"]);
  for (const [stream, values] of held) {
    assert.deepEqual(values, [`${stream}@0`, `${stream}@0`, `${stream}@2`, `${stream}@2`, `${stream}@4`]);
  }
});

Deno.test("hold: a stream whose first frame has no value yet fails, naming the slot and the stream", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("late", (frame) => void (frame.index > 0 && frame.slots.set("fresh", frame.index)));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 3 }
stages:
  - { id: late, kind: call, fn: late, out: { value: fresh } }
  - { id: hold, kind: hold, in: { value: fresh }, out: { value: held } }
`,
    registry,
  );
  await assert.rejects(
    runGraph(graph, { quiet: true }),
    /slot 'fresh' has no value yet in stream 'fake'/,
  );
});
