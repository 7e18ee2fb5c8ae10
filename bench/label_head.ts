/**
 * The label head, blockwise (`labelHead`, what the engine appends) against the full resize it replaced
 * (`fullResizeLabelHead`), side by side in one process on CamVid `seg` scores: each head alone on the model's scores,
 * and appended to the model (seg + head as one graph, against seg alone), at 360x480 and at 1080x1920 (the CamVid
 * frames scaled up), with `seg-lite` alone for scale. Prints a markdown table of median wall ms per frame (CPU ms
 * in brackets), the share of blocks the blockwise head interpolates, and how many labels the two heads give
 * differently (always 0 unless something broke).
 *
 * `deno run -A bench/label_head.ts [--frames 5] [--rounds 6] [--threads 2]`
 *
 * Sessions run on the main thread (the engine runs them in workers); `--threads` is onnxruntime's intra-op thread
 * count (the engine's default on 2 cores with one worker: 2). All calls of a round alternate, in a rotating order, so
 * every variant sees the same load on a busy machine. Without `../shared/data/camvid/val` it runs on pattern frames.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { extendModel, type GraphExtension } from "../engine/onnx/inspect.ts";
import { sessionOptions } from "../engine/session_options.ts";
import type { RgbImage } from "../engine/frame.ts";
import { listImages, readRgbImage } from "../datasets/image_files.ts";
import { patternFrames } from "../datasets/pattern.ts";
import {
  fullResizeLabelHead,
  imageSizeTensor,
  labelHead,
  labelHeadGraph,
  labelSizeInput,
} from "../stages/_label_head.ts";
import { type CallTimes, median, timeOnce } from "./_cpu_timing.ts";

const models = new URL("../models/camvid/", import.meta.url).pathname;
const camvid = new URL("../../shared/data/camvid/val/", import.meta.url).pathname;

/** `count` CamVid val frames (480x360), or pattern frames when the data set is missing. */
async function sourceFrames(count: number): Promise<RgbImage[]> {
  try {
    const files = (await listImages(camvid)).slice(0, count);
    return await Promise.all(files.map((file) => readRgbImage(`${camvid}${file}`)));
  } catch {
    console.error(`note: ${camvid} is missing; timing on pattern frames instead of CamVid`);
    return [...patternFrames({ width: 480, height: 360, frames: count, fps: 15, seed: 1, noise: 24 })].map((f) =>
      f.image
    );
  }
}

