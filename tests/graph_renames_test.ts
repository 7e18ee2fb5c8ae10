import assert from "node:assert/strict";
import { loadGraphText } from "../engine/graph.ts";
import type { LoadedGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { cli } from "./_cli.ts";
import { modelsRoot, withTempDir } from "./_helpers.ts";

const head = `name: t
model_set: testing
source: { kind: pattern, frames: 3, width: 32, height: 24 }
models:
  seg: seg
stages:
`;

/** Loads `text` as `test.yaml`, collecting the warnings. */
async function load(text: string, overrides: string[] = []): Promise<{ graph: LoadedGraph; warnings: string[] }> {
  const warnings: string[] = [];
  const graph = await loadGraphText("test.yaml", text, {
    registry: builtinRegistry(),
    modelsRoot,
    overrides,
    warn: (message) => warnings.push(message),
  });
  return { graph, warnings };
}

/** The parts of a loaded graph that decide how it runs. */
function shape(graph: LoadedGraph) {
  return [...graph.stages, ...graph.sinks].map(({ id, kind, definition, params, inputs, outputs }) => ({
    id,
    kind,
    definition,
    params,
    inputs,
    outputs,
  }));
}

Deno.test("graph renames: 'kind: segment' loads as 'model' with exactly one warning naming file:line:column", async () => {
  const old = await load(head + "  - { id: s, kind: segment, model: seg, out: { labels: labels } }\n");
  assert.deepEqual(old.warnings, [
    "test.yaml:7:20: 'kind: segment' is now 'kind: model' (the old name is accepted until the next release)",
  ]);
  const current = await load(head + "  - { id: s, kind: model, model: seg, out: { labels: labels } }\n");
  assert.deepEqual(current.warnings, []);
  assert.equal(old.graph.stages[0]!.kind, "model");
  assert.deepEqual(shape(old.graph), shape(current.graph));
});

Deno.test("graph renames: 'kind: score' loads as 'evaluate' with exactly one warning", async () => {
  const stages = "  - { id: s, kind: model, model: seg, out: { labels: labels } }\n";
  const old = await load(head + stages + "  - { id: e, kind: score, missing_truth: skip }\n");
  assert.deepEqual(old.warnings, [
    "test.yaml:8:20: 'kind: score' is now 'kind: evaluate' (the old name is accepted until the next release)",
  ]);
  const current = await load(head + stages + "  - { id: e, kind: evaluate, missing_truth: skip }\n");
  assert.deepEqual(current.warnings, []);
  assert.deepEqual(shape(old.graph), shape(current.graph));
});

Deno.test("graph renames: 'lag: 0|1' loads as 'pipelined: false|true' with one warning; other values fail", async () => {
  for (const [lag, pipelined] of [[1, true], [0, false]] as const) {
    const old = await load(head + `  - { id: s, kind: model, model: seg, lag: ${lag} }\n`);
    assert.deepEqual(old.warnings, [
      `test.yaml:7:39: stage 's': 'lag: ${lag}' is now 'pipelined: ${pipelined}' (the old name is accepted until the next release)`,
    ]);
    const current = await load(head + `  - { id: s, kind: model, model: seg, pipelined: ${pipelined} }\n`);
    assert.deepEqual(current.warnings, []);
    assert.equal(old.graph.stages[0]!.params.pipelined, pipelined);
    assert.equal("lag" in old.graph.stages[0]!.params, false);
    assert.deepEqual(shape(old.graph), shape(current.graph));
  }
  // Both old names at once: one warning each.
  const both = await load(head + "  - { id: s, kind: segment, model: seg, lag: 1 }\n");
  assert.equal(both.warnings.length, 2);
  assert.equal(both.graph.stages[0]!.params.pipelined, true);

  const bad = await load(head + "  - { id: s, kind: model, model: seg, lag: 2 }\n").catch((e: Error) => e);
  assert.ok(bad instanceof Error);
  assert.equal(
    bad.message,
    "test.yaml:7:44: stage 's': 'lag' must be 0 or 1 (now 'pipelined: false|true'), got 2",
  );
  const twice = await load(head + "  - { id: s, kind: model, model: seg, lag: 1, pipelined: true }\n")
    .catch((e: Error) => e);
  assert.ok(twice instanceof Error);
  assert.equal(
    twice.message,
    "test.yaml:7:39: stage 's': 'lag' is the old name of 'pipelined'; keep 'pipelined' only",
  );
});

Deno.test("graph renames: --set s.lag=1 sets 'pipelined' (over the file's) and warns, naming the flag", async () => {
  const { graph, warnings } = await load(head + "  - { id: s, kind: model, model: seg, pipelined: false }\n", [
    "s.lag=1",
  ]);
  assert.equal(graph.stages[0]!.params.pipelined, true);
  assert.deepEqual(warnings, [
    "--set s.lag=1: stage 's': 'lag: 1' is now 'pipelined: true' (the old name is accepted until the next release)",
  ]);
  const bad = await load(head + "  - { id: s, kind: model, model: seg }\n", ["s.lag=3"]).catch((e: Error) => e);
  assert.ok(bad instanceof Error);
  assert.equal(bad.message, "--set s.lag=3: 'lag' must be 0 or 1 (now 'pipelined: false|true'), got 3");
});

Deno.test("graph renames: a graph with the old names runs exactly as the one with the new names", async () => {
  const run = async (model: string, evaluate: string) => {
    const { graph } = await load(
      head.replace("pattern, frames: 3, width: 32, height: 24", "synthetic, frames: 3, width: 64, height: 48") +
        `  - { id: s, kind: ${model}, model: seg, out: { labels: labels } }\n` +
        `  - { id: e, kind: ${evaluate}, in: { labels: labels } }\n`,
    );
    const report = await runGraph(graph, { quiet: true, warn: () => {} });
    return { frames: report.frames, metrics: report.metrics };
  };
  const old = await run("segment", "score");
  assert.equal(old.frames, 3);
  assert.ok(typeof old.metrics?.miou === "number");
  assert.deepEqual(old, await run("model", "evaluate"));
});

Deno.test("cli: check of a graph with an old kind name prints exactly one warning line, then ok", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/old.yaml`;
    await Deno.writeTextFile(file, head + "  - id: s\n    kind: segment\n    model: seg\n");
    const result = await cli(["check", file]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stderr.trim().split("\n"), [
      `warning: ${file}:8:11: 'kind: segment' is now 'kind: model' (the old name is accepted until the next release)`,
    ]);
    assert.match(result.stdout, /^ok: /);
  });
});

Deno.test("kinds: lists 'model' and 'evaluate' as kinds, and the old names only as renamed", async () => {
  const { code, stdout } = await cli(["kinds"]);
  assert.equal(code, 0);
  assert.match(stdout, /\n {2}model: Run a model/);
  assert.match(stdout, /\n {2}evaluate: Score outputs/);
  assert.match(stdout, /\n {6}pipelined \(boolean, default false\): /);
  assert.doesNotMatch(stdout, /\n {2}(segment|score): /);
  assert.doesNotMatch(stdout, /\n {6}lag /);
  assert.match(
    stdout,
    /\nrenamed \(old names load with a warning until the next release\): segment -> model, score -> evaluate, model\.lag -> model\.pipelined\n/,
  );
});
