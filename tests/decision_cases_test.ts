/**
 * DVSNet's decision-network test cases from real video (issue 16): graphs/tools/dvsnet-testcases-video.yaml on a
 * short real DAVIS clip, and models/train/train_decision.py on what it wrote (held-out errors and the calibration
 * curve). Needs `../shared/data/davis2016-extra` (and PyTorch at /usr/bin/python3 for the training half); says
 * SKIPPED without them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, sharedDataPresent, shell } from "./_cli.ts";

const haveClip = sharedDataPresent("davis2016-extra/JPEGImages/480p/cows");

interface CaseLine {
  index: number;
  name: string;
  sequence: string;
  tensors: string[];
  slots: { is_key?: boolean; confidence?: number };
}

async function makeCases(dir: string, sequence: string, frames: number, every: number): Promise<CaseLine[]> {
  const run = await cli([
    "run",
    "graphs/tools/dvsnet-testcases-video.yaml",
    "--quiet",
    "--frames",
    String(frames),
    "--set",
    `decide.every=${every}`,
    "--set",
    `source.sequences=[${sequence}]`,
    "--set",
    `tensors.dir=${dir}`,
  ]);
  assert.equal(run.code, 0, run.stderr.slice(-1500));
  const text = await Deno.readTextFile(join(dir, "frames.jsonl"));
  return text.trim().split("\n").map((line) => JSON.parse(line) as CaseLine);
}

Deno.test({
  name: "decision cases: a short real clip gives a case per region and frame, keys on the clock, scores 0..100",
  ignore: !haveClip,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "segflow-cases-" });
    try {
      const cases = await makeCases(dir, "cows", 12, 6);
      assert.equal(cases.length, 12 * 4, "12 frames x 4 regions");
      const regions = new Set(cases.map((c) => c.name.replace(/^.*_(r\d)$/, "$1")));
      assert.deepEqual([...regions].sort(), ["r0", "r1", "r2", "r3"]);
      for (const c of cases) {
        assert.equal(c.sequence, "cows");
        assert.deepEqual(c.tensors, ["features"], `${c.name}: the pooled flow features are dumped`);
        assert.equal(c.slots.is_key, c.index % 6 === 0, `${c.name}: a key every 6 frames`);
        const score = c.slots.confidence!;
        assert.ok(score >= 0 && score <= 100, `${c.name}: confidence ${score}`);
        if (c.slots.is_key) assert.equal(score, 100, `${c.name}: a key frame agrees with itself`);
        const npy = await Deno.readFile(join(dir, "features", `${c.name}.npy`));
        assert.match(new TextDecoder().decode(npy.subarray(0, 128)), /'shape': \(1, 32, 4, 8\)/);
      }
      const away = cases.filter((c) => c.index % 6 === 5).map((c) => c.slots.confidence!);
      const near = cases.filter((c) => c.index % 6 === 1).map((c) => c.slots.confidence!);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      assert.ok(mean(away) < 100, "the camera moves: warped labels five frames away disagree somewhere");
      assert.ok(mean(away) <= mean(near), `agreement falls with key distance: ${mean(near)} at 1, ${mean(away)} at 5`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function torchAvailable(): boolean {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import torch, onnx"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const haveTorch = torchAvailable();
if (!haveTorch) console.warn("SKIPPED: PyTorch/ONNX not found at /usr/bin/python3 (apt-get install python3-torch)");

Deno.test({
  name: "decision cases: train_decision.py reports held-out and unseen errors and a calibration curve",
  ignore: !haveClip || !haveTorch,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "segflow-cases-" });
    try {
      await makeCases(join(dir, "train"), "cows", 30, 3); // 10 clips: every 5th (2) held out
      await makeCases(join(dir, "unseen"), "camel", 6, 3);
      const trained = await shell(
        `/usr/bin/python3 models/train/train_decision.py --cases ${dir}/train --heldout ${dir}/unseen ` +
          `--out ${dir}/model --epochs 3 --pipeline 'tests/decision_cases_test.ts'`,
      );
      assert.equal(trained.code, 0, trained.stderr.slice(-1500));
      const info = JSON.parse(await Deno.readTextFile(join(dir, "model", "decision.train.json")));
      assert.equal(info.cases, 36 * 4);
      assert.equal(info.heldout_cases, 2 * 3 * 4 + 6 * 4, "two of ten clips of cows, and all of camel");
      assert.equal(info.folders.unseen.heldout_cases, 6 * 4);
      for (const key of ["mae_heldout", "mae_unseen", "mae_unseen_mean_baseline"]) {
        assert.ok(Number.isFinite(info[key]) && info[key] >= 0, `${key}: ${info[key]}`);
      }
      const curve = info.calibration;
      const bands = curve.by_predicted.reduce((n: number, b: { cases: number }) => n + b.cases, 0);
      assert.equal(bands, info.heldout_cases, "every held-out case is in one band of the curve");
      assert.deepEqual(curve.by_distance.map((d: { distance: string }) => d.distance), ["1-2"]);
      assert.ok(curve.over_confident_at_80 >= 0 && curve.over_confident_at_80 <= 1);
      const card = await Deno.readTextFile(join(dir, "model", "decision.yaml"));
      assert.match(card, /mae_unseen: \d/);
      assert.match(card, /unseen \(24 cases\)/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
