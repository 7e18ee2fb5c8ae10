/**
 * Whole-graph checks (engine/graph_checks.ts) and the bad-input checks around sources: what `check` catches that
 * would otherwise hang or mislead at run time, declared frame sizes, malformed y4m headers, first-mask sizes.
 */
import assert from "node:assert/strict";
import { GraphError, InputError, UsageError } from "../engine/errors.ts";
import { assertFrameSize } from "../engine/frame_limits.ts";
import { loadGraphText } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { encodeIndexedPng } from "../datasets/png.ts";
import { parseY4mHeader } from "../datasets/y4m.ts";
import { cli, errorLine } from "./_cli.ts";
import {
  graphError,
  graphFrom,
  modelsRoot,
  segmentationGraphs,
  testingGraphHead,
  testingSetOverrides,
  testSetup,
  withTempDir,
} from "./_helpers.ts";
import type { Registry } from "../engine/registry.ts";

/** A PML graph (testing set's embed model, then knn) over 32x16 fake frames with `firstMask` as its first mask. */
const pmlGraph = (firstMask: string, registry: Registry) =>
  graphFrom(
    `model_set: testing
source: { kind: fake, frames: 2, width: 32, height: 16 }
models: { embed: embed }
stages:
  - { id: embed, kind: model, model: embed, out: { embedding: embedding } }
  - { id: pml, kind: knn, first_mask: ${firstMask}, in: { embedding: embedding }, out: { labels: labels } }
`,
    registry,
    { modelSet: "testing" },
  );

Deno.test("assertFrameSize: sizes that are zero, negative, fractional, too large or over 1 GiB fail in one line", () => {
  assertFrameSize("stdin", 16384, 16384);
  assert.throws(
    () => assertFrameSize("stdin", 100000, 100000),
    (e: Error) =>
      e instanceof InputError &&
      e.message === "stdin: frame size 100000x100000 is not plausible (at most 16384 per side and 1 GiB per frame)",
  );
  for (const [w, h] of [[0, 10], [-5, 10], [10.5, 10], [NaN, 10], [16385, 1]]) {
    assert.throws(() => assertFrameSize("clip.y4m", w!, h!), /^InputError: clip\.y4m: frame size .* is not plausible/);
  }
});

Deno.test("parseY4mHeader: missing W/H, garbage sizes and bad rates are one-line errors", () => {
  assert.throws(() => parseY4mHeader("YUV4MPEG2 H480 F25:1"), /y4m header has no W \(width\)/);
  assert.throws(() => parseY4mHeader("YUV4MPEG2 F25:1"), /y4m header has no W \(width\) and H \(height\)/);
  assert.throws(() => parseY4mHeader("YUV4MPEG2 Wabc H480"), /frame size abcx480 is not plausible/);
  assert.throws(() => parseY4mHeader("YUV4MPEG2 W1e5 H480"), /frame size 1e5x480 is not plausible/);
  assert.throws(() => parseY4mHeader("YUV4MPEG2 W640 H480 F-25:1"), /frame rate 'F-25:1'/);
  assert.equal(parseY4mHeader("YUV4MPEG2 W640 H480 F0:0").fps, 25);
});

Deno.test("run CLI: implausible or malformed stdin headers and --size fail with one line before any frame", async () => {
  const cases: [string[], string, string][] = [
    [
      [],
      "YUV4MPEG2 W100000 H100000 F25:1\nFRAME\n",
      "error: stdin: frame size 100000x100000 is not plausible (at most 16384 per side and 1 GiB per frame)",
    ],
    [
      [],
      "YUV4MPEG2 W0 H480 F25:1\n",
      "error: stdin: frame size 0x480 is not plausible (sides must be whole numbers of pixels, 1 to 16384)",
    ],
    [
      [],
      "YUV4MPEG2 H480 F25:1\n",
      "error: stdin: y4m header has no W (width); expected e.g. 'YUV4MPEG2 W640 H480 F25:1'",
    ],
    [[], "garbage\n", "error: stdin: not a YUV4MPEG2 stream (expected 'YUV4MPEG2' header)"],
    [
      [],
      "YUV4MPEG2 W64 " + "x".repeat(10000),
      "error: stdin: not a YUV4MPEG2 stream (no header line within 4096 bytes)",
    ],
    [
      ["--size", "100000x100000"],
      "",
      "error: stdin: frame size 100000x100000 is not plausible (at most 16384 per side and 1 GiB per frame)",
    ],
    [
      ["--size", "0x10"],
      "",
      "error: stdin: frame size 0x10 is not plausible (sides must be whole numbers of pixels, 1 to 16384)",
    ],
    [
      ["--size=-5x10"],
      "",
      "error: stdin: frame size -5x10 is not plausible (sides must be whole numbers of pixels, 1 to 16384)",
    ],
    [["--size", "wide"], "", "error: '--size' must be WIDTHxHEIGHT, got 'wide'"],
  ];
  await withTempDir(async (out) => {
    for (const [flags, stdin, expected] of cases) {
      const result = await cli(["run", "graphs/per-frame.yaml", "--input", "-", ...flags, "--output", out], stdin);
      assert.equal(result.code, 1, expected);
      assert.equal(errorLine(result.stderr), expected);
    }
  });
});

