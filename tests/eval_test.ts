/**
 * `deno task eval`: sweep expansion, the Pareto front, and a whole report (json, csv, md, html) written from
 * real runs of two method graphs on the testing cuts.
 */
import assert from "node:assert/strict";
import { expandVariants, parseSweeps } from "../eval/variants.ts";
import { paretoFront } from "../eval/table.ts";
import { keyDecision } from "../eval/collect.ts";
import type { Frame } from "../engine/frame.ts";
import { writeSyntheticDataset } from "../datasets/synthetic/write.ts";
import { cli } from "./_cli.ts";

Deno.test("parseSweeps / expandVariants: a sweep applies where the graph sets that stage parameter", () => {
  const sweeps = parseSweeps(["decide.every=2,5", "clock3.theta=0.1"]);
  assert.deepEqual(sweeps[0], { stage: "decide", param: "every", values: ["2", "5"] });
  const settable = (graph: string) =>
    new Set(graph.includes("dff") ? ["decide.every"] : graph.includes("adaptive") ? ["clock3.theta"] : []);
  const variants = expandVariants(
    ["graphs/per-frame.yaml", "graphs/dff.yaml", "graphs/cw-adaptive.yaml"],
    sweeps,
    settable,
  );
  assert.deepEqual(variants.map((v) => v.label), [
    "per-frame",
    "dff decide.every=2",
    "dff decide.every=5",
    "cw-adaptive clock3.theta=0.1",
  ]);
  assert.deepEqual(variants[1]!.overrides, ["decide.every=2"]);
  assert.throws(() => parseSweeps(["every=2"]), /--sweep 'every=2'/);
});

Deno.test("paretoFront keeps the points no other point beats on both fps and accuracy", () => {
  const front = paretoFront([
    { fps: 10, accuracy: 0.8 }, // front (most accurate)
    { fps: 20, accuracy: 0.7 }, // front
    { fps: 15, accuracy: 0.6 }, // dominated by (20, 0.7)
    { fps: 30, accuracy: 0.5 }, // front (fastest)
    { fps: 40, accuracy: null }, // no accuracy: never on the front
  ]);
  assert.deepEqual([...front].sort(), [0, 1, 3]);
});

Deno.test("keyDecision reads the graph's key slot, or DVSNet's per-region record", () => {
  const frame = (slots: [string, unknown][]) => ({ slots: new Map(slots) }) as unknown as Frame;
  assert.equal(keyDecision(frame([["is_key", true]]), { key: "is_key" }), 1);
  assert.equal(keyDecision(frame([["fire3", false]]), { key: "fire3" }), 0);
  const regions = { regions: [true, false, false, false], count: 1 };
  assert.equal(keyDecision(frame([["steps", regions]]), { key: "segmented", regions: "steps" }), 0.25);
  assert.equal(keyDecision(frame([["is_key", true]]), {}), null, "no decide stage: no decisions");
});

Deno.test("cli eval: two graphs and a sweep over one clip write results.json/csv/md and a self-contained index.html", async () => {
  const clip = await Deno.makeTempDir();
  const report = await Deno.makeTempDir();
  try {
    await writeSyntheticDataset(clip, { width: 128, height: 96, frames: 8, fps: 15, seed: 5 }, 1);
    const out = await cli([
      "eval",
      "graphs/per-frame.yaml",
      "graphs/dff.yaml",
      "--models",
      "testing",
      "--input",
      clip,
      "--sweep",
      "decide.every=2,4",
      "--report",
      report,
      "--quiet",
    ]);
    assert.equal(out.code, 0, out.stderr);
    const md = await Deno.readTextFile(`${report}/results.md`);
    for (const label of ["per-frame", "dff decide.every=2", "dff decide.every=4"]) assert.match(md, new RegExp(label));
    const json = JSON.parse(await Deno.readTextFile(`${report}/results.json`));
    assert.equal(json.results.length, 3);
    assert.equal(json.results[1].key_ratio, 0.5); // keys at frames 0, 2, 4, 6 of 8
    assert.equal(json.results[0].timeline.length, 8);
    const csv = (await Deno.readTextFile(`${report}/results.csv`)).trim().split("\n");
    assert.equal(csv.length, 4);
    assert.match(csv[0]!, /^method,graph,sweep,accuracy_metric,accuracy,fps/);
    const html = await Deno.readTextFile(`${report}/index.html`);
    assert.match(html, /<svg/);
    assert.match(html, /data:image\/jpeg;base64,/);
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, "no scripts, nothing fetched from the network");
  } finally {
    await Deno.remove(clip, { recursive: true });
    await Deno.remove(report, { recursive: true });
  }
});

Deno.test("cli eval: without --report or graphs it says what is missing in one line", async () => {
  const noReport = await cli(["eval", "graphs/per-frame.yaml"]);
  assert.equal(noReport.code, 1);
  assert.match(noReport.stderr, /^error: 'eval' needs --report DIR/m);
  const noGraphs = await cli(["eval", "--report", "/tmp/x"]);
  assert.match(noGraphs.stderr, /^error: 'eval' needs graph files/m);
});
