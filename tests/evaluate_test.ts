/**
 * The `evaluate` stage: mIoU over one confusion matrix for the whole run, DAVIS J&F and flow EPE against the
 * source's ground truth, in the run's metrics; a missing ground truth fails, or is skipped and counted.
 */
import assert from "node:assert/strict";
import { defineSource } from "../engine/source.ts";
import type { FrameInit, GroundTruth } from "../engine/frame.ts";
import type { Registry } from "../engine/registry.ts";
import { runGraph } from "../engine/run.ts";
import type { StatsReport } from "../engine/stats.ts";
import type { Tensor } from "../engine/tensor.ts";
import { cli, errorLine } from "./_cli.ts";
import { graphFrom, testSetup } from "./_helpers.ts";
import { encodeRgbPng } from "../datasets/png.ts";

/** One 4x1 frame of the `truth` source: its ground truth, and the labels and flow a test stage predicts. */
interface Case {
  truth: GroundTruth;
  labels: number[];
  /** Predicted flow (dx, dy), the same at every pixel. */
  flow?: [number, number];
}

/** Runs `cases` as 4x1 frames of a source with two classes (a, b; 255 void) through `evaluate` with `params`. */
async function evaluate(cases: Case[], params: string, declared: GroundTruth = cases[0]!.truth): Promise<StatsReport> {
  const { probe, registry } = testSetup();
  registerTruthSource(registry, cases, declared);
  probe.functions.set("labels", (frame) => {
    frame.slots.set("labels", { type: "uint8", dims: [1, 1, 4], data: Uint8Array.from(cases[frame.index]!.labels) });
  });
  probe.functions.set("flow", (frame) => {
    const [dx, dy] = cases[frame.index]!.flow ?? [0, 0];
    const flow: Tensor = { type: "float32", dims: [1, 2, 1, 4], data: Float32Array.of(dx, dx, dx, dx, dy, dy, dy, dy) };
    frame.slots.set("flow", flow);
  });
  const graph = await graphFrom(
    `source: { kind: truth }
stages:
  - { id: labels, kind: call, fn: labels, out: { value: labels } }
  - { id: flow, kind: call, fn: flow, out: { value: flow } }
  - { id: evaluate, kind: evaluate, ${params}, in: { labels: labels, flow: flow } }
`,
    registry,
  );
  return await runGraph(graph, { quiet: true, warn: () => {} });
}

/** Registers source `truth`: the frames of `cases`, declaring the ground truth kinds of `declared`. */
function registerTruthSource(registry: Registry, cases: Case[], declared: GroundTruth) {
  registry.source(defineSource({
    kind: "truth",
    doc: "4x1 frames with the test's ground truth",
    params: {},
    open: () =>
      Promise.resolve({
        info: {
          name: "truth",
          width: 4,
          height: 1,
          fps: 10,
          frames: cases.length,
          live: false,
          classes: { names: ["a", "b"], palette: [[0, 0, 0], [255, 255, 255]], ignore: 255 },
          truth: { labels: !!declared.labels, mask: !!declared.mask, flow: !!declared.flow },
        },
        async *frames(): AsyncGenerator<FrameInit> {
          for (const [index, { truth }] of cases.entries()) {
            yield { index, timestamp: index / 10, image: { width: 4, height: 1, data: new Uint8Array(12) }, truth };
          }
        },
        close: () => Promise.resolve(),
      }),
  }));
}

const still = new Float32Array(8);

Deno.test("evaluate(miou) accumulates one confusion matrix over all frames and drops void pixels", async () => {
  const report = await evaluate([
    { truth: { labels: Uint8Array.of(0, 0, 1, 1) }, labels: [0, 1, 1, 1] },
    { truth: { labels: Uint8Array.of(0, 0, 1, 255) }, labels: [0, 0, 0, 1] },
  ], "metrics: [miou]");
  // Over both frames: a -> a 3, a -> b 1, b -> a 1, b -> b 2 (the void pixel is dropped).
  // IoU(a) = 3 / (3 + 1 + 1) = 0.6, IoU(b) = 2 / (2 + 1 + 1) = 0.5.
  assert.deepEqual(report.metrics.per_class_iou, { a: 0.6, b: 0.5 });
  assert.ok(Math.abs((report.metrics.miou as number) - 0.55) < 1e-12, `mIoU ${report.metrics.miou}`);
  assert.ok(Math.abs((report.metrics.pixel_acc as number) - 5 / 7) < 1e-12, `pixel acc ${report.metrics.pixel_acc}`);
});

