/**
 * bench/clock_theta.ts replays the adaptive clock on recorded labels: its firing share must be what the graph's
 * `decide` stage fires at the same theta.
 */
import assert from "node:assert/strict";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { writeSyntheticDataset } from "../datasets/synthetic/write.ts";
import { argmaxClasses, firingShare, thetaFor } from "../bench/clock_theta.ts";
import { modelsRoot, testSetup } from "./_helpers.ts";

Deno.test("firingShare: the first frame of each stream fires; change is measured against the last firing", () => {
  const a = Uint8Array.of(0, 0, 0, 0), b = Uint8Array.of(1, 0, 0, 0), c = Uint8Array.of(1, 1, 0, 0);
  // theta 0.5: a fires, b (0.25 from a) does not, c (0.5 from a) fires.
  assert.equal(firingShare([[a, b, c]], 0.5), 2 / 3);
  assert.equal(firingShare([[a, b, c], [c]], 0.5), 3 / 4);
  assert.equal(firingShare([[a, b, c]], 0.25), 1);
  assert.equal(thetaFor([[a, b, c]], 1, [0.25, 0.5]), 0.25);
  assert.deepEqual([...argmaxClasses({ type: "float32", dims: [1, 2, 1, 2], data: Float32Array.of(0, 5, 1, 2) })], [
    1,
    0,
  ]);
});

Deno.test("the replay fires on the frames the graph's clock fires on", async () => {
  const clip = await Deno.makeTempDir();
  try {
    await writeSyntheticDataset(clip, { width: 128, height: 96, frames: 12, fps: 15, seed: 3 }, 2);
    const { registry } = testSetup();
    const run = async (theta: number) => {
      const graph = await loadGraph("graphs/clockwork-adaptive.yaml", {
        registry,
        modelsRoot,
        modelSet: "synthetic",
        input: clip,
        overrides: [`clock3.theta=${theta}`, "clock3.max_rate=1"],
      });
      graph.sinks.length = 0;
      const streams = new Map<string, Uint8Array[]>();
      const report = await runGraph(graph, {
        hostSlots: ["labels2"],
        onFrame: (frame) => {
          if (!streams.has(frame.stream)) streams.set(frame.stream, []);
          streams.get(frame.stream)!.push(((frame.slots.get("labels2") as Tensor).data as Uint8Array).slice());
        },
      });
      return { share: report.keyframes! / report.frames, streams: [...streams.values()] };
    };
    const recorded = await run(1);
    assert.equal(recorded.streams.length, 2);
    // The synthetic set's trained stages (shares 1 to 0.5 over these thetas on this clip).
    for (const theta of [0.05, 0.1, 0.2, 0.3]) {
      assert.equal(firingShare(recorded.streams, theta), (await run(theta)).share, `theta ${theta}`);
    }
  } finally {
    await Deno.remove(clip, { recursive: true });
  }
});
