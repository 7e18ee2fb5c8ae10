/**
 * Many streams in one process: 1, 2 and 4 synthetic-world clips (480x360, y4m) through one run of a graph on the
 * CamVid models, side by side: total fps, p99 latency, the slowest stream's fps (the default 4 frames in flight
 * shared by the streams); and 4 streams with the model stage batching across streams (`segment.batch=4`, 8 in
 * flight).
 *
 * `deno run -A bench/streams.ts [--frames 90] [--graphs per-frame,dff]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { buildScene } from "../datasets/synthetic/scene.ts";
import { renderFrame, sceneTables } from "../datasets/synthetic/render.ts";
import { formatY4mHeader, rgbToYuv420 } from "../datasets/y4m.ts";
import { modelsRoot, projectRoot } from "../tests/_helpers.ts";

const { values } = parseArgs({
  options: { frames: { type: "string", default: "90" }, graphs: { type: "string", default: "per-frame,dff" } },
});
const frames = Number(values.frames), width = 480, height = 360;

/** Writes one synthetic-world clip as y4m. */
async function writeClip(path: string, seed: number): Promise<void> {
  const scene = buildScene({ width, height, seed });
  const tables = sceneTables(scene, seed);
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  await file.write(new TextEncoder().encode(formatY4mHeader(width, height, 15)));
  for (let t = 0; t < frames; t++) {
    await file.write(new TextEncoder().encode("FRAME\n"));
    await file.write(rgbToYuv420(renderFrame(scene, tables, t).rgb, width, height));
  }
  file.close();
}

const dir = await Deno.makeTempDir({ prefix: "segflow-streams-" });
const clips = [0, 1, 2, 3].map((i) => `${dir}/cam${i}.y4m`);
for (const [i, clip] of clips.entries()) await writeClip(clip, 901 + i);

const rows: string[] = [];
for (const name of values.graphs.split(",")) {
  for (const [count, extra] of [[1, []], [2, []], [4, []], [4, ["segment.batch=4"]]] as [number, string[]][]) {
    if (extra.length && name !== "per-frame") continue;
    const inputs = clips.slice(0, count);
    const graph = await loadGraph(`${projectRoot}/graphs/${name}.yaml`, {
      registry: builtinRegistry(),
      modelsRoot,
      modelSet: "camvid",
      overrides: extra,
      ...(count === 1 ? { input: inputs[0]! } : { inputs }),
      output: `${dir}/out-${name}-${count}`,
      ...(extra.length ? { execution: { max_in_flight: 8 } } : {}),
      warn: () => {},
    });
    const report = await runGraph(graph, { quiet: true, warn: () => {} });
    const slowest = Math.min(...Object.values(report.streams).map((s) => s.fps));
    rows.push(
      `| ${name} | ${count}${extra.length ? ` (${extra.join(" ")})` : ""} | ${report.frames} | ${
        report.fps.toFixed(1)
      } | ` +
        `${slowest.toFixed(1)} | ${report.latency_ms.p50.toFixed(0)} | ${report.latency_ms.p99.toFixed(0)} | ` +
        `${report.models.workers} x ${report.models.threads} |`,
    );
    console.error(rows.at(-1));
  }
}
console.log(
  `streams in one process: synthetic world clips, ${frames} frames each at ${width}x${height}, camvid models`,
);
console.log("| graph | streams | frames | total fps | slowest stream fps | p50 ms | p99 ms | workers x threads |");
console.log("|---|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
await Deno.remove(dir, { recursive: true });
