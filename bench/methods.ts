/**
 * Method comparison: every method graph over the same clip, measured side by side in one run, as a
 * markdown table (mIoU, end-to-end fps, model-only fps, key-frame ratio, latency).
 *
 * `deno run -A bench/methods.ts [--models camvid] [--input ../shared/data/camvid/val] [--frames N] [--theta T]
 * [--dvsnet-curve]` (`--theta`: the adaptive Clockwork threshold for this clip)
 *
 * `--dvsnet-curve` measures DVSNet at targets 50..95 instead (with per-frame as the reference row). For DVSNet
 * the key-frame ratio column is the share of region steps that segmented.
 *
 * Model-only fps is frames / (sum of session.run time): the speed the models alone would allow.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { loadGraph } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { StatsReport } from "../engine/stats.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { keyRatioOf } from "../eval/run_eval.ts";

/** The graphs compared, with the settings the table names. */
export const methods: { label: string; graph: string; set?: string[] }[] = [
  { label: "per-frame", graph: "graphs/per-frame.yaml" },
  { label: "DFF @5", graph: "graphs/dff.yaml" },
  { label: "Accel @5 (seg-lite)", graph: "graphs/accel.yaml" },
  { label: "Clockwork fixed (S3 every 2)", graph: "graphs/clockwork.yaml" },
  { label: "Clockwork adaptive", graph: "graphs/clockwork-adaptive.yaml" },
  { label: "Clockwork pipelined", graph: "graphs/clockwork-pipelined.yaml" },
  { label: "DVSNet balanced (target 80, 2x2)", graph: "graphs/dvsnet.yaml" },
];

/** DVSNet's accuracy/speed curve: the confidence target swept, 2x2 regions. */
export const dvsnetCurve: { label: string; graph: string; set?: string[] }[] = [
  { label: "per-frame", graph: "graphs/per-frame.yaml" },
  ...[50, 60, 70, 80, 90, 95].map((target) => ({
    label: `DVSNet target ${target}`,
    graph: "graphs/dvsnet.yaml",
    set: [`decide.target=${target}`],
  })),
  ...[80, 95].map((target) => ({
    label: `DVSNet 1x1 target ${target}`,
    graph: "graphs/dvsnet.yaml",
    set: [`decide.target=${target}`, "regions.grid=[1,1]"],
  })),
];

/** Share of frames (or DVSNet region steps) that took the expensive path; 1 for graphs without decisions. */
export function keyRatio(r: StatsReport): number {
  return keyRatioOf(r) ?? 1;
}

/** Runs one graph and returns its report. */
export async function runMethod(
  graph: string,
  options: { models?: string; input?: string; frames?: number; set?: string[] },
): Promise<StatsReport> {
  const loaded = await loadGraph(graph, {
    registry: builtinRegistry(),
    modelsRoot: resolve(new URL("../models", import.meta.url).pathname),
    ...(options.models ? { modelSet: options.models } : {}),
    ...(options.input ? { input: options.input } : {}),
    overrides: options.set ?? [],
  });
  loaded.sinks.length = 0; // time the methods, not PNG writing
  return await runGraph(loaded, { quiet: true, ...(options.frames ? { frames: options.frames } : {}) });
}

/** A markdown row of a report. */
export function tableRow(label: string, r: StatsReport): string {
  const miou = typeof r.metrics.miou === "number" ? (r.metrics.miou * 100).toFixed(1) : "-";
  const modelFps = r.models.ms_total > 0 ? (r.frames / (r.models.ms_total / 1000)).toFixed(1) : "-";
  const keys = keyRatio(r).toFixed(2);
  return `| ${label} | ${miou} | ${r.fps.toFixed(1)} | ${modelFps} | ${keys} | ${r.latency_ms.p50.toFixed(0)} / ${
    r.latency_ms.p99.toFixed(0)
  } |`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      models: { type: "string" },
      input: { type: "string" },
      frames: { type: "string" },
      "dvsnet-curve": { type: "boolean" },
      theta: { type: "string" },
    },
  });
  const options = {
    ...(values.models ? { models: values.models } : {}),
    ...(values.input ? { input: values.input } : {}),
    ...(values.frames ? { frames: Number(values.frames) } : {}),
  };
  const lines = [
    "| method | mIoU | fps (end-to-end) | fps (model-only) | key-frame ratio | latency p50 / p99 ms |",
    "|---|---|---|---|---|---|",
  ];
  // The adaptive clock's theta for about half the frames firing differs per clip (CamVid val: 0.22, the default).
  const theta = values.theta ? [`clock3.theta=${values.theta}`] : [];
  for (const listed of values["dvsnet-curve"] ? dvsnetCurve : methods) {
    const method = listed.graph.endsWith("clockwork-adaptive.yaml")
      ? { ...listed, set: [...(listed.set ?? []), ...theta] }
      : listed;
    await runMethod(method.graph, { ...options, frames: 3 }); // warm-up: sessions, JIT
    const report = await runMethod(method.graph, { ...options, ...(method.set ? { set: method.set } : {}) });
    lines.push(tableRow(method.label, report));
    console.error(lines.at(-1));
  }
  console.log(lines.join("\n"));
}
