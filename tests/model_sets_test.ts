/**
 * `model_set: auto`: real frames never meet synthetic-world models silently. Synthetic frames run the
 * `synthetic` set, real frames the real-world set that has the graph's models, and the choice is named.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { loadGraph } from "../engine/graph.ts";
import { chooseModelSet, isSyntheticSource } from "../engine/model_sets.ts";
import { writeSyntheticDataset } from "../datasets/synthetic/write.ts";
import { modelsRoot, testSetup } from "./_helpers.ts";
import { cli } from "./_cli.ts";

/** A folder of two real-looking PNG frames (no synth marker). */
async function imageFolder(): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const name of ["a.png", "b.png"]) {
    await sharp(new Uint8Array(64 * 48 * 3).fill(90), { raw: { width: 64, height: 48, channels: 3 } }).png()
      .toFile(`${dir}/${name}`);
  }
  return dir;
}

Deno.test("model_set auto: synthetic frames run 'synthetic', real frames the real-world set with the models", async () => {
  const { registry } = testSetup();
  const real = await imageFolder();
  const synth = await Deno.makeTempDir();
  try {
    await writeSyntheticDataset(synth, { width: 64, height: 48, frames: 2, fps: 15, seed: 3 }, 1);
    const fromDefault = await loadGraph("graphs/per-frame.yaml", { registry, modelsRoot });
    assert.equal(fromDefault.modelSet, "synthetic");
    assert.equal(fromDefault.modelSetChoice.reason, "auto: synthetic frames");
    const fromReal = await loadGraph("graphs/dff.yaml", { registry, modelsRoot, input: real });
    assert.equal(fromReal.modelSet, "camvid");
    assert.equal(fromReal.modelSetChoice.warning, undefined);
    const fromSynthFolder = await loadGraph("graphs/accel.yaml", { registry, modelsRoot, input: `${synth}/val` });
    assert.equal(fromSynthFolder.modelSet, "synthetic", "a folder written by 'deno task synth' is synthetic");
    // PML's real-video embedding is in the camvid set: real frames run it, without a warning.
    const pml = await loadGraph("graphs/pml-vos.yaml", { registry, modelsRoot, input: real });
    assert.equal(pml.modelSet, "camvid");
    assert.equal(pml.modelSetChoice.warning, undefined);
    // A model no real-world set has: the synthetic set runs, with a warning naming what is missing.
    const lacking = await chooseModelSet({
      modelsRoot,
      requested: "auto",
      from: "graph",
      cards: ["seg", "no-such-model"],
      sourceKind: "images",
      sourceParams: { dir: real },
    });
    assert.equal(lacking.name, "synthetic");
    assert.match(
      lacking.warning!,
      /no real-world model set has every model of this graph \(camvid has no 'no-such-model'\)/,
    );
  } finally {
    await Deno.remove(real, { recursive: true });
    await Deno.remove(synth, { recursive: true });
  }
});

Deno.test("an explicit synthetic set on real frames warns; --models testing does not", async () => {
  const real = await imageFolder();
  try {
    const explicit = await chooseModelSet({
      modelsRoot,
      requested: "synthetic",
      from: "--models",
      cards: ["seg"],
      sourceKind: "images",
      sourceParams: { dir: real },
    });
    assert.equal(explicit.name, "synthetic");
    assert.match(explicit.warning!, /trained on the synthetic world only, and these frames are real/);
    const testing = await chooseModelSet({
      modelsRoot,
      requested: "testing",
      from: "--models",
      cards: ["seg"],
      sourceKind: "images",
      sourceParams: { dir: real },
    });
    assert.equal(testing.warning, undefined);
    assert.equal(await isSyntheticSource("synthetic", {}), true);
    assert.equal(await isSyntheticSource("video", { path: "-" }), false);
  } finally {
    await Deno.remove(real, { recursive: true });
  }
});

Deno.test("cli: the summary names the model set and why; --stats has model_set", async () => {
  const real = await imageFolder();
  try {
    const result = await cli([
      "run",
      "graphs/per-frame.yaml",
      "--input",
      real,
      "--output",
      `${real}/labels`,
      "--stats",
      `${real}/stats.json`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /^model set: camvid \(auto: real frames\)$/m);
    const stats = JSON.parse(await Deno.readTextFile(`${real}/stats.json`));
    assert.deepEqual(stats.model_set, { name: "camvid", reason: "auto: real frames" });
  } finally {
    await Deno.remove(real, { recursive: true });
  }
});
