/**
 * Shared set-up for the tests: a registry with the test kinds, and graph loading from text.
 *
 * @module
 */
import { resolve } from "node:path";
import { builtinRegistry } from "../stages/mod.ts";
import { registerTestKinds, TestProbe } from "../engine/testing.ts";
import { type LoadedGraph, loadGraphText } from "../engine/graph.ts";
import type { Registry } from "../engine/registry.ts";
import { buildModel, float32Scalar, int, int64Tensor, ints, node } from "../engine/onnx/builder.ts";
import { runGraph } from "../engine/run.ts";
import type { StatsReport } from "../engine/stats.ts";

/** The project's models folder. */
export const modelsRoot = resolve(new URL("../models", import.meta.url).pathname);

/** The method graphs in graphs/, by name. */
export const methodGraphs = [
  "per-frame",
  "dff",
  "accel",
  "clockwork",
  "clockwork-adaptive",
  "clockwork-pipelined",
  "dvsnet",
  "pml-vos",
];

/**
 * The semantic-segmentation method graphs and their variants (`methodGraphs` without PML, plus `dff-features` and
 * `clockwork-adaptive-deep`).
 */
export const segmentationGraphs = [
  "per-frame",
  "dff",
  "dff-features",
  "accel",
  "clockwork",
  "clockwork-adaptive",
  "clockwork-adaptive-deep",
  "clockwork-pipelined",
  "dvsnet",
];

/** The frame sizes users bring: qHD, full HD, 854-ish DAVIS, portrait phone video, and odd sides. */
export const userFrameSizes: [number, number][] = [[960, 540], [1920, 1080], [853, 480], [720, 1280], [321, 239]];

/** The project's root folder. */
export const projectRoot = resolve(new URL("..", import.meta.url).pathname);

/**
 * Runs `body` with a fresh temporary folder and removes the folder afterwards, whether `body` passes or throws.
 *
 * @example
 * ```ts
 * await withTempDir(async (dir) => await Deno.writeTextFile(`${dir}/a.txt`, "a"));
 * ```
 */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    return await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A fresh probe and a registry with built-in and test kinds. */
export function testSetup(): { probe: TestProbe; registry: Registry; dropped: { count: number } } {
  const probe = new TestProbe();
  const dropped = { count: 0 };
  const registry = registerTestKinds(builtinRegistry(), probe, () => dropped.count);
  return { probe, registry, dropped };
}

/** Loads a graph from YAML text with the given registry. */
export function graphFrom(
  text: string,
  registry: Registry,
  extra: { modelSet?: string; overrides?: string[] } = {},
): Promise<LoadedGraph> {
  return loadGraphText("test.yaml", text, { registry, modelsRoot, ...extra });
}

/**
 * Loads graph `text` as test.yaml (with load options `extra`) and returns the error it is rejected with;
 * fails the test when it loads.
 */
export async function graphError(text: string, extra: Record<string, unknown> = {}): Promise<Error> {
  const { registry } = testSetup();
  const error = await loadGraphText("test.yaml", text, { registry, modelsRoot, ...extra }).then(
    () => undefined,
    (e: Error) => e,
  );
  if (!error) throw new Error("expected the graph to be rejected");
  return error;
}

/** The head of a test graph on the `testing` model set over two pattern frames; append `models:` and `stages:`. */
export const testingGraphHead = `name: t
model_set: testing
source: { kind: pattern, frames: 2 }
`;

/**
 * Runs the YAML list `stagesYaml` on `frames` fake 16x8 frames (pixel value = frame index) and collects the
 * named `slots` of each frame as it leaves. `extra` and `models` are YAML lines put before `stages:`.
 *
 * @example
 * ```ts
 * const { seen } = await collectSlots("  - { id: d, kind: decide, every: 5, out: { key: k } }\n", ["k"]);
 * ```
 */
export async function collectSlots(
  stagesYaml: string,
  slots: string[],
  frames = 12,
  extra = "",
  models = "",
): Promise<{ seen: Record<string, unknown>[]; report: StatsReport }> {
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

/**
 * Writes `flow.onnx` + `flow.yaml` to `dir`: a flow model whose flow is (current - reference) averaged over 8x8
 * blocks, so on the fake source's constant frames it is (t - reference index).
 */
export async function writeDifferenceFlowModel(dir: string) {
  await Deno.writeFile(
    `${dir}/flow.onnx`,
    buildModel({
      inputs: [
        { name: "reference", type: "uint8", shape: [1, "H", "W", 3] },
        { name: "current", type: "uint8", shape: [1, "H", "W", 3] },
      ],
      outputs: [{ name: "flow", type: "float32", shape: [1, 2, "h", "w"] }],
      initializers: [int64Tensor("c0", [1], [0]), int64Tensor("c2", [1], [2]), int64Tensor("axis", [1], [1])],
      nodes: [
        node("Cast", ["reference"], ["r"], { to: int(1) }),
        node("Cast", ["current"], ["c"], { to: int(1) }),
        node("Sub", ["c", "r"], ["d"]),
        node("Transpose", ["d"], ["dn"], { perm: ints([0, 3, 1, 2]) }),
        node("AveragePool", ["dn"], ["pooled"], { kernel_shape: ints([8, 8]), strides: ints([8, 8]) }),
        node("Slice", ["pooled", "c0", "c2", "axis"], ["flow"]),
      ],
    }),
  );
  await Deno.writeTextFile(
    `${dir}/flow.yaml`,
    `name: flow\ntask: optical-flow\nfile: flow.onnx\ninputs:\n  - { name: reference, dtype: uint8, layout: NHWC, shape: [1, H, W, 3] }\n` +
      `  - { name: current, dtype: uint8, layout: NHWC, shape: [1, H, W, 3] }\n` +
      `outputs:\n  - { name: flow, dtype: float32, layout: NCHW, shape: [1, 2, h, w], stride: 8 }\nmultiple_of: 8\n`,
  );
}

/** An ONNX model computing y = x * factor on [N, C, h, w] (pool and resident-tensor tests). */
export function scaleModel(factor: number): Uint8Array {
  return buildModel({
    name: `scale-${factor}`,
    inputs: [{ name: "x", type: "float32", shape: ["N", "C", "h", "w"] }],
    outputs: [{ name: "y", type: "float32", shape: ["N", "C", "h", "w"] }],
    initializers: [float32Scalar("factor", factor)],
    nodes: [node("Mul", ["x", "factor"], ["y"])],
  });
}

/**
 * `--set` flags a method graph needs on the `testing` set: its `seg` is a stride-1 network, so DFF and Accel
 * (which warp the key frame's class scores) use the staged one, `seg-staged` (= seg-head(seg-features)).
 */
export function testingSetOverrides(graph: string): string[] {
  return /(^|\/)(dff|accel)(\.yaml)?$/.test(graph) ? ["models.seg=seg-staged"] : [];
}
