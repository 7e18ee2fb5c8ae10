/**
 * Memory over a long stream: runs a graph on generated 240x176 frames without sinks and prints the process RSS,
 * the main isolate's JS heap and its external memory every `every` frames (after a forced GC), to tell a leak
 * (steady growth) from allocators warming up (growth that stops).
 *
 * `deno run -A --v8-flags=--expose-gc bench/soak_curve.ts [graph] [frames] [every]`
 *
 * @module
 */
import { resolve } from "node:path";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { builtinRegistry } from "../stages/mod.ts";

const [graphFile = "graphs/accel.yaml", frames = "20000", every = "2000"] = Deno.args;
const graph = await loadGraph(graphFile, {
  registry: builtinRegistry(),
  modelsRoot: resolve(new URL("../models", import.meta.url).pathname),
  overrides: [`source.frames=${frames}`, "source.width=240", "source.height=176"],
});
graph.sinks.length = 0;
console.log("frames rss_mb heap_mb external_mb");
await runGraph(graph, {
  quiet: true,
  onFrame: (_frame, stats) => {
    if (stats.frames % Number(every) !== 0) return;
    (globalThis as { gc?: () => void }).gc?.();
    const m = Deno.memoryUsage();
    console.log(stats.frames, Math.round(m.rss / 1e6), Math.round(m.heapUsed / 1e6), Math.round(m.external / 1e6));
  },
});