Deno.test("evaluate(epe) averages the flow's end-point error over every pixel of every frame", async () => {
  const report = await evaluate([
    { truth: { flow: still }, labels: [0, 0, 0, 0], flow: [3, 4] },
    { truth: { flow: still }, labels: [0, 0, 0, 0], flow: [0, 0] },
  ], "metrics: [epe]");
  // |(3, 4)| = 5 on the first frame's 4 pixels, 0 on the second's.
  assert.equal(report.metrics.epe, 2.5);
  assert.equal(report.metrics.miou, undefined);
});

Deno.test("evaluate(davis) scores object masks, leaving out each sequence's first and last frames", async () => {
  const mask = Uint8Array.of(0, 1, 1, 0);
  const perfect = await evaluate([0, 1, 2].map(() => ({ truth: { mask }, labels: [0, 1, 1, 0] })), "metrics: [davis]");
  assert.deepEqual(perfect.metrics.j, { mean: 1, recall: 1, decay: 0 });
  assert.deepEqual(perfect.metrics.f, { mean: 1, recall: 1, decay: 0 });
  assert.equal(perfect.metrics.jf, 1);
  // Only the middle frame counts: half the object there (J = 1/2); the first and last frames' errors are ignored.
  const half = await evaluate([
    { truth: { mask }, labels: [1, 1, 1, 1] },
    { truth: { mask }, labels: [0, 1, 0, 0] },
    { truth: { mask }, labels: [0, 0, 0, 0] },
  ], "metrics: [davis]");
  assert.deepEqual(half.metrics.j, { mean: 0.5, recall: 0, decay: 0 });
  assert.deepEqual(Object.keys(half.metrics.davis_sequences as object), ["truth"], "one sequence: the stream");
});

Deno.test("evaluate(missing_truth: skip) leaves frames without ground truth out, counting them", async () => {
  const report = await evaluate([
    { truth: { labels: Uint8Array.of(0, 1, 1, 1) }, labels: [0, 1, 1, 1] },
    { truth: {}, labels: [1, 0, 0, 0] },
  ], "metrics: [miou], missing_truth: skip");
  assert.equal(report.metrics.miou, 1);
  assert.equal(report.counters.unscored_frames, 1);
  await assert.rejects(
    evaluate([
      { truth: { labels: Uint8Array.of(0, 1, 1, 1) }, labels: [0, 1, 1, 1] },
      { truth: {}, labels: [1, 0, 0, 0] },
    ], "metrics: [miou]"),
    /metric 'miou' needs ground-truth labels for frame 1/,
  );
});

Deno.test("cli: a metric whose ground truth the input lacks fails before the first frame, naming the source", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/frames`);
    await Deno.writeFile(`${dir}/frames/001.png`, encodeRgbPng(new Uint8Array(8 * 8 * 3), 8, 8));
    await Deno.writeTextFile(
      `${dir}/g.yaml`,
      `name: scored
model_set: testing
source: { kind: pattern }
models: { seg: seg }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
  - { id: score, kind: evaluate, metrics: [miou] }
`,
    );
    const result = await cli(["run", `${dir}/g.yaml`, "--input", `${dir}/frames`, "--quiet"]);
    assert.equal(result.code, 1);
    assert.equal(
      errorLine(result.stderr),
      "error: metric 'miou' needs ground-truth labels, but source 'frames' has none " +
        "(use an input that carries it: CamVid, Cityscapes, DAVIS or the synthetic world)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
