/**
 * The `model` stage: runs a model on the frame or on slots and writes its outputs (and optionally argmax labels)
 * to slots; `pipelined` runs a stage on the previous frame's input (pipelined Clockwork).
 */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { buildModel, int, node } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";
import { collectSlots, graphError, graphFrom, testingGraphHead, testSetup } from "./_helpers.ts";

Deno.test("model: the palette model's labels head segments the pattern clip almost perfectly", async () => {
  const { probe, registry } = testSetup();
  let correct = 0;
  let total = 0;
  probe.functions.set("compare", (frame) => {
    const labels = frame.slots.get("labels") as { dims: number[]; data: Uint8Array };
    assert.deepEqual(labels.dims, [1, 48, 64]);
    const truth = frame.truth!.labels!;
    for (let i = 0; i < truth.length; i++) correct += labels.data[i] === truth[i] ? 1 : 0;
    total += truth.length;
  });
  const graph = await graphFrom(
    `
model_set: testing
source: { kind: pattern, frames: 6, width: 64, height: 48, noise: 8 }
models: { seg: seg }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels, scores: scores } }
  - { id: compare, kind: call, fn: compare }
`,
    registry,
  );
  const report = await runGraph(graph);
  assert.equal(report.models.runs, 6);
  assert.ok(correct / total > 0.99, `pixel accuracy ${(correct / total).toFixed(4)}`);
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
      const { seen } = await collectSlots(
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

Deno.test("check: labels asked of a model whose only map is features (not class scores) fails", async () => {
  const error = await graphError(
    testingGraphHead + `models: { features: seg-features, head: seg-head }
stages:
  - { id: features, kind: model, model: features, out: { labels: labels } }
`,
  );
  assert.match(
    error.message,
    /^test\.yaml:6:56: stage 'features': 'labels' argmaxes output 'features' with 24 channels, but the model set has 11 classes \(Sky, Building, \.\.\.\) \(name the class scores with 'scores_from'\)$/,
  );
});
