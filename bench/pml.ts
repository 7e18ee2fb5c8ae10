/**
 * PML video object segmentation on DAVIS: the paper's ablation (spatio-temporal channels, online adaptation)
 * and the two baselines it must beat, measured side by side in one run, as a markdown table.
 *
 * `deno run -A bench/pml.ts [--input ../shared/data/davis2016] [--models synthetic]`
 *
 * J and F are the official DAVIS definitions (means over frames without the first and last, then over
 * sequences and objects); ms/frame is end-to-end wall time per frame without sinks.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runMethod } from "./methods.ts";
import type { StatsReport } from "../engine/stats.ts";

/** The variants compared. */
export const variants: { label: string; graph: string; set?: string[] }[] = [
  { label: "PML: position channels + online adaptation", graph: "graphs/pml-vos.yaml" },
  { label: "PML: position channels only", graph: "graphs/pml-vos.yaml", set: ["pml.adapt=false"] },
  { label: "PML: online adaptation only", graph: "graphs/pml-vos.yaml", set: ["pml.position_weight=0"] },
  { label: "PML: neither", graph: "graphs/pml-vos.yaml", set: ["pml.adapt=false", "pml.position_weight=0"] },
  { label: "baseline: copy the first mask", graph: "graphs/tools/vos-copy-first.yaml" },
  { label: "baseline: warp the previous mask by flow", graph: "graphs/tools/vos-flow-warp.yaml" },
];

function mean(record: unknown): number {
  if (typeof record === "number") return record;
  const r = record as { mean?: number } | undefined;
  return r?.mean ?? NaN;
}

/** A markdown row of a report. */
export function pmlRow(label: string, r: StatsReport): string {
  const m = r.metrics as Record<string, unknown>;
  const pct = (v: number) => (v * 100).toFixed(1);
  return `| ${label} | ${pct(mean(m.j))} | ${pct(mean(m.f))} | ${pct(m.jf as number)} | ${
    (1000 * r.seconds / r.frames).toFixed(0)
  } |`;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { input: { type: "string" }, models: { type: "string" } } });
  const input = values.input ?? "../shared/data/davis2016";
  const lines = ["| method | J | F | J&F | ms/frame |", "|---|---|---|---|---|"];
  for (const v of variants) {
    const options = { input, ...(values.models ? { models: values.models } : {}) };
    await runMethod(v.graph, { ...options, frames: 3 }); // warm-up
    const report = await runMethod(v.graph, { ...options, ...(v.set ? { set: v.set } : {}) });
    lines.push(pmlRow(v.label, report));
    console.error(lines.at(-1));
  }
  console.log(lines.join("\n"));
}
