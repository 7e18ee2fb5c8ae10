/**
 * The per-pixel stages that were JavaScript loops, each JavaScript reference against its ONNX graph, side by side
 * in one process, at a 480x360 and a 1920x1080 frame, as a markdown table (median ms and CPU ms per call, and
 * how far the outputs differ):
 *
 * - `merge-regions`: DVSNet's 2x2 regions (16 px overlap) of 11-class scores at stride 8;
 * - `agreement`: two 11-class score maps at stride 8;
 * - feature-grid pooling: the flow model's 32-channel stride-16 features at half scale, pooled to 4x8;
 * - one-hot: a first mask of 8 objects at the frame's size (`first-mask`; the stage now makes it once per stream,
 *   the JavaScript made it on every frame).
 *
 * `deno run -A bench/pixel_ops.ts [--calls 20] [--threads 2]`
 *
 * The graphs run in an onnxruntime-node session on the main thread (the stages run them in a worker, which adds
 * copying the inputs there and the outputs back); `--threads` is onnxruntime's intra-op thread count.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import type { Tensor } from "../engine/tensor.ts";
import { regionBoxes } from "../stages/regions.ts";
import { mergeRegionFeeds } from "../stages/merge_regions.ts";
import { buildMergeRegionsGraph } from "../stages/_merge_regions_graph.ts";
import { buildAgreementGraph } from "../stages/_agreement_graph.ts";
import { buildPoolGraph, poolingWeights } from "../stages/_pool_graph.ts";
import { buildOneHotGraph } from "../stages/_one_hot_graph.ts";
import {
  argmaxAgreement,
  mergeRegionScores,
  oneHotScores,
  poolToGrid,
  seededFloats,
} from "../tests/_pixel_ops_reference.ts";
import { ortFeeds } from "../tests/_pixel_ops_run.ts";
import { median, timeOnce } from "./_cpu_timing.ts";

/** One op at one size: the reference, the graph and its feeds, and how to compare their outputs. */
interface Case {
  op: string;
  size: string;
  shape: string;
  js: () => Tensor | number;
  graph: Uint8Array;
  feeds: Record<string, Tensor>;
  fetch: string;
  /** The graph's output as the stage uses it (a tensor, or the agreement value). */
  result: (out: Tensor) => Tensor | number;
}

const scores = (classes: number, h: number, w: number, seed: number): Tensor => ({
  type: "float32",
  dims: [1, classes, h, w],
  data: seededFloats(classes * h * w, seed, -4, 4),
});

function cases(width: number, height: number): Case[] {
  const size = `${width}x${height}`;
  const classes = 11;
  const parts = regionBoxes(width, height, [2, 2], 16, 8).map((box, i) => ({
    box,
    scores: scores(classes, box.height / 8, box.width / 8, 5 + i),
  }));
  const gh = Math.ceil(height / 8), gw = Math.ceil(width / 8);
  const a = scores(classes, gh, gw, 1);
  const b = { ...a, data: (a.data as Float32Array).map((v, i) => (i % 5 ? v : -v)) };
  const fh = Math.ceil(height / 32), fw = Math.ceil(width / 32);
  const features = scores(32, fh, fw, 3);
  const labels = Uint8Array.from({ length: width * height }, (_, p) => ((p % width) >> 6) % 8);
  return [
    {
      op: "merge-regions",
      size,
      shape: `4 x [11,${parts[0]!.box.height / 8},${parts[0]!.box.width / 8}] -> [11,${gh},${gw}]`,
      js: () => mergeRegionScores(width, height, parts),
      graph: buildMergeRegionsGraph(parts.length),
      feeds: mergeRegionFeeds(width, height, parts),
      fetch: "merged",
      result: (out) => out,
    },
    {
      op: "agreement",
      size,
      shape: `2 x [11,${gh},${gw}]`,
      js: () => argmaxAgreement(a, b),
      graph: buildAgreementGraph(),
      feeds: { a, b },
      fetch: "same",
      result: (out) => (100 * Number((out.data as BigInt64Array)[0])) / (gh * gw),
    },
    {
      op: "pool features",
      size,
      shape: `[32,${fh},${fw}] -> [32,4,8]`,
      js: () => poolToGrid(features, 4, 8),
      graph: buildPoolGraph(),
      // The stage builds the weights once per shape; the bench times only the run, as the stage does per frame.
      feeds: { map: features, ...poolingWeights(fh, fw, 4, 8) },
      fetch: "pooled",
      result: (out) => out,
    },
    {
      op: "one-hot",
      size,
      shape: `[${height},${width}] -> [8,${height},${width}]`,
      js: () => oneHotScores(labels, 8, height, width),
      graph: buildOneHotGraph(8),
      feeds: { labels: { type: "uint8", dims: [1, height, width], data: labels } },
      fetch: "scores",
      result: (out) => out,
    },
  ];
}

/** The largest absolute difference between two results. */
function difference(a: Tensor | number, b: Tensor | number): number {
  if (typeof a === "number" || typeof b === "number") return Math.abs(Number(a) - Number(b));
  if (a.dims.join() !== b.dims.join()) return Infinity;
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { calls: { type: "string", default: "20" }, threads: { type: "string", default: "2" } },
  });
  const calls = Number(values.calls), threads = Number(values.threads);
  const lines = [
    "| op | frame | shape | JS ms | ONNX ms | speed-up | JS CPU ms | ONNX CPU ms | max abs diff |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  // JS and ONNX alternate call by call, so both see the same load on a busy machine (bench/_cpu_timing.ts).
  for (const [width, height] of [[480, 360], [1920, 1080]] as const) {
    for (const c of cases(width, height)) {
      const session = await ort.InferenceSession.create(c.graph, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        extra: { session: { intra_op: { allow_spinning: "0" } } },
      });
      const feeds = ortFeeds(c.feeds);
      const runOnnx = async () => {
        const out = (await session.run(feeds))[c.fetch]!;
        return c.result({ type: out.type as Tensor["type"], dims: [...out.dims], data: out.data as Tensor["data"] });
      };
      let reference = c.js(), onnx = await runOnnx();
      const jsTimes = { ms: [] as number[], cpuMs: [] as number[] };
      const onnxTimes = { ms: [] as number[], cpuMs: [] as number[] };
      for (let i = 0; i < calls; i++) {
        await timeOnce(() => reference = c.js(), jsTimes);
        await timeOnce(async () => onnx = await runOnnx(), onnxTimes);
      }
      await session.release();
      const js = { ms: median(jsTimes.ms), cpuMs: median(jsTimes.cpuMs) };
      const graph = { ms: median(onnxTimes.ms), cpuMs: median(onnxTimes.cpuMs) };
      lines.push(
        `| ${c.op} | ${c.size} | ${c.shape} | ${js.ms.toFixed(2)} | ${graph.ms.toFixed(2)} | ${
          (js.ms / graph.ms).toFixed(1)
        }x | ${js.cpuMs.toFixed(2)} | ${graph.cpuMs.toFixed(2)} | ${difference(reference, onnx).toExponential(1)} |`,
      );
      console.error(lines.at(-1));
    }
  }
  console.log(lines.join("\n"));
}
