/**
 * Engine overhead: one run of a graph with one model per frame, compared with (a) the sum of that model's
 * `session.run` times inside the run and (b) a bare loop calling `session.run` on the same frames on the
 * main thread, measured side by side in one process.
 *
 * `deno task bench` runs it; `deno run -A bench/engine_overhead.ts [frames] [width] [height]` alone.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { resolve } from "node:path";
import { loadGraphText } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { patternFrames } from "../datasets/pattern.ts";
import { defineSource } from "../engine/source.ts";
import type { FrameInit } from "../engine/frame.ts";

/** One overhead measurement. */
export interface OverheadResult {
  frames: number;
  size: string;
  graphSeconds: number;
  modelSecondsInGraph: number;
  bareLoopSeconds: number;
  /** Graph wall time / sum of session.run inside the graph. */
  overVsSessionRuns: number;
  /** Graph wall time / bare main-thread loop. */
  overVsBareLoop: number;
}

const modelsRoot = resolve(new URL("../models", import.meta.url).pathname);

/** Runs the measurement with the `testing/convnet` model. */
export async function measureEngineOverhead(frames = 100, width = 480, height = 360): Promise<OverheadResult> {
  // Frames are decoded before timing starts, for the graph and the bare loop alike: this measures the
  // engine, not the decoder.
  const decoded = [...patternFrames({ width, height, frames, fps: 15, seed: 1, noise: 24 })];
  const registry = builtinRegistry().source(defineSource({
    kind: "preloaded",
    doc: "frames decoded before the run",
    params: {},
    open: () =>
      Promise.resolve({
        info: { name: "preloaded", width, height, fps: 15, frames, live: false },
        frames: async function* (): AsyncGenerator<FrameInit> {
          yield* decoded;
        },
        close: () => Promise.resolve(),
      }),
  }));
  const graph = await loadGraphText(
    "bench-overhead.yaml",
    `name: overhead
model_set: testing
source: { kind: preloaded }
models: { seg: convnet }
stages:
  - { id: segment, kind: model, model: seg, out: { labels: labels } }
`,
    { registry, modelsRoot },
  );
  // Warm-up run (session creation, JIT), then the measured one.
  await runGraph(graph, { frames: 5 });
  const report = await runGraph(graph);

  // The bare loop: same model with the same label head, same frames, on the main thread.
  const { imageSizeTensor, labelHead, labelSizeInput } = await import("../stages/model.ts");
  const { extendModel } = await import("../engine/onnx/inspect.ts");
  const card = graph.models.get("seg")!;
  const bytes = extendModel(await Deno.readFile(card.onnxFile), labelHead(card.outputs[0]!.name));
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["cpu"],
    intraOpNumThreads: report.models.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
  });
  const images = decoded.map((f) => f.image.data);
  const size = imageSizeTensor(width, height);
  const feeds = (data: Uint8Array) => ({
    image: new ort.Tensor("uint8", data, [1, height, width, 3]),
    [labelSizeInput]: new ort.Tensor("int64", size.data as BigInt64Array, [2]),
  });
  await session.run(feeds(images[0]!), ["labels"]);
  const start = performance.now();
  for (const data of images) await session.run(feeds(data), ["labels"]);
  const bareLoopSeconds = (performance.now() - start) / 1000;
  await session.release();
  const modelSecondsInGraph = report.models.ms_total / 1000;
  return {
    frames,
    size: `${width}x${height}`,
    graphSeconds: report.seconds,
    modelSecondsInGraph,
    bareLoopSeconds,
    overVsSessionRuns: report.seconds / modelSecondsInGraph,
    overVsBareLoop: report.seconds / bareLoopSeconds,
  };
}

if (import.meta.main) {
  const [frames = "100", width = "480", height = "360"] = Deno.args;
  const r = await measureEngineOverhead(Number(frames), Number(width), Number(height));
  console.log(JSON.stringify(r, null, 2));
}
