/**
 * Soak: a long synthetic stream through `graphs/accel.yaml` (synthetic models) into a deliberately slow sink,
 * so the flow gate holds frames back all the time. Compares the peak resident memory of a 10,000-frame run
 * with a 1,000-frame run (a leak grows with the stream; bounded buffering does not) and checks that no frame
 * is lost (every frame the source made left the graph; the `block` policy drops nothing).
 *
 * `deno run -A --v8-flags=--expose-gc bench/soak.ts [long] [short]` (frames at 240x176 to keep it minutes long)
 *
 * @module
 */
import { resolve } from "node:path";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { StatsReport } from "../engine/stats.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { registerTestKinds, TestProbe } from "../engine/testing.ts";

/** One soak run. */
export interface SoakRun {
  frames: number;
  delivered: number;
  dropped: number;
  rssPeakMb: number;
  rssWarmMb: number | null;
  seconds: number;
}

/** Runs `frames` synthetic frames through Accel into a sink that waits `sinkDelayMs` per frame. */
export async function soakRun(frames: number, sinkDelayMs = 2): Promise<SoakRun> {
  const registry = registerTestKinds(builtinRegistry(), new TestProbe());
  const graph = await loadGraph("graphs/accel.yaml", {
    registry,
    modelsRoot: resolve(new URL("../models", import.meta.url).pathname),
    overrides: [`source.frames=${frames}`, "source.width=240", "source.height=176"],
  });
  const slow = registry.stages.get("slow")!;
  graph.sinks.length = 0;
  graph.sinks.push({
    id: "slow",
    kind: "slow",
    role: "sink",
    definition: slow,
    params: { delay_ms: sinkDelayMs },
    inputs: {},
    outputs: {},
  });
  const report: StatsReport = await runGraph(graph, { quiet: true });
  return {
    frames,
    delivered: report.frames,
    dropped: report.dropped,
    rssPeakMb: report.memory.rss_mb_peak,
    rssWarmMb: report.memory.rss_mb_warm,
    seconds: report.seconds,
  };
}

/** Runs {@linkcode soakRun} in a fresh Deno process, so one run's memory does not carry into the next. */
export async function soakInProcess(frames: number): Promise<SoakRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", "bench/soak.ts", "--one", String(frames)],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`soak run of ${frames} frames failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

if (import.meta.main) {
  if (Deno.args[0] === "--one") {
    console.log(JSON.stringify(await soakRun(Number(Deno.args[1]))));
  } else {
    const long = Number(Deno.args[0] ?? 10_000), short = Number(Deno.args[1] ?? 1_000);
    for (const frames of [short, long]) console.log(JSON.stringify(await soakInProcess(frames)));
  }
}
