/**
 * DVSNet's decision loop for the `decide` and `flow` tests: a stub decision model (its score is the feature
 * value a test stage writes) under `decide(confidence)`, optionally fed by `flow(reference: decided)`.
 *
 * @module
 */
import { runGraph } from "../engine/run.ts";
import type { StatsReport } from "../engine/stats.ts";
import { buildModel, int64Tensor, node } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";
import { graphFrom, testSetup, writeDifferenceFlowModel } from "./_helpers.ts";

/** Writes `decision.onnx` + `decision.yaml` to `dir`: a decision model that returns its single input value as the score. */
export async function writeStubDecision(dir: string) {
  await Deno.writeFile(
    `${dir}/decision.onnx`,
    buildModel({
      inputs: [{ name: "features", type: "float32", shape: [1, 1, 1, 1] }],
      outputs: [{ name: "score", type: "float32", shape: [1, 1] }],
      initializers: [int64Tensor("shape", [2], [1, 1])],
      nodes: [node("Reshape", ["features", "shape"], ["score"])],
    }),
  );
  await Deno.writeTextFile(
    `${dir}/decision.yaml`,
    "name: decision\ntask: decision\nfile: decision.onnx\n" +
      "inputs:\n  - { name: features, dtype: float32, layout: NCHW, shape: [1, 1, 1, 1] }\n" +
      "outputs:\n  - { name: score, dtype: float32, shape: [1, 1] }\n",
  );
}

/**
 * Runs [flow (reference: decided) ->] features from `scores` -> decide(confidence) on a fake clip of 8x8
 * frames (pixel value = frame index); returns per-frame decisions, flows and the report.
 *
 * @example
 * ```ts
 * const { seen } = await runDecisions([99, 10], "target: 80"); // seen[1].key === true
 * ```
 */
export async function runDecisions(
  scores: number[],
  decideParams: string,
  withFlow = false,
): Promise<{ seen: { key: boolean; flow?: number }[]; report: StatsReport }> {
  const dir = await Deno.makeTempDir();
  try {
    await writeStubDecision(dir);
    if (withFlow) await writeDifferenceFlowModel(dir);
    const { probe, registry } = testSetup();
    const seen: { key: boolean; flow?: number }[] = [];
    probe.functions.set("features", (frame) => {
      frame.slots.set("features", {
        type: "float32",
        dims: [1, 1, 1, 1],
        data: new Float32Array([scores[frame.index]!]),
      });
    });
    probe.functions.set("keep", (frame) => {
      const flow = frame.slots.get("flow") as Tensor | undefined;
      seen.push({ key: frame.slots.get("key") as boolean, ...(flow ? { flow: flow.data[0] as number } : {}) });
    });
    const flowStage = withFlow
      ? "  - { id: flow, kind: flow, model: flow, reference: decided, in: { decided: decided }, out: { flow: flow } }\n"
      : "";
    const decided = withFlow ? ", decided: decided" : "";
    const graph = await graphFrom(
      `source: { kind: fake, frames: ${scores.length}, width: 8, height: 8 }
models: { decision: ${dir}/decision.yaml${withFlow ? `, flow: ${dir}/flow.yaml` : ""} }
stages:
${flowStage}  - { id: features, kind: call, fn: features, out: { value: features } }
  - { id: decide, kind: decide, policy: confidence, model: decision, ${decideParams}, in: { features: features }, out: { key: key${decided} } }
  - { id: keep, kind: call, fn: keep }
`,
      registry,
    );
    const report = await runGraph(graph);
    return { seen, report };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