Deno.test("check and run: a source that declares an implausible frame size fails before the first frame", async () => {
  const { registry } = testSetup();
  const error = await graphError(`name: t\nsource: { kind: fake, frames: 2, width: 20000, height: 8 }\nstages: []\n`);
  assert.equal(
    error.message,
    "test.yaml:2:41: source: frame size 20000x8 is not plausible (at most 16384 per side and 1 GiB per frame)",
  );
  // A source whose size is known only once it is open (a y4m header, a video's stream) is checked then.
  const graph = await graphFrom(`source: { kind: fake, frames: 2, width: 8, height: 8 }\nstages: []\n`, registry);
  graph.source.params.width = 20000;
  await assert.rejects(
    runGraph(graph, { quiet: true }),
    /^InputError: fake: frame size 20000x8 is not plausible \(at most 16384 per side and 1 GiB per frame\)$/,
  );
});

Deno.test("check: argmax over a map that is not one score per class names the slot, channels and classes", async () => {
  const dff = (await Deno.readTextFile(new URL("../graphs/dff-features.yaml", import.meta.url))).replace(
    "in: { scores: scores }",
    "in: { scores: key_features }",
  );
  const error = await graphError(dff, { modelSet: "synthetic" });
  assert.ok(error instanceof GraphError);
  assert.match(
    error.message,
    /^test\.yaml:\d+:9: stage 'argmax': input 'scores' is slot 'key_features' with 400 channels, but the model set has 11 classes \(Sky, Building, \.\.\.\)$/,
  );
  const lite = await graphError(
    testingGraphHead + `models: { s1: seg-s1 }
stages:
  - { id: s1, kind: model, model: s1, out: { feat1: feat1 } }
  - { id: merge, kind: merge-regions, in: { scores: feat1 } }
`,
  );
  assert.match(
    lite.message,
    /stage 'merge': input 'scores' is slot 'feat1' with 8 channels, but the model set has 11 classes/,
  );
  const head = await graphError(
    testingGraphHead + `models: { s1: seg-s1 }
stages:
  - { id: s1, kind: model, model: s1, scores_from: feat1, out: { labels: labels } }
`,
  );
  assert.match(
    head.message,
    /^test\.yaml:6:52: stage 's1': 'labels' argmaxes output 'feat1' with 8 channels, but the model set has 11 classes/,
  );
});

Deno.test("check: a model input or fuse operand fed a map with other channels fails; the method graphs pass", async () => {
  const input = await graphError(
    testingGraphHead + `models: { s1: seg-s1, head: seg-head }
stages:
  - { id: s1, kind: model, model: s1, out: { score1: score1 } }
  - { id: head, kind: model, model: head, in: { features: score1 } }
`,
  );
  assert.match(
    input.message,
    /^test\.yaml:7:47: stage 'head': input 'features' is slot 'score1' with 11 channels, but model 'seg-head' \(.*seg-head\.yaml\) takes 24 in 'features'$/,
  );
  const fuse = await graphError(
    testingGraphHead + `models: { s1: seg-s1 }
stages:
  - { id: s1, kind: model, model: s1, out: { score1: score1, feat1: feat1 } }
  - { id: fuse, kind: fuse, method: sum, in: { a: score1, b: feat1 } }
`,
  );
  assert.match(
    fuse.message,
    /stage 'fuse': inputs 'a' \(slot 'score1', 11 channels\) and 'b' \(slot 'feat1', 8 channels\)/,
  );
  const { registry } = testSetup();
  for (const name of segmentationGraphs) {
    const text = await Deno.readTextFile(new URL(`../graphs/${name}.yaml`, import.meta.url));
    for (const modelSet of ["testing", "synthetic", "camvid"]) {
      const overrides = modelSet === "testing" ? testingSetOverrides(name) : [];
      await loadGraphText(`${name}.yaml`, text, { registry, modelsRoot, modelSet, overrides });
    }
  }
});

