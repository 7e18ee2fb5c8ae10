/**
 * The compiled, typed plan (engine/plan.ts): slot types from cards and engine ops, `check` rejecting each
 * producer/consumer mismatch at `file:line:column`, the feedback edge, and `describe` printing the plan.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadGraphText } from "../engine/graph.ts";
import { compilePlan } from "../engine/plan.ts";
import { graphToText } from "../cli/describe.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { cli } from "./_cli.ts";
import { methodGraphs, modelsRoot, testSetup, withTempDir } from "./_helpers.ts";

const testing = `name: t
model_set: testing
source: { kind: pattern, frames: 2 }
`;

/** Loads graph `text` as test.yaml and returns the message it is rejected with. */
async function rejection(text: string): Promise<string> {
  const { registry } = testSetup();
  const error = await loadGraphText("test.yaml", text, { registry, modelsRoot }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(error, "expected the graph to be rejected");
  return error.message;
}

async function methodGraph(name: string, modelSet = "synthetic") {
  const { registry } = testSetup();
  const text = await Deno.readTextFile(new URL(`../graphs/${name}.yaml`, import.meta.url));
  return await loadGraphText(`${name}.yaml`, text, { registry, modelsRoot, modelSet });
}

Deno.test("compilePlan: DFF's slots carry kind, dtype, layout, channels, stride, location, writer and readers", async () => {
  const graph = await methodGraph("dff");
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

Deno.test("check: argmax over a label map, or over scores that are not one per class, fails at its 'in'", async () => {
  const seg = testing + `models: { seg: seg, s1: seg-s1 }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
`;
  assert.match(
    await rejection(seg + `  - { id: argmax, kind: argmax, in: { scores: labels } }\n`),
    /^test\.yaml:7:37: stage 'argmax': input 'scores' is slot 'labels', a label map, not class scores \(uint8 NHW label map, stride 1\)$/,
  );
  assert.match(
    await rejection(
      seg + `  - { id: s1, kind: model, model: s1, out: { feat1: feat1 } }
  - { id: argmax, kind: argmax, in: { scores: feat1 } }
`,
    ),
    /^test\.yaml:8:37: stage 'argmax': input 'scores' is slot 'feat1' with 8 channels, but the model set has 11 classes \(Sky, Building, \.\.\.\)$/,
  );
});

Deno.test("check: warp needs a 2-channel flow grid and a float32 source", async () => {
  const base = testing + `models: { seg: seg, flow: flow }
stages:
  - { id: key, kind: decide, every: 4, out: { key: key } }
  - { id: seg, kind: model, model: seg, out: { scores: scores, labels: labels } }
  - { id: flow, kind: flow, model: flow, in: { image: image, key: key }, out: { flow: flow } }
`;
  assert.match(
    await rejection(base + `  - { id: warp, kind: warp, in: { source: scores, flow: scores, key: key } }\n`),
    /^test\.yaml:9:33: stage 'warp': input 'flow' is slot 'scores' with 11 channels, but a flow field \(dx, dy\) has 2$/,
  );
  assert.match(
    await rejection(base + `  - { id: warp, kind: warp, in: { source: scores, flow: labels, key: key } }\n`),
    /^test\.yaml:9:33: stage 'warp': input 'flow' is slot 'labels' \(uint8 NHW label map, stride 1\), not a flow grid/,
  );
  assert.match(
    await rejection(base + `  - { id: warp, kind: warp, in: { source: labels, flow: flow, key: key } }\n`),
    /^test\.yaml:9:33: stage 'warp': input 'source' is slot 'labels' \(uint8 NHW label map, stride 1\), but warp samples float32 maps/,
  );
});

Deno.test("check: fuse operands need equal channels, and 'a' the finest grid", async () => {
  const base = testing + `models: { s1: seg-s1, s3: seg-s3 }
stages:
  - { id: s1, kind: model, model: s1, out: { score1: score1, feat1: feat1 } }
`;
  assert.match(
    await rejection(base + `  - { id: fuse, kind: fuse, method: sum, in: { a: score1, b: feat1 } }\n`),
    /^test\.yaml:7:46: stage 'fuse': inputs 'a' \(slot 'score1', 11 channels\) and 'b' \(slot 'feat1', 8 channels\) must have the same channels$/,
  );
  const coarse = base + `  - { id: s3, kind: model, model: s3, in: { feat2: feat2 }, out: { score3: score3 } }\n`;
  // seg-s3 reads feat2 (8 channels, any stride): feed it feat1 under that name.
  const graph = coarse.replace("feat1: feat1 }", "feat1: feat2 }");
  assert.match(
    await rejection(graph + `  - { id: fuse, kind: fuse, method: mean, in: { a: score3, b: score1 } }\n`),
    /^test\.yaml:8:47: stage 'fuse': input 'b' is slot 'score1' at stride 8, finer than 'a' \(slot 'score3', stride 32\), whose grid the result takes; bind the finest map to 'a'$/,
  );
  // Coarser operands are resized to a's grid: fine.
  const { registry } = testSetup();
  await loadGraphText(
    "test.yaml",
    graph + `  - { id: fuse, kind: fuse, method: mean, in: { a: score1, b: score3 } }\n`,
    {
      registry,
      modelsRoot,
    },
  );
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
      testing + `models: { seg: seg, features: seg-features, head: ${head} }
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
