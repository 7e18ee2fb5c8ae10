/**
 * The compiled, typed plan (engine/plan.ts): slot types from cards and engine ops, `check` rejecting each
 * producer/consumer mismatch at `file:line:column`, the feedback edge, and `describe` printing the plan. The
 * types a stage kind declares itself (argmax's scores, warp's flow, fuse's operands) are tested in its own file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadGraphText } from "../engine/graph.ts";
import { compilePlan } from "../engine/plan.ts";
import { graphToText } from "../cli/describe.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { cli } from "./_cli.ts";
import { graphError, methodGraphs, modelsRoot, testingGraphHead, testSetup, withTempDir } from "./_helpers.ts";

/** The message graph `text` (as test.yaml) is rejected with. */
const rejection = async (text: string): Promise<string> => (await graphError(text)).message;

async function methodGraph(name: string, modelSet = "synthetic") {
  const { registry } = testSetup();
  const text = await Deno.readTextFile(new URL(`../graphs/${name}.yaml`, import.meta.url));
  return await loadGraphText(`${name}.yaml`, text, { registry, modelsRoot, modelSet });
}

Deno.test("compilePlan: DFF's slots carry kind, dtype, layout, channels, stride, location, writer and readers", async () => {
  const graph = await methodGraph("dff-features");
  assert.ok(graph.plan, "loading a graph compiles its plan");
  const slot = (name: string) => {
    const found = graph.plan!.slots.get(name);
    assert.ok(found, `slot '${name}' is in the plan`);
    return found;
  };
  assert.deepEqual(slot("image").type, { kind: "image", dtype: "uint8", layout: "NHWC", channels: 3, stride: 1 });
  assert.deepEqual(slot("key_features").type, {
    kind: "tensor",
    dtype: "float32",
    layout: "NCHW",
    channels: 400,
    stride: 8,
  });
  // The flow model runs on half-size frames (scale: 0.5): its stride-8 grid is 16 frame pixels per cell.
  assert.deepEqual(slot("flow").type, { kind: "tensor", dtype: "float32", layout: "NCHW", channels: 2, stride: 16 });
  // warp passes its source's type on; the head's card types the scores; argmax makes frame-size labels.
  assert.deepEqual(slot("features").type, slot("key_features").type);
  assert.equal(slot("scores").type.channels, 11);
  assert.deepEqual(slot("labels").type, { kind: "labels", dtype: "uint8", layout: "NHW", stride: 1 });
  assert.equal(slot("is_key").type.kind, "boolean");
  assert.equal(slot("labels").writer, "argmax");
  assert.deepEqual(slot("labels").readers, ["score", "labels-png"]);
  assert.deepEqual(slot("is_key").readers, ["features", "flow", "warp"]);
  for (const s of graph.plan!.slots.values()) assert.ok(["main", "worker"].includes(s.location));
  // The plan is the same compiled again (describe on an already loaded graph).
  assert.deepEqual(compilePlan(graph).slots, graph.plan!.slots);
  // DFF on scores: the warped map is the key frame's class scores.
  const lean = (await methodGraph("dff")).plan!.slots;
  assert.equal(lean.get("key_scores")!.type.channels, 11);
  assert.deepEqual(lean.get("scores")!.type, lean.get("key_scores")!.type);
});

Deno.test("compilePlan: knn types its scores at the embedding's stride and objects, refine its labels at the frame's", async () => {
  const graph = await methodGraph("pml-vos");
  const slots = graph.plan!.slots;
  assert.deepEqual(slots.get("object_scores")!.type, {
    kind: "tensor",
    dtype: "float32",
    layout: "NCHW",
    channels: 8,
    stride: 8,
  });
  assert.deepEqual(slots.get("labels")!.type, { kind: "labels", dtype: "uint8", layout: "NHW", stride: 1 });
  assert.deepEqual(slots.get("labels")!.readers, ["score", "encode", "masks"]);
});

