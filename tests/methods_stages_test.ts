import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { buildModel, int, node } from "../engine/onnx/builder.ts";
import { labelChange } from "../stages/decide.ts";
import { flowInputSize } from "../stages/flow.ts";
import { shrinkImage } from "../engine/image_resize.ts";
import type { Tensor } from "../engine/tensor.ts";
import { graphFrom, testSetup, writeDifferenceFlowModel } from "./_helpers.ts";

/** Runs `stages` on a fake clip, collecting the given slots per frame. */
async function collect(stagesYaml: string, slots: string[], frames = 12, extra = "", models = "") {
  const { probe, registry } = testSetup();
  const seen: Record<string, unknown>[] = [];
  probe.functions.set("collect", (frame) => {
    seen.push(Object.fromEntries(slots.map((s) => [s, frame.slots.get(s)])));
  });
  const graph = await graphFrom(
    `source: { kind: fake, frames: ${frames}, width: 16, height: 8 }\n${extra}${models}stages:\n${stagesYaml}` +
      "  - { id: collect, kind: call, fn: collect }\n",
    registry,
  );
  const report = await runGraph(graph);
  return { seen, report };
}

Deno.test("decide(interval) marks every 5th frame as key, the stream's first included", async () => {
  const { seen, report } = await collect("  - { id: d, kind: decide, every: 5, out: { key: is_key } }\n", ["is_key"]);
  assert.deepEqual(seen.map((s) => s.is_key), [
    true,
    false,
    false,
    false,
    false,
    true,
    false,
    false,
    false,
    false,
    true,
    false,
  ]);
  assert.equal(report.keyframes, 3);
  assert.equal(report.keyframe_ratio, 0.25);
});

Deno.test("decide(interval) with offset fires on the first frame, then at offset + k * every", async () => {
  const { seen } = await collect("  - { id: d, kind: decide, every: 4, offset: 2, out: { key: k } }\n", ["k"], 8);
  assert.deepEqual(seen.map((s) => s.k), [true, false, true, false, false, false, true, false]);
});

Deno.test("labelChange is the fraction of differing labels", () => {
  assert.equal(labelChange(Uint8Array.of(1, 2, 3, 4), Uint8Array.of(1, 2, 0, 0)), 0.5);
  assert.throws(() => labelChange(Uint8Array.of(1), Uint8Array.of(1, 2)), /differ in size/);
});