Deno.test("check: a source path that does not exist is named, at the source or as --input", async () => {
  for (const kind of ["video", "images", "camvid", "davis", "y4m", "cityscapes"]) {
    const error = await graphError(`name: t\nsource: { kind: ${kind}, path: /nonexistent/nope.mp4 }\nstages: []\n`);
    assert.ok(error instanceof GraphError, kind);
    assert.match(error.message, /^test\.yaml:2:\d+: source: path '\/nonexistent\/nope\.mp4' does not exist$/);
  }
  const size = await graphError(`name: t\nsource: { kind: pattern }\nstages: []\n`, { size: "64x64" });
  assert.equal(size.message, "--size 64x64: raw rgb24 input needs --input - (stdin) or --input FILE");
  const raw = await graphError(`name: t\nsource: { kind: raw, size: 100000x100000 }\nstages: []\n`);
  assert.equal(
    raw.message,
    "test.yaml:2:9: source: stdin: frame size 100000x100000 is not plausible (at most 16384 per side and 1 GiB per frame)",
  );
  const flag = await graphError(`name: t\nsource: { kind: pattern }\nstages: []\n`, { input: "/nonexistent/nope.mp4" });
  assert.ok(flag instanceof UsageError);
  assert.equal(flag.message, "--input '/nonexistent/nope.mp4': no such file or folder");
});

Deno.test("check: an unknown --ep or execution.ep fails before any model loads, from the schema, suggesting the closest", async () => {
  const graph = `name: t\nsource: { kind: pattern }\nexecution:\n  ep: gpu\nstages: []\n`;
  const choices = "'cpu', 'cuda', 'webgpu', 'cpu!', 'cuda!', 'webgpu!'";
  const flag = await graphError(graph, { execution: { ep: "cuad" } });
  assert.ok(flag instanceof UsageError);
  assert.equal(flag.message, `'--ep' must be one of ${choices}, got "cuad" (did you mean 'cuda'?)`);
  const file = await graphError(graph);
  assert.equal(
    file.message,
    `test.yaml:4:7: execution: 'ep' must be one of ${choices}, got "gpu" (did you mean 'cpu'?)`,
  );
  const result = await cli(["check", "graphs/per-frame.yaml", "--ep", "cuad!"]);
  assert.equal(result.code, 1);
  assert.equal(
    errorLine(result.stderr),
    `error: '--ep' must be one of ${choices}, got "cuad!" (did you mean 'cuda!'?)`,
  );
});

Deno.test("check: a first_mask file that does not exist is named at the parameter", async () => {
  const error = await graphError(
    `name: t\nsource: { kind: pattern }\nstages:\n  - { id: first, kind: first-mask, first_mask: /nonexistent/00000.png }\n`,
  );
  assert.equal(error.message, "test.yaml:4:48: stage 'first': first mask '/nonexistent/00000.png' is not a file");
});