Deno.test("check: a model input fed another dtype, layout or stride than its card's fails at 'in'", async () => {
  await withTempDir(async (dir) => {
    const onnx = join(modelsRoot, "testing", "seg-head.onnx");
    const card = (input: string) =>
      `name: head
task: segmentation-head
file: ${onnx}
inputs:
  - ${input}
outputs:
  - { name: scores, dtype: float32, layout: NCHW, shape: [1, 11, h8, w8], stride: 8 }
`;
    await Deno.writeTextFile(
      join(dir, "nhwc.yaml"),
      card("{ name: features, dtype: float32, layout: NHWC, shape: [1, h8, w8, 24] }"),
    );
    await Deno.writeTextFile(
      join(dir, "s16.yaml"),
      card("{ name: features, dtype: float32, layout: NCHW, shape: [1, 24, h16, w16], stride: 16 }"),
    );
    const graph = (head: string, features: string) =>
      testingGraphHead + `models: { seg: seg, features: seg-features, head: ${head} }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
  - { id: features, kind: model, model: features, out: { features: features } }
  - { id: head, kind: model, model: head, in: { features: ${features} } }
`;
    assert.match(
      await rejection(graph("seg-head", "labels")),
      /^test\.yaml:8:47: stage 'head': input 'features' is slot 'labels', uint8 NHW label map, stride 1, but model 'seg-head' \(.*seg-head\.yaml\) takes float32 in 'features'$/,
    );
    assert.match(
      await rejection(graph(join(dir, "nhwc.yaml"), "features")),
      /^test\.yaml:8:47: stage 'head': input 'features' is slot 'features', float32 NCHW tensor, 24 channels, stride 8, but model 'head' \(.*nhwc\.yaml\) takes layout NHWC in 'features'$/,
    );
    assert.match(
      await rejection(graph(join(dir, "s16.yaml"), "features")),
      /^test\.yaml:8:47: stage 'head': input 'features' is slot 'features', a grid of stride 8, but model 'head' \(.*s16\.yaml\) takes stride 16 in 'features'$/,
    );
  });
});

Deno.test("check: DVSNet's decision reaches its flow stage through a feedback edge (a back edge)", async () => {
  // The rejected wirings (no feedback output, no back edge, a guarded writer, across regions): stage_state_test.ts.
  const dvsnet = await methodGraph("dvsnet", "testing");
  const edges = [...dvsnet.plan!.slots.values()].filter((s) => s.type.kind === "feedback");
  assert.deepEqual(edges.map((s) => [s.name, s.writer, s.readers]), [["became_key", "decide", ["flow"]]]);
});

Deno.test("describe: each method graph prints a plan line for every slot", async () => {
  for (const name of methodGraphs) {
    const graph = await methodGraph(name);
    const text = graphToText(graph);
    const plan = text.slice(text.indexOf("\nplan:\n"));
    assert.ok(plan.length > 0, `${name}: describe prints a plan`);
    const slots = new Set(["image", ...[...graph.stages, ...graph.sinks].flatMap((n) => Object.values(n.outputs))]);
    for (const slot of slots) {
      assert.match(
        plan,
        new RegExp(
          `\\n  ${slot}: kind=\\w+ dtype=\\S+ layout=\\S+ channels=\\S+ (stride|grid)=\\S+ location=(main|worker) writer=\\S+ readers=\\S+`,
        ),
        `${name}: slot '${slot}'`,
      );
    }
  }
  const { code, stdout } = await cli(["describe", "graphs/dff.yaml", "--models", "synthetic"]);
  assert.equal(code, 0);
  assert.match(
    stdout,
    /\n {2}flow: kind=tensor dtype=float32 layout=NCHW channels=2 stride=16 location=\w+ writer=flow readers=warp,score\n/,
  );
});

Deno.test("kinds: every stage and sink kind lists its in: and out: ports, computed ones from portsDoc", async () => {
  const { code, stdout } = await cli(["kinds"]);
  assert.equal(code, 0);
  const listed = stdout.slice(stdout.indexOf("\nstages:\n"));
  for (const definition of builtinRegistry().stages.values()) {
    const block = listed.slice(listed.indexOf(`\n  ${definition.kind}: `) + 1).split(/\n {2}\S/)[0]!;
    assert.match(block, /\n {6}in: \S/, `${definition.kind} lists its inputs`);
    assert.match(block, /\n {6}out: \S/, `${definition.kind} lists its outputs`);
  }
  assert.match(listed, /\n {2}model: [^\n]*\n(?: {6}[^\n]*\n)* {6}in: <one per model input/);
  assert.match(
    listed,
    /\n {2}flow: [^\n]*\n(?: {6}[^\n]*\n)* {6}in: [^\n]*decided \(reference: decided, a feedback edge\)/,
  );
});
