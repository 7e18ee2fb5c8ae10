/**
 * The flow evaluation: metrics on hand-computed examples, running a flow card on a pair (direction, stride and
 * `--scale`), and `deno task eval-flow` end to end: the trained CamVid card on the shared RubberWhale pair, the
 * testing card on a synthetic KITTI folder of odd size, and bad input as one line.
 *
 * @module
 */
import assert from "node:assert/strict";
import { crc32, deflateSync } from "node:zlib";
import { join } from "node:path";
import {
  addFlowScores,
  emptyFlowScore,
  flowMetrics,
  isFlowOutlier,
  openFlowModel,
  scoreFlow,
  upsampleFlow,
} from "../eval/flow_eval.ts";
import { parseEvalFlowArgs } from "../tools/eval_flow.ts";
import type { FlowTruth } from "../datasets/flow_truth.ts";
import type { RgbImage } from "../engine/frame.ts";
import { encodeFlo } from "../datasets/flo.ts";
import { encodeRgbPng } from "../datasets/png.ts";
import { projectRoot, withTempDir, writeDifferenceFlowModel } from "./_helpers.ts";
import { type CommandResult, runScript, sharedData, sharedDataPresent } from "./_cli.ts";

/** Runs `deno run -A tools/eval_flow.ts ...args` in the project root (one onnxruntime thread). */
function evalFlowCli(args: string[]): Promise<CommandResult> {
  return runScript("tools/eval_flow.ts", ["--threads", "1", ...args]);
}

/** A 16-bit RGB KITTI flow PNG (filter 0) of `truth`. */
function kittiPng(truth: FlowTruth): Uint8Array {
  const { width, height } = truth, rowBytes = width * 6;
  const raw = new Uint8Array((rowBytes + 1) * height), view = new DataView(raw.buffer);
  for (let i = 0; i < width * height; i++) {
    const at = Math.floor(i / width) * (rowBytes + 1) + 1 + (i % width) * 6;
    if (!truth.valid[i]) continue;
    view.setUint16(at, Math.round(truth.flow[2 * i]! * 64 + 32768));
    view.setUint16(at + 2, Math.round(truth.flow[2 * i + 1]! * 64 + 32768));
    view.setUint16(at + 4, 1);
  }
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length), v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header.set([16, 2, 0, 0, 0], 8);
  const parts = [
    Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (bytes.set(p, offset), offset + p.length), 0);
  return bytes;
}

/** A textured frame, shifted right by `shift` pixels. */
function texture(width: number, height: number, shift: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = 128 + 100 * Math.sin((x - shift) / 3) * Math.cos(y / 4);
      data.fill(Math.round(v), 3 * (y * width + x), 3 * (y * width + x) + 3);
    }
  }
  return { width, height, data };
}

function constant(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, 3 * i);
  return { width, height, data };
}

/** The truth of the metric examples: (3,4), (0,0), (100,0) valid; (50,50) invalid. */
const exampleTruth: FlowTruth = {
  width: 2,
  height: 2,
  flow: Float32Array.from([3, 4, 0, 0, 100, 0, 50, 50]),
  valid: Uint8Array.from([1, 1, 1, 0]),
};

Deno.test("isFlowOutlier needs both conditions: error > 3 px and > 5% of the true flow's length", () => {
  assert.equal(isFlowOutlier(3, 0), false);
  assert.equal(isFlowOutlier(3.01, 0), true);
  assert.equal(isFlowOutlier(4, 100), false); // > 3 px but only 4% of 100
  assert.equal(isFlowOutlier(5.01, 100), true);
  assert.equal(isFlowOutlier(2.9, 1), false); // > 5% but not > 3 px
});

Deno.test("scoreFlow: EPE and Fl over valid pixels only, and the zero-flow baseline", () => {
  // Errors: |(0,0)-(3,4)| = 5 (outlier), |(1,0)-(0,0)| = 1, |(104,0)-(100,0)| = 4 (not: 4 < 5% of 100); the
  // invalid pixel's error of 70.7 is left out. Zero flow: 5 (outlier), 0, 100 (outlier).
  const score = scoreFlow(Float32Array.from([0, 0, 1, 0, 104, 0, 0, 0]), exampleTruth);
  assert.deepEqual(score, { pixels: 4, validPixels: 3, errorSum: 10, outliers: 1, zeroErrorSum: 105, zeroOutliers: 2 });
  const m = flowMetrics(score);
  assert.equal(m.epe, 10 / 3);
  assert.equal(m.fl, 100 / 3);
  assert.equal(m.zeroEpe, 35);
  assert.equal(m.zeroFl, 200 / 3);
  assert.equal(m.validShare, 75);
  assert.throws(() => scoreFlow(new Float32Array(2), exampleTruth), RangeError);
});

