import assert from "node:assert/strict";
import { relative, resolve } from "node:path";
import { GraphError, UsageError } from "../engine/errors.ts";
import { loadGraphText } from "../engine/graph_load.ts";
import { graphFrom, modelsRoot, testSetup } from "./_helpers.ts";

async function errorOf(text: string, extra: { overrides?: string[]; modelSet?: string } = {}): Promise<Error> {
  const { registry } = testSetup();
  const error = await graphFrom(text, registry, extra).then(() => undefined, (e: Error) => e);
  assert.ok(error, "expected the graph to be rejected");
  return error;
}

const base = `name: t
model_set: testing
source: { kind: pattern, frames: 2 }
models:
  seg: seg
`;

Deno.test("loadGraph: an unknown stage kind names line, column and the closest kind", async () => {
  const error = await errorOf(
    base + `stages:
  - id: s
    kind: segmnt
    model: seg
`,
  );
  assert.ok(error instanceof GraphError);
  assert.equal(error.message, "test.yaml:8:11: unknown stage kind 'segmnt' (did you mean 'model'?)");
});

Deno.test("loadGraph: an unknown parameter suggests the right one", async () => {
  const error = await errorOf(
    base + `stages:
  - id: s
    kind: model
    modle: seg
`,
  );
  assert.equal(error.message, "test.yaml:9:5: stage 's': unknown parameter 'modle' (did you mean 'model'?)");
});

Deno.test("loadGraph: a slot read before any stage writes it is placed at the stage's 'in'", async () => {
  const error = await errorOf(
    base + `stages:
  - id: s
    kind: model
    model: seg
    out: { labels: labels }
sinks:
  - kind: labels-png
    in: { labels: lables }
`,
  );
  assert.equal(
    error.message,
    "test.yaml:13:9: sink 'labels-png' reads slot 'lables' before any stage writes it (did you mean 'labels'?)",
  );
});

Deno.test("loadGraph: a wrong parameter type or range names the value", async () => {
  const error = await errorOf(
    base + `execution:
  max_in_flight: 0
stages: []
`,
  );
  assert.equal(error.message, "test.yaml:7:18: execution: 'max_in_flight' must be at least 1, got 0");
  const typeError = await errorOf(
    base + `stages:
  - id: s
    kind: model
    model: seg
    concurrency: two
`,
  );
  assert.equal(typeError.message, "test.yaml:10:18: stage 's': 'concurrency' must be an integer, got \"two\"");
});

Deno.test("loadGraph: a missing model card names the set and how to pick another", async () => {
  const error = await errorOf(`name: t
model_set: nowhere
source: { kind: pattern }
models:
  seg: seg
stages: []
`);
  assert.match(
    error.message,
    /^test\.yaml:5:8: model 'seg': no card at '.*models\/nowhere\/seg\.yaml' in model set 'nowhere' \(choose another with --models\)$/,
  );
});

Deno.test("loadGraph: a model port that the ONNX file does not have is rejected with suggestions", async () => {
  const error = await errorOf(
    base + `stages:
  - id: s
    kind: model
    model: seg
    in: { imgae: image }
`,
  );
  assert.equal(error.message, "test.yaml:10:11: stage 's' has no input 'imgae' (did you mean 'image'?)");
});

Deno.test("loadGraph: 'when' on a slot that is not boolean is rejected", async () => {
  const error = await errorOf(
    base + `stages:
  - id: s
    kind: model
    model: seg
    out: { scores: scores }
  - id: t
    kind: model
    model: seg
    when: scores
`,
  );
  assert.equal(
    error.message,
    "test.yaml:14:11: stage 't' when needs a boolean in slot 'scores', but 's' writes a tensor there",
  );
});

Deno.test("loadGraph: YAML syntax errors, unknown top-level keys and duplicate ids are placed", async () => {
  const syntax = await errorOf("name: t\nstages: [\n");
  assert.match(syntax.message, /^test\.yaml:\d+:\d+: invalid YAML: /);
  const key = await errorOf(base + "stage: []\n");
  assert.equal(key.message, "test.yaml:6:1: unknown key 'stage' (did you mean 'stages'?)");
  const duplicate = await errorOf(
    base + `stages:
  - { id: s, kind: model, model: seg }
  - { id: s, kind: model, model: seg }
`,
  );
  assert.equal(duplicate.message, "test.yaml:8:11: id 's' is used twice");
});

Deno.test("loadGraph: --set overrides parameters and names the flag in its errors", async () => {
  const { registry } = testSetup();
  const graph = await graphFrom(
    base + `stages:
  - { id: s, kind: model, model: seg }
`,
    registry,
    { overrides: ["s.concurrency=3", "source.frames=7"] },
  );
  assert.equal(graph.stages[0]!.params.concurrency, 3);
  assert.equal(graph.source.params.frames, 7);
  const unknownStage = await errorOf(base + "stages:\n  - { id: s, kind: model, model: seg }\n", {
    overrides: ["seg.concurrency=3"],
  });
  assert.equal(unknownStage.message, "--set seg.concurrency=3: no stage or sink 'seg' (did you mean 's'?)");
  const badValue = await errorOf(base + "stages:\n  - { id: s, kind: model, model: seg }\n", {
    overrides: ["s.concurrency=-1"],
  });
  assert.equal(badValue.message, "--set s.concurrency=-1: stage 's': 'concurrency' must be at least 1, got -1");
});