Deno.test("decide(adaptive) fires when labels changed >= theta since the last fired frame, not the previous frame", async () => {
  const { probe, registry } = testSetup();
  // Each frame's label map: 10 labels, the first `n` are 1. Change vs the last fired map accumulates.
  const ones = [0, 1, 2, 3, 4, 4, 9, 9, 6];
  probe.functions.set("labels", (frame) => {
    const data = Uint8Array.from({ length: 10 }, (_, i) => (i < ones[frame.index]! ? 1 : 0));
    frame.slots.set("labels", { type: "uint8", dims: [1, 1, 10], data } as Tensor);
  });
  const fired: boolean[] = [];
  const changes: number[] = [];
  probe.functions.set("collect", (frame) => {
    fired.push(frame.slots.get("k") as boolean);
    changes.push(frame.slots.get("change") as number);
  });
  const graph = await graphFrom(
    `source: { kind: fake, frames: ${ones.length} }
stages:
  - { id: labels, kind: call, fn: labels, out: { value: labels } }
  - { id: d, kind: decide, policy: adaptive, theta: 0.3, in: { labels: labels }, out: { key: k, change: change } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  await runGraph(graph);
  // Frame 0 fires (first). Frames 1, 2: change 0.1, 0.2 vs frame 0; frame 3: 0.3 -> fires. Frame 4, 5: 0.1;
  // frame 6: 0.6 -> fires; frame 7: 0; frame 8: 0.3 -> fires.
  assert.deepEqual(fired, [true, false, false, true, false, false, true, false, true]);
  assert.deepEqual(changes.map((c) => Math.round(c * 10) / 10), [1, 0.1, 0.2, 0.3, 0.1, 0.1, 0.6, 0, 0.3]);
});

/** Writes a card + model pair to `dir`; the model copies its input `x` to output `y` as float32. */
async function writeStageModel(
  dir: string,
  name: string,
  input: { name: string; type: "uint8" | "float32"; shape: (number | string)[] },
  output: string,
) {
  const nodes = input.type === "uint8"
    ? [node("Cast", [input.name], [output], { to: int(1) })]
    : [node("Identity", [input.name], [output])];
  await Deno.writeFile(
    `${dir}/${name}.onnx`,
    buildModel({
      inputs: [input],
      outputs: [{ name: output, type: "float32", shape: input.shape }],
      nodes,
    }),
  );
  await Deno.writeTextFile(
    `${dir}/${name}.yaml`,
    `name: ${name}\ntask: test\nfile: ${name}.onnx\ninputs:\n  - { name: ${input.name}, dtype: ${input.type}, shape: [${input.shape}] }\n` +
      `outputs:\n  - { name: ${output}, dtype: float32, shape: [${input.shape}] }\n`,
  );
}

Deno.test("model(pipelined: true): pipelined Clockwork's output for frame t uses S2 from t-1 and S3 from t-2; so does the old 'segment' with 'lag: 1'", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The fake source fills frame t with the value t; each 'stage' copies its input, so values are frame numbers.
    await writeStageModel(dir, "s1", { name: "image", type: "uint8", shape: [1, "H", "W", 3] }, "feat1");
    await writeStageModel(dir, "s2", { name: "feat1", type: "float32", shape: [1, "H", "W", 3] }, "feat2");
    await writeStageModel(dir, "s3", { name: "feat2", type: "float32", shape: [1, "H", "W", 3] }, "score3");
    for (const [kind, pipelined] of [["model", "pipelined: true"], ["segment", "lag: 1"]] as const) {
      const { seen } = await collect(
        `  - { id: s1, kind: ${kind}, model: s1, out: { feat1: feat1 } }
  - { id: s2, kind: ${kind}, model: s2, ${pipelined}, in: { feat1: feat1 }, out: { feat2: feat2 } }
  - { id: s3, kind: ${kind}, model: s3, ${pipelined}, in: { feat2: feat2 }, out: { score3: score3 } }
`,
        ["feat1", "feat2", "score3"],
        6,
        "execution: { workers: 3, max_in_flight: 4 }\n",
        `models: { s1: ${dir}/s1.yaml, s2: ${dir}/s2.yaml, s3: ${dir}/s3.yaml }\n`,
      );
      const value = (t: unknown) => (t as Tensor).data[0];
      assert.deepEqual(seen.map((s) => value(s.feat1)), [0, 1, 2, 3, 4, 5]);
      // S2 of t-1 (first frame: its own); S3 of S2's output, i.e. t-2 (first two frames: as far back as exists).
      assert.deepEqual(seen.map((s) => value(s.feat2)), [0, 0, 1, 2, 3, 4], kind);
      assert.deepEqual(seen.map((s) => value(s.score3)), [0, 0, 0, 1, 2, 3], kind);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fuse(sum|mean) resizes coarser maps to the first one's grid and combines them", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("a", (frame) => {
    frame.slots.set("a", { type: "float32", dims: [1, 1, 2, 2], data: Float32Array.of(1, 2, 3, 4) } as Tensor);
  });
  probe.functions.set("b", (frame) => {
    frame.slots.set("b", { type: "float32", dims: [1, 1, 1, 1], data: Float32Array.of(10) } as Tensor);
  });
  const results: Record<string, number[]> = {};
  probe.functions.set("collect", (frame) => {
    for (const slot of ["sum", "mean"]) results[slot] = [...(frame.slots.get(slot) as Tensor).data as Float32Array];
  });
  const graph = await graphFrom(
    `source: { kind: fake, frames: 1 }
stages:
  - { id: a, kind: call, fn: a, out: { value: a } }
  - { id: b, kind: call, fn: b, out: { value: b } }
  - { id: add, kind: fuse, method: sum, in: { a: a, b: b }, out: { scores: sum } }
  - { id: avg, kind: fuse, method: mean, in: { a: a, b: b }, out: { scores: mean } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  await runGraph(graph);
  assert.deepEqual(results.sum, [11, 12, 13, 14]);
  assert.deepEqual(results.mean, [5.5, 6, 6.5, 7]);
});

Deno.test("argmax: scores on a coarse grid become labels at the frame's size", async () => {
  const { probe, registry } = testSetup();
  probe.functions.set("scores", (frame) => {
    // 2 classes on a 1x2 grid: class 0 wins on the left, class 1 on the right.
    frame.slots.set("scores", { type: "float32", dims: [1, 2, 1, 2], data: Float32Array.of(5, 0, 0, 5) } as Tensor);
  });
  let labels: Tensor | undefined;
  probe.functions.set("collect", (frame) => void (labels = frame.slots.get("labels") as Tensor));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 1, width: 8, height: 2 }
stages:
  - { id: scores, kind: call, fn: scores, out: { value: scores } }
  - { id: argmax, kind: argmax, in: { scores: scores }, out: { labels: labels } }
  - { id: collect, kind: call, fn: collect }
`,
    registry,
  );
  await runGraph(graph);
  assert.deepEqual(labels!.dims, [1, 2, 8]);
  assert.deepEqual([...labels!.data as Uint8Array], [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
});

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

Deno.test("flow(scale: 0.5) runs the model on shrunk frames; the flow grid still spans the frame", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDifferenceFlowModel(dir);
    const { seen } = await collect(
      `  - { id: d, kind: decide, every: 4, out: { key: is_key } }
  - { id: flow, kind: flow, model: flow, scale: 0.5, in: { image: image, key: is_key }, out: { flow: flow } }
`,
      ["flow"],
      5,
      "",
      `models: { flow: ${dir}/flow.yaml }\n`,
    );
    // 16x8 frames -> 8x8 model input (sides rounded to multiples of 8, at least 8) -> one 8x8 cell.
    assert.deepEqual(seen.map((s) => (s.flow as Tensor).dims), Array(5).fill([1, 2, 1, 1]));
    assert.deepEqual(seen.map((s) => (s.flow as Tensor).data[0]), [0, 1, 2, 3, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flowInputSize rounds each scaled side to the model's multiple", () => {
  assert.deepEqual(flowInputSize(480, 360, 0.5, 8), { width: 240, height: 184 });
  assert.deepEqual(flowInputSize(480, 360, 1, 8), { width: 480, height: 360 });
  assert.deepEqual(flowInputSize(16, 8, 0.25, 8), { width: 8, height: 8 });
});

Deno.test("shrinkImage averages areas: 2x2 blocks exactly, constants stay constant at any ratio", () => {
  const data = new Uint8Array([0, 0, 0, 100, 100, 100, 20, 20, 20, 40, 40, 40]); // 2x2 RGB
  assert.deepEqual([...shrinkImage({ width: 2, height: 2, data }, 1, 1).data], [40, 40, 40]);
  const flat = { width: 30, height: 18, data: new Uint8Array(30 * 18 * 3).fill(77) };
  const small = shrinkImage(flat, 16, 8);
  assert.equal(small.data.length, 16 * 8 * 3);
  assert.ok(small.data.every((v) => v === 77));
});

for (const reference of ["key", "previous"] as const) {
  Deno.test(`flow(reference: ${reference}) runs the model against the ${reference} frame; zero flow on key frames`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await writeDifferenceFlowModel(dir);
      const { seen } = await collect(
        `  - { id: d, kind: decide, every: 4, out: { key: is_key } }
  - { id: flow, kind: flow, model: flow, reference: ${reference}, in: { image: image, key: is_key }, out: { flow: flow } }
`,
        ["flow"],
        9,
        "",
        `models: { flow: ${dir}/flow.yaml }\n`,
      );
      const values = seen.map((s) => (s.flow as Tensor).data[0]);
      assert.deepEqual((seen[1]!.flow as Tensor).dims, [1, 2, 1, 2]);
      const expected = reference === "key" ? [0, 1, 2, 3, 0, 1, 2, 3, 0] : [0, 1, 1, 1, 0, 1, 1, 1, 0];
      assert.deepEqual(values, expected);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