async function scaled(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const raw = { width: image.width, height: image.height, channels: 3 as const };
  const data = await sharp(image.data, { raw }).resize(width, height).raw().toBuffer();
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** A graph of `head` alone over `scores` [N, C, h, w] (opset 13, the lowest of the project's models). */
const headGraph = (head: GraphExtension) => labelHeadGraph(head, { opset: 13 });

/** Share of the (h+1) x (w+1) blocks whose four corner cells disagree on their argmax (edge-replicated grid). */
function mixedShare(scores: ort.Tensor): number {
  const [, classes, h, w] = scores.dims as number[];
  const data = scores.data as Float32Array;
  const winner = new Int32Array(h! * w!);
  for (let i = 0; i < winner.length; i++) {
    for (let c = 1; c < classes!; c++) {
      if (data[c * winner.length + i]! > data[winner[i]! * winner.length + i]!) winner[i] = c;
    }
  }
  const at = (r: number, q: number) => winner[Math.min(Math.max(r, 0), h! - 1) * w! + Math.min(Math.max(q, 0), w! - 1)];
  let mixed = 0;
  for (let r = 0; r <= h!; r++) {
    for (let q = 0; q <= w!; q++) {
      const a = at(r - 1, q - 1);
      if (a !== at(r - 1, q) || a !== at(r, q - 1) || a !== at(r, q)) mixed++;
    }
  }
  return mixed / ((h! + 1) * (w! + 1));
}

function differing(a: ort.Tensor, b: ort.Tensor): number {
  const x = a.data as Uint8Array, y = b.data as Uint8Array;
  let count = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) count++;
  return count;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      frames: { type: "string", default: "5" },
      rounds: { type: "string", default: "6" },
      threads: { type: "string", default: "2" },
    },
  });
  const [frameCount, rounds, threads] = [Number(values.frames), Number(values.rounds), Number(values.threads)];
  const options = sessionOptions("cpu", threads);
  const seg = await Deno.readFile(`${models}seg.onnx`);
  const open = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, options);
  const sessions = {
    fullHead: await open(headGraph(fullResizeLabelHead("scores"))),
    blockHead: await open(headGraph(labelHead("scores"))),
    seg: await open(seg),
    segFull: await open(extendModel(seg, fullResizeLabelHead("scores"))),
    segBlock: await open(extendModel(seg, labelHead("scores"))),
    lite: await open(await Deno.readFile(`${models}seg-lite.onnx`)),
  };
  type Variant = keyof typeof sessions;
  const variants = Object.keys(sessions) as Variant[];
  const frames = await sourceFrames(frameCount);
  const lines = [
    "| frame | mixed blocks | full-resize head | blockwise head | speed-up | seg alone | seg + full-resize | " +
    "seg + blockwise | head in the model: full / blockwise | seg-lite alone | differing labels |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [width, height] of [[480, 360], [1920, 1080]] as const) {
    const images = await Promise.all(frames.map((f) => scaled(f, width, height)));
    const size = new ort.Tensor("int64", imageSizeTensor(width, height).data as BigInt64Array, [2]);
    const imageFeeds = images.map((image) => ({ image: new ort.Tensor("uint8", image.data, [1, height, width, 3]) }));
    const scores = await Promise.all(imageFeeds.map(async (feeds) => (await sessions.seg.run(feeds)).scores!));
    const feedsOf = (variant: Variant, i: number): Record<string, ort.Tensor> => {
      if (variant === "fullHead" || variant === "blockHead") return { scores: scores[i]!, [labelSizeInput]: size };
      if (variant === "segFull" || variant === "segBlock") return { ...imageFeeds[i]!, [labelSizeInput]: size };
      return imageFeeds[i]!;
    };
    const times = Object.fromEntries(variants.map((v) => [v, { ms: [], cpuMs: [] } as CallTimes])) as Record<
      Variant,
      CallTimes
    >;
    let mismatches = 0;
    for (const v of variants) await sessions[v].run(feedsOf(v, 0)); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < images.length; i++) {
        const labels: Partial<Record<Variant, ort.Tensor>> = {};
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(k + round + i) % variants.length]!;
          await timeOnce(async () => labels[v] = (await sessions[v].run(feedsOf(v, i))).labels, times[v]);
        }
        mismatches += differing(labels.fullHead!, labels.blockHead!) + differing(labels.segFull!, labels.segBlock!);
      }
    }
    const t = Object.fromEntries(variants.map((v) => [v, median(times[v].ms)])) as Record<Variant, number>;
    const cpu = Object.fromEntries(variants.map((v) => [v, median(times[v].cpuMs)])) as Record<Variant, number>;
    const cell = (v: Variant) => `${t[v].toFixed(2)} (${cpu[v].toFixed(1)})`;
    const inModel = (v: Variant) => `${(t[v] - t.seg).toFixed(2)} (${(cpu[v] - cpu.seg).toFixed(1)})`;
    const mixed = scores.map(mixedShare).reduce((a, b) => a + b, 0) / scores.length;
    lines.push(
      `| ${height}x${width} | ${(100 * mixed).toFixed(1)}% | ${cell("fullHead")} | ${cell("blockHead")} | ` +
        `${(t.fullHead / t.blockHead).toFixed(1)}x | ${cell("seg")} | ${cell("segFull")} | ${cell("segBlock")} | ` +
        `${inModel("segFull")} / ${inModel("segBlock")} | ${cell("lite")} | ${mismatches} |`,
    );
    console.error(lines.at(-1));
  }
  for (const session of Object.values(sessions)) await session.release();
  console.log(
    `Label head, ms per frame (median wall, CPU ms in brackets); ${frames.length} frames x ${rounds} rounds, ` +
      `${threads} intra-op threads.\n\n${lines.join("\n")}`,
  );
}
