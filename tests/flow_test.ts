/**
 * The `flow` stage: optical flow from the current frame back to the key frame, the previous frame, or the key
 * a later `decide` stage picked (a feedback edge); on shrunk frames with `scale`, padded to the model's multiple;
 * with the model's encoder and decoder cuts, each frame encoded once and the reference's encoding kept.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { gridStride } from "../engine/grid.ts";
import { loadGraph } from "../engine/graph.ts";
import { type ResidentProbe, runGraph } from "../engine/run.ts";
import { isHandle, type Tensor } from "../engine/tensor.ts";
import { flowCutFiles } from "../stages/_flow_cuts.ts";
import { flowInputSize, prepareFlowInput } from "../stages/_flow_input.ts";
import { collectSlots, graphError, graphFrom, modelsRoot, testSetup, writeDifferenceFlowModel } from "./_helpers.ts";
import { runDecisions } from "./_dvsnet.ts";

for (const reference of ["key", "previous"] as const) {
  Deno.test(`flow(reference: ${reference}) runs the model against the ${reference} frame; zero flow on key frames`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await writeDifferenceFlowModel(dir);
      const { seen } = await collectSlots(
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

Deno.test("flow(reference: decided): the next frame's flow runs against the key the decide stage picked", async () => {
  // Pixel value = frame index, so the difference flow is (t - key). Decisions: segment at 0, 2 and 5.
  const scores = [0, 90, 10, 90, 90, 10, 90];
  const { seen } = await runDecisions(scores, "target: 50", true);
  assert.deepEqual(seen.map((s) => s.key), [true, false, true, false, false, true, false]);
  // Frame 0 runs against itself; then each frame against the latest key before it.
  assert.deepEqual(seen.map((s) => s.flow), [0, 1, 2, 1, 2, 3, 1]);
});

Deno.test("flow(scale: 0.5) runs the model on shrunk frames; the flow grid still spans the frame", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDifferenceFlowModel(dir);
    const { seen } = await collectSlots(
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

Deno.test("prepareFlowInput: half-resolution flow on an odd frame is a padded grid of stride 2 x model stride", () => {
  const frame = { width: 853, height: 479, data: new Uint8Array(853 * 479 * 3) };
  const input = prepareFlowInput(frame, 0.5, 8);
  assert.equal(input.image.width % 8, 0);
  assert.equal(input.image.height % 8, 0);
  assert.deepEqual([input.image.width, input.image.height], [432, 240]); // 853 -> 854 -> 427 -> 432
  assert.deepEqual(input.cells(8), [30, 54]); // ceil(479 / 16), ceil(853 / 16)
  assert.equal(gridStride(853, input.cells(8)[1]), 16);
  // A scale whose inverse is not whole resamples the frame: the grid then spans it exactly.
  const resampled = prepareFlowInput(frame, 0.3, 8);
  assert.deepEqual([resampled.image.width, resampled.image.height], [256, 144]);
});

/** The largest |a - b| over two float tensors of the same shape. */
function maxDifference(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.dims, b.dims);
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

// The flow models with cuts: each domain's `flow` and the CamVid stride-4 variant `flow-s4`.
for (const [set, stem] of [["synthetic", "flow"], ["camvid", "flow"], ["camvid", "flow-s4"]] as const) {
  Deno.test(`models/${set}: ${stem}-decode(${stem}-encode(reference), ...) reproduces ${stem}.onnx`, async () => {
    const open = (name: string) => ort.InferenceSession.create(`${modelsRoot}/${set}/${name}.onnx`);
    const [whole, encode, decode] = [await open(stem), await open(`${stem}-encode`), await open(`${stem}-decode`)];
    try {
      // DFF's half-resolution CamVid input, and one whose stride-16 grid is padded (168 / 16 = 10.5).
      for (const [h, w] of [[184, 240], [168, 232]] as const) {
        const frame = (seed: number) =>
          new ort.Tensor("uint8", Uint8Array.from({ length: h * w * 3 }, (_, i) => (i * seed + (i >> 9) * 7) % 256), [
            1,
            h,
            w,
            3,
          ]);
        const [reference, current] = [frame(37), frame(41)];
        const expected = await whole.run({ reference, current });
        const r = await encode.run({ image: reference }), c = await encode.run({ image: current });
        // Every pyramid map the encoder makes (pyramid8, pyramid16, with three levels pyramid32, with a stride-4
        // output pyramid4), for both frames.
        const got = await decode.run(Object.fromEntries(
          encode.outputNames.flatMap((name) => [[`reference_${name}`, r[name]!], [`current_${name}`, c[name]!]]),
        ));
        for (const name of ["flow", "features"]) {
          const d = maxDifference(got[name] as unknown as Tensor, expected[name] as unknown as Tensor);
          assert.ok(d < 1e-4, `${h}x${w} ${name}: max |difference| ${d}`);
        }
      }
    } finally {
      for (const session of [whole, encode, decode]) await session.release();
    }
  });
}

