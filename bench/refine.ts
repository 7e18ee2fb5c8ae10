/**
 * The `refine` stage's joint bilateral upsampling, the JavaScript reference loop against the ONNX graph, side by side
 * in one process on random scores and a structured image, as a markdown table (median ms and CPU ms
 * per frame, and how many pixels the two label alike).
 *
 * `deno run -A bench/refine.ts [--frames 10] [--threads 2]`
 *
 * The ONNX graph runs in an onnxruntime-node session on the main thread (the stage runs it in a worker, which
 * adds copying the image and the scores there and the labels back); `--threads` is onnxruntime's intra-op
 * thread count (the engine's default on 2 cores with one worker: 2).
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { buildRefineGraph, type RefineOptions } from "../stages/_refine_graph.ts";
import { randomShares, refineScores, structuredImage } from "../tests/_refine_reference.ts";
import { median, timeOnce } from "./_cpu_timing.ts";

const options: RefineOptions = { radius: 2, sigmaSpatial: 8, sigmaRange: 20, threshold: 0.5 };

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { frames: { type: "string", default: "10" }, threads: { type: "string", default: "2" } },
  });
  const frames = Number(values.frames), threads = Number(values.threads);
  const cases = [
    { label: "854x480, O=8", width: 854, height: 480, w: 107, h: 60, objects: 8 },
    { label: "854x480, O=2", width: 854, height: 480, w: 107, h: 60, objects: 2 },
    { label: "1920x1080, O=8", width: 1920, height: 1080, w: 240, h: 135, objects: 8 },
  ];
  const lines = [
    "| frame, objects | JS ms/frame | ONNX ms/frame | speed-up | JS CPU ms | ONNX CPU ms | same labels |",
    "|---|---|---|---|---|---|---|",
  ];
  // JS and ONNX alternate call by call, so both see the same load on a busy machine (bench/_cpu_timing.ts).
  for (const c of cases) {
    const image = structuredImage(c.width, c.height, 7);
    const scores = randomShares(c.objects, c.h, c.w, 11);
    const tensor = { type: "float32" as const, dims: [1, c.objects, c.h, c.w], data: scores };
    const shape = { width: c.width, height: c.height, gridWidth: c.w, gridHeight: c.h, objects: c.objects };
    const session = await ort.InferenceSession.create(buildRefineGraph(shape, options), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      extra: { session: { intra_op: { allow_spinning: "0" } } },
    });
    const feeds = {
      scores: new ort.Tensor("float32", scores, tensor.dims),
      image: new ort.Tensor("uint8", image.data, [c.height, c.width, 3]),
    };
    let reference = refineScores(tensor, image, options);
    let labels = (await session.run(feeds)).labels!.data as Uint8Array;
    const jsTimes = { ms: [] as number[], cpuMs: [] as number[] },
      onnxTimes = { ms: [] as number[], cpuMs: [] as number[] };
    for (let i = 0; i < frames; i++) {
      await timeOnce(() => reference = refineScores(tensor, image, options), jsTimes);
      await timeOnce(async () => labels = (await session.run(feeds)).labels!.data as Uint8Array, onnxTimes);
    }
    const js = { ms: median(jsTimes.ms), cpuMs: median(jsTimes.cpuMs) };
    const onnx = { ms: median(onnxTimes.ms), cpuMs: median(onnxTimes.cpuMs) };
    await session.release();
    let same = 0;
    for (let p = 0; p < labels.length; p++) if (labels[p] === reference[p]) same++;
    const row = [js.ms, onnx.ms].map((v) => v.toFixed(1));
    lines.push(
      `| ${c.label} | ${row[0]} | ${row[1]} | ${(js.ms / onnx.ms).toFixed(1)}x | ${js.cpuMs.toFixed(1)} | ${
        onnx.cpuMs.toFixed(1)
      } | ${((100 * same) / labels.length).toFixed(3)}% |`,
    );
    console.error(lines.at(-1));
  }
  console.log(lines.join("\n"));
}