Deno.test("loadGraph: --set models.<alias>=<card> re-points a model alias, checked like the file's value", async () => {
  const { registry } = testSetup();
  const graph = `${base}  lite: seg-lite
stages:
  - { id: s, kind: model, model: seg }
`;
  const swapped = await graphFrom(graph, registry, { overrides: ["models.seg=seg-lite"] });
  assert.equal(swapped.models.get("seg")!.name, "seg-lite");
  assert.match(swapped.models.get("seg")!.cardFile, /models\/testing\/seg-lite\.yaml$/);
  assert.equal(swapped.models.get("lite")!.name, "seg-lite");
  // A card path on the command line is the working directory's, not the graph file's.
  const card = relative(Deno.cwd(), resolve(modelsRoot, "testing", "seg-lite.yaml"));
  const byPath = await graphFrom(graph, registry, { overrides: [`models.seg=${card}`] });
  assert.equal(byPath.models.get("seg")!.name, "seg-lite");

  const unknown = await errorOf(graph, { overrides: ["models.sge=seg-lite"] });
  assert.ok(unknown instanceof UsageError);
  assert.equal(unknown.message, "--set models.sge=seg-lite: no model 'sge' under 'models' (did you mean 'seg'?)");
  const missing = await errorOf(graph, { overrides: ["models.seg=seg-large"] });
  assert.ok(missing instanceof UsageError);
  assert.match(
    missing.message,
    /^--set models\.seg=seg-large: model 'seg': no card at '.*models\/testing\/seg-large\.yaml' in model set 'testing' \(choose another with --models\)$/,
  );
  const notAName = await errorOf(graph, { overrides: ["models.seg=[1]"] });
  assert.equal(notAName.message, "--set models.seg=[1]: 'models.seg' must be a non-empty string, got [1]");
  const none = await errorOf("source: { kind: pattern, frames: 2 }\nstages: []\n", {
    overrides: ["models.seg=seg"],
  });
  assert.equal(
    none.message,
    "--set models.seg=seg: no model 'seg' under 'models' (the graph lists no models; --set models.<alias> re-points " +
      "one it lists)",
  );
  const misspeltTarget = await errorOf(graph, { overrides: ["model.seg=seg"] });
  assert.equal(misspeltTarget.message, "--set model.seg=seg: no stage or sink 'model' (did you mean 'models'?)");
});

Deno.test("loadGraph: a card whose output names differ from the ONNX file is rejected at the card's line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(new URL("../models/testing/seg.onnx", import.meta.url), `${dir}/m.onnx`);
    await Deno.writeTextFile(
      `${dir}/m.yaml`,
      `name: m
task: segmentation
file: m.onnx
inputs:
  - { name: image, dtype: uint8, layout: NHWC, shape: [1, H, W, 3] }
outputs:
  - { name: score, dtype: float32, layout: NCHW, shape: [1, 11, H, W] }
`,
    );
    const error = await errorOf(`source: { kind: pattern }\nmodels: { m: ${dir}/m.yaml }\nstages: []\n`);
    assert.equal(error.message, `${dir}/m.yaml:7:13: the ONNX file has no output 'score' (did you mean 'scores'?)`);
    await Deno.writeTextFile(
      `${dir}/m.yaml`,
      `name: m
task: segmentation
file: m.onnx
inputs:
  - { name: image, dtype: uint8, layout: NHWC, shape: [1, H, W] }
outputs:
  - { name: scores, dtype: float32, layout: NCHW, shape: [1, 11, H, W] }
`,
    );
    const rank = await errorOf(`source: { kind: pattern }\nmodels: { m: ${dir}/m.yaml }\nstages: []\n`);
    assert.match(
      rank.message,
      /m\.yaml:5:55: input 'image' has rank 4 in the ONNX file \[1,H,W,3\], card says rank 3$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadGraph: --set source.* applies to the source --input chooses, checked against its kind", async () => {
  const { registry } = testSetup();
  const root = await Deno.makeTempDir();
  try {
    for (const sequence of ["bear", "cows"]) {
      await Deno.mkdir(`${root}/JPEGImages/480p/${sequence}`, { recursive: true });
    }
    const graph = base + "stages:\n  - { id: s, kind: model, model: seg }\n";
    const warnings: string[] = [];
    const load = (overrides: string[]) =>
      loadGraphText("test.yaml", graph, {
        registry,
        modelsRoot,
        input: root,
        overrides,
        warn: (message) => warnings.push(message),
      });
    const chosen = await load(["source.sequences=[cows]", "source.fps=30"]);
    assert.equal(chosen.source.kind, "davis");
    assert.deepEqual(chosen.source.params.sequences, ["cows"]);
    assert.equal(chosen.source.params.fps, 30);
    // The file's own source parameters belong to its kind ('pattern' here) and are not read.
    assert.equal((await load([])).source.params.frames, undefined);
    // A flag only the file's kind has is skipped with a warning; one neither kind has is an error.
    assert.equal((await load(["source.frames=3"])).source.params.frames, undefined);
    assert.deepEqual(warnings, ["--set source.frames=3: the davis source --input chose has no 'frames'; flag ignored"]);
    const unknown = await load(["source.fsp=3"]).then(() => undefined, (e: Error) => e);
    assert.ok(unknown instanceof UsageError);
    assert.match(unknown.message, /^--set source\.fsp=3: source: unknown parameter 'fsp'/);
    const kind = await load(["source.kind=pattern"]).then(() => undefined, (e: Error) => e);
    assert.equal(
      kind?.message,
      `--set source.kind=pattern: --input '${root}' chooses the source kind; drop the source.kind flag`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
