import assert from "node:assert/strict";
import { join } from "node:path";
import { loadGraph } from "../engine/graph.ts";
import { loadModelCard } from "../engine/model_card.ts";
import { ModelPool } from "../engine/model_pool.ts";
import { checkProbeOutputs, ModelCardMismatch, probeInput, probeModelCard } from "../engine/model_probe.ts";
import { buildModel, int, ints, node } from "../engine/onnx/builder.ts";
import { runGraph } from "../engine/run.ts";
import { modelsRoot, testSetup, withTempDir } from "./_helpers.ts";

const segGraph = (card: string) =>
  `name: probe
source: { kind: pattern, frames: 2, width: 32, height: 32 }
models:
  seg: ${card}
stages:
  - id: segment
    kind: model
    model: seg
    out: { scores: scores }
`;

/** Writes `<name>.onnx` (built from `spec`) and its card `<name>.yaml` (`card`, after its `name:` line) to `dir`. */
async function writeModel(dir: string, name: string, spec: Parameters<typeof buildModel>[0], card: string) {
  await Deno.writeFile(join(dir, `${name}.onnx`), buildModel(spec));
  await Deno.writeTextFile(join(dir, `${name}.yaml`), `name: ${name}\n${card}`);
}

/** Runs a two-frame graph that segments with the card `card` in `dir`; the error the run fails with. */
async function runError(dir: string, card: string): Promise<Error> {
  await Deno.writeTextFile(join(dir, "graph.yaml"), segGraph(card));
  const { registry } = testSetup();
  const graph = await loadGraph(join(dir, "graph.yaml"), { registry, modelsRoot });
  const error = await runGraph(graph, { quiet: true, warn: () => {} }).then(() => undefined, (e: Error) => e);
  assert.ok(error, "expected the run to fail");
  return error;
}

Deno.test("probeInput: each side is multiple_of x 4, divisible by every stride of the card", async () => {
  const seg = await loadModelCard(join(modelsRoot, "camvid/seg.yaml"));
  const probe = probeInput(seg)!;
  assert.equal(probe.side, 32);
  assert.deepEqual(probe.feeds.image!.dims, [1, 32, 32, 3]);
  const s3 = await loadModelCard(join(modelsRoot, "testing/seg-s3.yaml"));
  assert.deepEqual(probeInput(s3)!.feeds.feat2!.dims, [1, 8, 2, 2]);
  const flow = await loadModelCard(join(modelsRoot, "camvid/flow.yaml"));
  assert.deepEqual(Object.keys(probeInput(flow)!.feeds), ["reference", "current"]);
});

Deno.test("checkProbeOutputs names the model, its card, the shape seen and the stride the card claims", async () => {
  const seg = await loadModelCard(join(modelsRoot, "camvid/seg.yaml"));
  const probe = probeInput(seg)!;
  const scores = (dims: number[]) => ({ scores: { type: "float32" as const, dims, data: new Float32Array(0) } });
  checkProbeOutputs(seg, probe, scores([1, 11, 4, 4]));
  assert.throws(
    () => checkProbeOutputs(seg, probe, scores([1, 11, 8, 8])),
    (error: Error) =>
      error instanceof ModelCardMismatch &&
      error.message ===
        "model 'seg' (models/camvid/seg.yaml): output 'scores' is [1,11,8,8] for a 32x32 input, but the card says " +
          "stride 8 (expected [1,11,4,4])",
  );
  assert.throws(() => checkProbeOutputs(seg, probe, scores([1, 12, 4, 4])), /the card says 11 channels/);
});

Deno.test("every committed card in models/ passes the load-time probe", async () => {
  const pool = await ModelPool.start({ workers: 1, threads: 1, provider: { provider: "cpu", required: false } });
  try {
    for (const set of ["testing", "synthetic", "camvid"]) {
      for await (const entry of Deno.readDir(join(modelsRoot, set))) {
        if (!entry.name.endsWith(".yaml") || entry.name === "set.yaml") continue;
        const card = await loadModelCard(join(modelsRoot, set, entry.name));
        assert.ok(probeInput(card), `${set}/${entry.name}: the probe cannot size its inputs`);
        await probeModelCard(card, await Deno.readFile(card.onnxFile), pool);
      }
    }
  } finally {
    await pool.close();
  }
});