Deno.test("addFlowScores pools pixels: the overall EPE weighs pairs by their valid pixels", () => {
  const a = scoreFlow(Float32Array.from([0, 0, 1, 0, 104, 0, 0, 0]), exampleTruth); // 3 pixels, EPE 10/3
  const oneValid: FlowTruth = { ...exampleTruth, valid: Uint8Array.from([1, 0, 0, 0]) };
  const b = scoreFlow(new Float32Array(8), oneValid); // 1 pixel, EPE 5
  const all = flowMetrics([a, b].reduce(addFlowScores, emptyFlowScore()));
  assert.equal(all.epe, 15 / 4);
  assert.equal(all.validPixels, 4);
  assert.equal(all.validShare, 50);
  assert(Number.isNaN(flowMetrics(scoreFlow(new Float32Array(8), { ...exampleTruth, valid: new Uint8Array(4) })).epe));
});

Deno.test("upsampleFlow samples bilinearly at half-pixel centres and multiplies vectors by the cell size", () => {
  // Grid 1x2: u = [0, 1], v = [2, 2]; cells of 2x2 pixels over a 4x1 frame.
  const flow = upsampleFlow(Float32Array.from([0, 1, 2, 2]), 1, 2, 4, 1, 2, 2);
  assert.deepEqual([...flow], [0, 4, 0.5, 4, 1.5, 4, 2, 4]);
});

Deno.test("openFlowModel runs current = first frame, reference = second, at scale 1 and 0.5 on 37x23", async () => {
  await withTempDir(async (dir) => {
    // This model's flow is (current - reference) in R and G, averaged over 8x8 blocks, in grid units.
    await writeDifferenceFlowModel(dir);
    const model = await openFlowModel(join(dir, "flow.yaml"), 1);
    try {
      const first = constant(37, 23, [2, 1, 0]), second = constant(37, 23, [0, 0, 0]);
      const full = await model.run(first, second, 1);
      assert.deepEqual([full.padded, full.cell], [[24, 40], [8, 8]]);
      assert.deepEqual([full.flow[0], full.flow[1], full.flow.at(-2), full.flow.at(-1)], [16, 8, 16, 8]);
      // At 0.5 the model sees 19x12 (padded 24x16): a grid cell spans 8 x 37/19 by 8 x 23/12 frame pixels.
      const half = await model.run(first, second, 0.5);
      assert.deepEqual(half.padded, [16, 24]);
      assert.ok(Math.abs(half.flow[0]! - 2 * 8 * 37 / 19) < 1e-4);
      assert.ok(Math.abs(half.flow[1]! - 8 * 23 / 12) < 1e-4);
    } finally {
      await model.close();
    }
  });
});

Deno.test("openFlowModel: frames below the card's min_size and non-flow cards are clear errors", async () => {
  await withTempDir(async (dir) => {
    await writeDifferenceFlowModel(dir);
    await Deno.writeTextFile(join(dir, "flow.yaml"), "min_size: 16\n", { append: true });
    const model = await openFlowModel(join(dir, "flow.yaml"), 1);
    try {
      const small = constant(20, 20, [0, 0, 0]);
      await assert.rejects(
        model.run(small, small, 0.5),
        /the frame is 20x20, smaller than model 'flow' takes \(at least 32x32\) \(at --scale 0\.5\)/,
      );
    } finally {
      await model.close();
    }
    await assert.rejects(
      openFlowModel(join(projectRoot, "models/testing/seg.yaml"), 1),
      /seg\.yaml: model 'seg' is not a flow model: it has no input 'current'/,
    );
  });
});

Deno.test("parseEvalFlowArgs takes repeated --pair triples and rejects bad values", () => {
  const cli = parseEvalFlowArgs([
    "--model",
    "m.yaml",
    "--pair",
    "a.png",
    "b.png",
    "t.flo",
    "dir",
    "--pair",
    "c",
    "d",
    "e",
  ]);
  assert.deepEqual(cli.folders, ["dir"]);
  assert.deepEqual(cli.pairs.map((p) => [p.first, p.second, p.truth, p.layout]), [
    ["a.png", "b.png", "t.flo", "pair"],
    ["c", "d", "e", "pair"],
  ]);
  assert.throws(() => parseEvalFlowArgs(["--model", "m.yaml", "--pair", "a", "b"]), /--pair needs three files/);
  assert.throws(() => parseEvalFlowArgs(["--model", "m.yaml", "d", "--scale", "2"]), /--scale must be a number in/);
  assert.throws(() => parseEvalFlowArgs(["--model", "m.yaml", "d", "--kitti", "occ"]), /--kitti must be flow_occ/);
  assert.throws(() => parseEvalFlowArgs(["d"]), /--model CARD\.yaml is required/);
  assert.throws(() => parseEvalFlowArgs(["--model", "m.yaml"]), /give folders of flow pairs or --pair/);
});