/**
 * Runs `stages` on the synthetic set over a 96x64 synthetic clip of `frames` frames with the flow stage's
 * `encoder`; returns each frame's `read` slots (host tensors: copied), whether the flow slot was a worker-resident
 * handle, the handles the main thread held after each frame and at the end, and the report.
 */
async function runFlowGraph(stages: string, encoder: string, read: string[], frames = 12) {
  const { registry } = testSetup();
  const graph = await graphFrom(
    `name: t
model_set: synthetic
source: { kind: synthetic, frames: ${frames}, width: 96, height: 64, seed: 5 }
models: { flow: flow, seg: seg }
stages:
${stages.replaceAll("ENCODER", encoder)}`,
    registry,
  );
  const probe: ResidentProbe = {};
  const seen: Record<string, Tensor>[] = [];
  const flowResident: boolean[] = [];
  const held: number[] = [];
  const report = await runGraph(graph, {
    quiet: true,
    warn: () => {},
    hostSlots: read,
    residentProbe: probe,
    onFrame: (frame) => {
      seen.push(Object.fromEntries(read.map((slot) => {
        const t = frame.slots.get(slot) as Tensor;
        return [slot, { ...t, data: (t.data as Float32Array).slice() }];
      })));
      flowResident.push(isHandle(frame.slots.get("flow")));
      held.push(probe.registry!.count);
    },
  });
  return { seen, flowResident, held, left: probe.registry!.count, report };
}