Deno.test("first-mask and knn: a first mask whose size differs from the frames names both sizes", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/00000.png`;
    await Deno.writeFile(file, encodeIndexedPng(new Uint8Array(16 * 8), 16, 8, [[0, 0, 0], [255, 255, 255]]));
    const { registry } = testSetup();
    const copy = await graphFrom(
      `source: { kind: fake, frames: 2, width: 32, height: 16 }
stages:
  - { id: first, kind: first-mask, first_mask: ${file}, out: { labels: labels } }
`,
      registry,
    );
    await assert.rejects(runGraph(copy, { quiet: true }), (e: Error) => {
      assert.match(e.message, new RegExp(`first mask ${file} is 16x8 but the frames of fake are 32x16`));
      return true;
    });
    const pml = await pmlGraph(file, registry);
    await assert.rejects(runGraph(pml, { quiet: true }), (e: Error) => {
      assert.match(e.message, new RegExp(`first mask ${file} is 16x8 but the frames of fake are 32x16`));
      return true;
    });
  });
});

Deno.test("check: score maps wired to label inputs, non-flow maps to warp's flow and unknown box classes fail", async () => {
  const seg = testingGraphHead + `models: { seg: seg, flow: flow }
stages:
  - { id: seg, kind: model, model: seg, out: { scores: scores } }
`;
  const labels = await graphError(seg + `sinks:\n  - { kind: labels-png, dir: /tmp/x, in: { labels: scores } }\n`);
  assert.equal(
    labels.message,
    "test.yaml:8:42: sink 'labels-png': input 'labels' is slot 'scores', a map with 11 channels, not a label map " +
      "(argmax it first: an 'argmax' stage, or the model stage's 'labels' output)",
  );
  const warp = await graphError(
    seg + `  - { id: first, kind: decide, every: 4, out: { key: key } }
  - { id: warp, kind: warp, in: { source: scores, flow: scores, key: key } }
`,
  );
  assert.match(
    warp.message,
    /stage 'warp': input 'flow' is slot 'scores' with 11 channels, but a flow field \(dx, dy\) has 2$/,
  );
  const boxes = await graphError(
    seg + `  - { id: seg2, kind: model, model: seg, out: { labels: labels } }
  - { id: boxes, kind: boxes, model: seg, classes: [Car, Tram], in: { labels: labels } }
`,
  );
  assert.match(boxes.message, /^test\.yaml:8:52: stage 'boxes': 'classes': model 'seg' has no class 'Tram'/);
});

Deno.test("check: a decision model's fixed grid must match the flow stage's features_grid", async () => {
  const dvsnet = await Deno.readTextFile(new URL("../graphs/dvsnet.yaml", import.meta.url));
  const pooled = await graphError(dvsnet.replace("features_grid: [4, 8]", "features_grid: [2, 2]"), {
    modelSet: "testing",
  });
  assert.match(
    pooled.message,
    /stage 'decide': input 'features' is slot 'flow_features', pooled to 2x2 by 'flow' \(features_grid\), but model 'decision' takes a fixed 4x8 grid$/,
  );
  const unpooled = await graphError(dvsnet.replace("features_grid: [4, 8]", ""), { modelSet: "testing" });
  assert.match(
    unpooled.message,
    /unpooled features, but model 'decision' takes a fixed 4x8 grid \(set 'features_grid: \[4, 8\]' on 'flow'\)$/,
  );
});

Deno.test("decodeIndexedPng: a header declaring an implausible size fails before inflating", async () => {
  const { decodeIndexedPng } = await import("../datasets/png.ts");
  const png = encodeIndexedPng(new Uint8Array(4), 2, 2, [[0, 0, 0]]);
  new DataView(png.buffer, png.byteOffset).setUint32(16, 100000); // IHDR width
  assert.throws(() => decodeIndexedPng(png), /^SyntaxError: image size 100000x2 is not plausible/);
});

Deno.test("check: a slot written only under 'when' and read on every frame, or a guard written later, fails", async () => {
  const guarded = testingGraphHead + `models: { seg: seg }
stages:
  - { id: key, kind: decide, every: 5, out: { key: is_key } }
  - { id: seg, kind: model, model: seg, when: is_key, out: { scores: key_scores } }
`;
  const error = await graphError(guarded + `  - { id: argmax, kind: argmax, in: { scores: key_scores } }\n`);
  assert.equal(
    error.message,
    "test.yaml:8:37: stage 'argmax': input 'scores' is slot 'key_scores', which stage 'seg' writes only on frames " +
      "where 'is_key' is true; run 'argmax' under the same 'when: is_key', or keep the last value with a 'hold' stage",
  );
  // Under the same guard, or through hold, it is fine.
  const { registry } = testSetup();
  await graphFrom(
    guarded + `  - { id: held, kind: hold, in: { value: key_scores }, out: { value: scores } }
  - { id: argmax, kind: argmax, in: { scores: scores } }
`,
    registry,
  );
  await graphFrom(guarded + `  - { id: argmax, kind: argmax, when: is_key, in: { scores: key_scores } }\n`, registry);
  const later = await graphError(
    testingGraphHead + `models: { seg: seg }
stages:
  - { id: seg, kind: model, model: seg, when: is_key }
  - { id: key, kind: decide, every: 5, out: { key: is_key } }
`,
  );
  assert.match(later.message, /^test\.yaml:6:47: stage 'seg' when reads slot 'is_key' before any stage writes it/);
});

Deno.test("check: the frame fed to a feature model fails", async () => {
  const image = await graphError(
    testingGraphHead + `models: { head: seg-head }
stages:
  - { id: head, kind: model, model: head, in: { features: image } }
`,
  );
  assert.match(
    image.message,
    /stage 'head': input 'features' is slot 'image' with 3 channels, but model 'seg-head' .* takes 24 in 'features'$/,
  );
});

Deno.test("first-mask and knn: a first mask with an object id past 'objects' fails instead of losing the object", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/00000.png`;
    const ids = new Uint8Array(32 * 16);
    ids.fill(9, 0, 40);
    ids.fill(2, 40, 80);
    await Deno.writeFile(file, encodeIndexedPng(ids, 32, 16, Array.from({ length: 10 }, () => [0, 0, 0])));
    const { registry } = testSetup();
    const expected = new RegExp(
      `first mask ${file} has object id 9, but 'objects' is 8 \\(ids 0\\.\\.7\\); raise 'objects'`,
    );
    const copy = await graphFrom(
      `source: { kind: fake, frames: 2, width: 32, height: 16 }
stages:
  - { id: first, kind: first-mask, first_mask: ${file}, out: { scores: scores } }
`,
      registry,
    );
    await assert.rejects(runGraph(copy, { quiet: true }), expected);
    const pml = await pmlGraph(file, registry);
    await assert.rejects(runGraph(pml, { quiet: true }), expected);
    const enough = await graphFrom(
      `source: { kind: fake, frames: 2, width: 32, height: 16 }
stages:
  - { id: first, kind: first-mask, objects: 10, first_mask: ${file}, out: { scores: scores } }
`,
      registry,
    );
    await runGraph(enough, { quiet: true });
  });
});
