/**
 * Clockwork's latency: the sequential staged network (all three stages on every frame, and the fixed clock) vs
 * the pipelined schedule, at each backbone scale, with frames arriving like a live camera's.
 *
 * Latency from a source that hands frames over as fast as the graph takes them is mostly time spent queueing
 * behind `max_in_flight` frames, the same for every schedule. So each graph is first run unpaced (its throughput),
 * then every graph is run again with the source paced (`execution.realtime_fps`) at `--load` (default 0.6) times
 * the slowest graph's throughput, a rate all of them keep up with: a frame's latency is then the time from its
 * arrival to its labels. Pipelined Clockwork's output for frame t needs only S1(t) and the fuse; S2(t-1) and
 * S3(t-2) ran while the previous frames were out. Its three workers split the cores (one thread each on two
 * cores); the last row gives each worker every core, which pays off when frames arrive slower than the stages run.
 *
 * `deno run -A bench/latency.ts [--models camvid] [--input ../shared/data/camvid/val] [--frames N]
 * [--scales seg,seg-large] [--load 0.6]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type BenchOptions,
  type MethodRow,
  missingScaleCards,
  resolvedModelSet,
  rowSettings,
  runMethod,
  scales,
} from "./methods.ts";
import type { StatsReport } from "../engine/stats.ts";

/** The schedules compared; the first is the reference for the latency ratio. */
export const latencyRows: MethodRow[] = [
  { label: "Clockwork, every stage every frame", graph: "graphs/clockwork.yaml", set: ["clock3.every=1"] },
  { label: "Clockwork fixed (S3 every 2)", graph: "graphs/clockwork.yaml" },
  { label: "Clockwork pipelined", graph: "graphs/clockwork-pipelined.yaml" },
  {
    label: "Clockwork pipelined, 2 threads per worker",
    graph: "graphs/clockwork-pipelined.yaml",
    set: ["execution.threads=2"],
  },
];

const ms = (r: StatsReport) => `${r.latency_ms.p50.toFixed(0)} / ${r.latency_ms.p99.toFixed(0)}`;

/** Measures every scale's rows unpaced, then paced; returns markdown lines. */
export async function measureLatency(
  options: BenchOptions & { scales?: string[]; load?: number },
  log: (line: string) => void = (line) => console.error(line),
): Promise<string[]> {
  const load = options.load ?? 0.6;
  const lines: string[] = [];
  for (const scale of scales.filter((s) => !options.scales || options.scales.includes(s.name))) {
    const missing = await missingScaleCards(scale, latencyRows, options);
    if (missing.length) {
      const line = `${scale.name} scale skipped: model set '${await resolvedModelSet(options)}' has no ${
        missing.map((card) => `'${card}'`).join(", ")
      }.`;
      lines.push(line, "");
      log(line);
      continue;
    }
    const settings = await Promise.all(latencyRows.map((row) => rowSettings(row, scale)));
    const unpaced: StatsReport[] = [];
    for (const [i, row] of latencyRows.entries()) {
      await runMethod(row.graph, { ...options, set: settings[i]!, frames: 3 }); // warm-up
      const report = await runMethod(row.graph, { ...options, set: settings[i]! });
      log(`[${scale.name}, unpaced] ${row.label}: ${report.fps.toFixed(1)} fps, latency ${ms(report)} ms`);
      unpaced.push(report);
    }
    const pace = load * Math.min(...unpaced.map((r) => r.fps));
    const paced: StatsReport[] = [];
    for (const [i, row] of latencyRows.entries()) {
      const report = await runMethod(row.graph, {
        ...options,
        set: [...settings[i]!, `execution.realtime_fps=${pace.toFixed(3)}`],
      });
      log(`[${scale.name}, paced at ${pace.toFixed(1)} fps] ${row.label}: latency ${ms(report)} ms`);
      paced.push(report);
    }
    const base = paced[0]!.latency_ms.p50;
    lines.push(
      `**${scale.name} scale** (${paced[0]!.frames} frames; paced at ${pace.toFixed(1)} fps = ${load} x the slowest ` +
        `schedule's unpaced fps):`,
      "",
      "| schedule | fps (unpaced) | latency p50 / p99 ms (unpaced) | latency p50 / p99 ms (paced) | paced p50 / sequential's |",
      "|---|---|---|---|---|",
      ...latencyRows.map((row, i) =>
        `| ${row.label} | ${unpaced[i]!.fps.toFixed(1)} | ${ms(unpaced[i]!)} | ${ms(paced[i]!)} | ${
          (paced[i]!.latency_ms.p50 / base).toFixed(2)
        }x |`
      ),
      "",
    );
  }
  return lines;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      models: { type: "string" },
      input: { type: "string" },
      frames: { type: "string" },
      scales: { type: "string" },
      load: { type: "string" },
    },
  });
  const lines = await measureLatency({
    ...(values.models ? { models: values.models } : {}),
    ...(values.input ? { input: values.input } : {}),
    ...(values.frames ? { frames: Number(values.frames) } : {}),
    ...(values.scales ? { scales: values.scales.split(",").map((s) => s.trim()) } : {}),
    ...(values.load ? { load: Number(values.load) } : {}),
  });
  console.log(lines.join("\n"));
}