for (const reference of ["key", "previous"] as const) {
  Deno.test(`flow(reference: ${reference}, encoder: cached): the cuts give the whole model's flow and features`, async () => {
    // The features are bound too, so key frames run the decoder on the frame against itself.
    const stages = `  - { id: d, kind: decide, every: 4, out: { key: is_key } }
  - { id: flow, kind: flow, model: flow, reference: ${reference}, encoder: ENCODER, in: { image: image, key: is_key }, out: { flow: flow, features: features } }
`;
    const whole = await runFlowGraph(stages, "whole", ["flow", "features"]);
    const cached = await runFlowGraph(stages, "cached", ["flow", "features"]);
    assert.equal(cached.seen.length, 12);
    let moved = 0;
    cached.seen.forEach((slots, i) => {
      for (const name of ["flow", "features"]) {
        const d = maxDifference(slots[name]!, whole.seen[i]![name]!);
        assert.ok(d < 1e-4, `frame ${i} ${name}: max |difference| ${d}`);
      }
      moved = Math.max(moved, ...(slots.flow!.data as Float32Array).map(Math.abs));
    });
    assert.ok(moved > 0.01, `the clip moves (max |flow| ${moved})`);
    assert.equal(cached.left, 0);
  });

  Deno.test(`flow(reference: ${reference}, encoder: cached) in the worker: warped maps as the whole model's, one call a frame, encodings released`, async () => {
    // seg on key frames, flow and warp (DFF / Accel): the flow and the encodings stay in the worker.
    const from = reference === "key" ? "key" : "previous";
    const stages = `  - { id: d, kind: decide, every: 4, out: { key: is_key } }
  - { id: seg, kind: model, model: seg, when: is_key, out: { scores: key_scores } }
  - { id: flow, kind: flow, model: flow, reference: ${reference}, encoder: ENCODER, in: { image: image, key: is_key }, out: { flow: flow } }
  - { id: warp, kind: warp, from: ${from}, border: clamp, in: { source: key_scores, flow: flow, key: is_key }, out: { warped: warped } }
`;
    const frames = 24;
    const whole = await runFlowGraph(stages, "whole", ["warped"], frames);
    const cached = await runFlowGraph(stages, "cached", ["warped"], frames);
    // (Key frames get an all-zero flow from the main thread.)
    assert.ok(cached.flowResident.every((resident, i) => resident === (i % 4 !== 0)), `${cached.flowResident}`);
    cached.seen.forEach((slots, i) => {
      const d = maxDifference(slots.warped!, whole.seen[i]!.warped!);
      assert.ok(d < 1e-4, `frame ${i}: max |warped difference| ${d}`);
    });
    // Encoder and decoder runs go with the frame's other runs: no more worker calls than with the whole model.
    assert.ok(
      cached.report.threads_traffic.worker_calls <= whole.report.threads_traffic.worker_calls,
      `${cached.report.threads_traffic.worker_calls} vs ${whole.report.threads_traffic.worker_calls} worker calls`,
    );
    // Replaced encodings are freed (with the frame that replaced them): the holds do not grow with the clip; at
    // the end the stage gave its hold on the reference's encoding back.
    const firstHalf = Math.max(...cached.held.slice(0, frames / 2));
    assert.ok(Math.max(...cached.held.slice(frames / 2)) <= firstHalf, `${cached.held}`);
    assert.ok(Math.max(...cached.held) <= 4 * 6 + 2, `main thread holds ${Math.max(...cached.held)} handles`);
    assert.equal(cached.left, 0);
    assert.equal(whole.left, 0);
  });
}

Deno.test("flow(encoder: auto) uses the cuts beside the card when there are; 'cached' without them is an error", async () => {
  const { registry } = testSetup();
  const graph = await loadGraph("graphs/dff.yaml", { registry, modelsRoot, modelSet: "testing" });
  const card = graph.models.get("flow")!;
  const files = flowCutFiles(card);
  assert.deepEqual(files, {
    encoder: `${modelsRoot}/testing/flow-encode.yaml`,
    decoder: `${modelsRoot}/testing/flow-decode.yaml`,
  });
  // DFF on the testing set: the same labels either way, in one worker call a frame.
  const labels = async (encoder: string) => {
    const g = await loadGraph("graphs/dff.yaml", {
      registry,
      modelsRoot,
      modelSet: "testing",
      overrides: ["source.width=64", "source.height=48", "source.frames=11", `flow.encoder=${encoder}`],
    });
    g.sinks.length = 0;
    const all: number[] = [];
    const report = await runGraph(g, {
      quiet: true,
      warn: () => {},
      onFrame: (frame) => all.push(...(frame.slots.get("labels") as Tensor).data as Uint8Array),
    });
    return { all, report };
  };
  const [auto, whole] = [await labels("auto"), await labels("whole")];
  assert.deepEqual(auto.all, whole.all);
  assert.equal(auto.report.threads_traffic.worker_calls_per_frame, 1);
  // A model without cuts: auto runs the whole model (the tests above with the difference model), cached fails.
  const dir = await Deno.makeTempDir();
  try {
    await writeDifferenceFlowModel(dir);
    const error = await graphError(`name: t
source: { kind: fake, frames: 2, width: 16, height: 8 }
models: { flow: ${dir}/flow.yaml }
stages:
  - { id: d, kind: decide, every: 4, out: { key: is_key } }
  - { id: flow, kind: flow, model: flow, encoder: cached, in: { image: image, key: is_key }, out: { flow: flow } }
`);
    assert.match(
      error.message,
      /'encoder: cached' needs the cuts of model 'flow' beside its card: no '.*flow-encode\.yaml'/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