Deno.test({
  name: "eval-flow scores models/camvid/flow.yaml on the shared RubberWhale pair below the zero flow's EPE",
  ignore: !sharedDataPresent("flow/middlebury/rubberwhale_gt.flo"),
  fn: async () => {
    await withTempDir(async (dir) => {
      const json = join(dir, "flow.json");
      const args = ["--model", "models/camvid/flow.yaml", `${sharedData}flow/middlebury`, "--json", json];
      const { code, stdout, stderr } = await evalFlowCli(args);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /\| rubberwhale \| middlebury \| 584x388 \| 98\.4 \|/);
      assert.match(stdout, /\| all \| {2}\| 1 pair \|/);
      const report = JSON.parse(await Deno.readTextFile(json));
      const all = report.all;
      assert(Number.isFinite(all.epe) && all.epe < all.zero_epe, `EPE ${all.epe}, zero flow ${all.zero_epe}`);
      assert.equal(all.valid_pixels, report.pairs[0].valid_pixels);
      assert.equal(report.pairs[0].epe, all.mean_pair_epe);
      assert.deepEqual(report.pairs[0].size, [388, 584]);
    });
  },
});

Deno.test("eval-flow runs models/testing/flow.yaml on a 37x23 KITTI folder and an explicit pair", async () => {
  await withTempDir(async (dir) => {
    const truth: FlowTruth = {
      width: 37,
      height: 23,
      flow: new Float32Array(2 * 37 * 23).fill(2),
      valid: new Uint8Array(37 * 23).fill(1).fill(0, 0, 37), // the first row unknown
    };
    await Deno.mkdir(join(dir, "training/image_2"), { recursive: true });
    await Deno.mkdir(join(dir, "training/flow_occ"), { recursive: true });
    for (const id of ["000000", "000001"]) {
      for (const [frame, shift] of [["10", 0], ["11", 2]] as const) {
        const image = texture(37, 23, shift + Number(id));
        await Deno.writeFile(join(dir, `training/image_2/${id}_${frame}.png`), encodeRgbPng(image.data, 37, 23));
      }
      await Deno.writeFile(join(dir, `training/flow_occ/${id}_10.png`), kittiPng(truth));
    }
    await Deno.writeFile(join(dir, "t.flo"), encodeFlo(truth.flow, 37, 23));
    const first = join(dir, "training/image_2/000000_10.png"), second = join(dir, "training/image_2/000000_11.png");
    const json = join(dir, "out.json");
    const args = ["--model", "models/testing/flow.yaml", dir, "--pair", first, second, join(dir, "t.flo")];
    const { code, stdout, stderr } = await evalFlowCli([...args, "--scale", "0.5", "--json", json]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\| 000001_10 \| kitti \| 37x23 \| 95\.7 \|/);
    const report = JSON.parse(await Deno.readTextFile(json));
    assert.deepEqual(report.pairs.map((p: { name: string }) => p.name), ["000000_10", "000001_10", "000000_10.png"]);
    assert.equal(report.all.valid_pixels, 2 * 37 * 22 + 37 * 23); // the .flo has no unknown row
    assert.equal(report.all.zero_epe, Number(Math.hypot(2, 2).toFixed(6)));
    for (const pair of report.pairs) assert(Number.isFinite(pair.epe), JSON.stringify(pair));
  });
});

Deno.test("eval-flow reports bad input in one line naming the file, with exit code 1", async () => {
  await withTempDir(async (dir) => {
    const path = (name: string) => join(dir, name);
    const frame = encodeRgbPng(texture(37, 23, 0).data, 37, 23);
    await Deno.mkdir(path("empty"));
    await Deno.writeFile(path("a.png"), frame);
    await Deno.writeFile(path("wide.png"), encodeRgbPng(texture(38, 23, 0).data, 38, 23));
    await Deno.writeFile(path("bad.png"), new TextEncoder().encode("not a png"));
    await Deno.writeFile(path("t.flo"), encodeFlo(new Float32Array(2 * 37 * 23), 37, 23));
    await Deno.writeFile(path("cut.flo"), encodeFlo(new Float32Array(2 * 37 * 23), 37, 23).subarray(0, 100));
    const model = ["--model", "models/testing/flow.yaml"];
    const cases: [string[], RegExp][] = [
      [[path("empty")], /^eval-flow: .*empty: no flow pairs found \(expected Middlebury, KITTI or Sintel layout: /],
      [["--pair", path("a.png"), path("a.png"), path("cut.flo")], /^eval-flow: .*cut\.flo: \.flo file is truncated/],
      [["--pair", path("a.png"), path("wide.png"), path("t.flo")], /^eval-flow: .*wide\.png: frame is 38x23, but /],
      [["--pair", path("bad.png"), path("a.png"), path("t.flo")], /^eval-flow: .*bad\.png: not a readable image/],
      [["--pair", path("a.png"), path("gone.png"), path("t.flo")], /^eval-flow: .*gone\.png: frame not found$/],
      [[path("empty"), "--scale", "0"], /^eval-flow: --scale must be a number in \(0, 1\], got '0'$/],
      [[path("empty"), "--bogus"], /^eval-flow: unknown option .--bogus. \(see --help\)$/],
    ];
    for (const [args, expected] of cases) {
      const { code, stdout, stderr } = await evalFlowCli([...model, ...args]);
      assert.equal(code, 1, `${args.join(" ")}: ${stderr}`);
      assert.equal(stdout, "");
      const lines = stderr.trim().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0]!, expected);
    }
  });
});