Deno.test("run: a card that lies about its stride fails before the first frame, naming both", async () => {
  await withTempDir(async (dir) => {
    await Deno.copyFile(join(modelsRoot, "testing/seg.onnx"), join(dir, "seg.onnx"));
    const card = await Deno.readTextFile(join(modelsRoot, "testing/seg.yaml"));
    assert.ok(card.includes("stride: 1"));
    await Deno.writeTextFile(join(dir, "seg.yaml"), card.replace("stride: 1", "stride: 2"));
    const error = await runError(dir, "seg.yaml");
    assert.match(
      error.message,
      /^model 'seg' \(.*seg\.yaml\): output 'scores' is \[1,11,4,4\] for a 4x4 input, but the card says stride 2 \(expected \[1,11,2,2\]\)$/,
    );
    assert.equal((error as Error & { report?: { frames: number } }).report?.frames, 0);
  });
});

Deno.test("run: a card that lies about its channels fails at load, naming both", async () => {
  await withTempDir(async (dir) => {
    // The ONNX file leaves the channel axis symbolic, so only running it shows 3 channels, not 11.
    await writeModel(
      dir,
      "lie",
      {
        inputs: [{ name: "image", type: "uint8", shape: [1, "H", "W", 3] }],
        outputs: [{ name: "scores", type: "float32", shape: [1, "C", "H", "W"] }],
        nodes: [
          node("Cast", ["image"], ["f"], { to: int(1) }),
          node("Transpose", ["f"], ["scores"], { perm: ints([0, 3, 1, 2]) }),
        ],
      },
      `task: segmentation\nfile: lie.onnx\n` +
        `inputs:\n  - { name: image, dtype: uint8, layout: NHWC, shape: [1, H, W, 3] }\n` +
        `outputs:\n  - { name: scores, dtype: float32, layout: NCHW, shape: [1, 11, H, W], stride: 1 }\n`,
    );
    const error = await runError(dir, "lie.yaml");
    assert.match(
      error.message,
      /^model 'lie' \(.*lie\.yaml\): output 'scores' is \[1,3,4,4\] for a 4x4 input, but the card says 11 channels \(expected \[1,11,4,4\]\)$/,
    );
  });
});

Deno.test("run: a card whose input shapes the model does not take fails at load, naming the shapes tried", async () => {
  await withTempDir(async (dir) => {
    // The model needs 4 channels; the card says 3.
    await writeModel(
      dir,
      "four",
      {
        inputs: [{ name: "x", type: "float32", shape: [1, "C", "H", "W"] }],
        outputs: [{ name: "y", type: "float32", shape: [1, 1, "H", "W"] }],
        initializers: [{ name: "w", type: "float32", dims: [1, 4, 1, 1], data: new Float32Array(4) }],
        nodes: [node("Conv", ["x", "w"], ["y"])],
      },
      `task: features\nfile: four.onnx\n` +
        `inputs:\n  - { name: x, dtype: float32, layout: NCHW, shape: [1, 3, h, w], stride: 8 }\n` +
        `outputs:\n  - { name: y, dtype: float32, layout: NCHW, shape: [1, 1, h, w], stride: 8 }\nmultiple_of: 8\n`,
    );
    const card = await loadModelCard(join(dir, "four.yaml"));
    const pool = await ModelPool.start({ workers: 1, threads: 1, provider: { provider: "cpu", required: false } });
    try {
      await assert.rejects(
        probeModelCard(card, await Deno.readFile(card.onnxFile), pool),
        /^ModelCardMismatch: model 'four' \(.*four\.yaml\): does not run on inputs shaped as its card says \('x' \[1,3,4,4\], and 2x and 4x that size\): /,
      );
    } finally {
      await pool.close();
    }
  });
});
