/**
 * `deno task eval`: runs each graph (and each sweep point) over the same frames, one after another on an
 * otherwise idle engine, and gathers what the report needs: the stats report, the accuracy, a per-frame
 * timeline and a few sample frames. Sinks are dropped (the report measures the methods, not PNG writing), and
 * each variant first runs a few warm-up frames (sessions, JIT) that are not measured.
 *
 * @module
 */
import { parse } from "yaml";
import { loadGraph, type LoadOptions } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { StatsReport } from "../engine/stats.ts";
import type { Registry } from "../engine/registry.ts";
import type { ClassInfo } from "../engine/model_card.ts";
import { FrameCollector, type SampleFrame, type TimelinePoint } from "./collect.ts";
import { expandVariants, type Sweep, type Variant } from "./variants.ts";

/** One evaluated variant. */
export interface EvalResult {
  variant: Variant;
  report: StatsReport;
  /** The headline accuracy: mIoU for semantic segmentation, J&F for video object segmentation. */
  accuracy: { metric: "miou" | "jf"; value: number } | null;
  /** Frames per second of model time alone (frames / total session.run time). */
  modelFps: number | null;
  /** Share of frames (or DVSNet region steps) that took the expensive path. */
  keyRatio: number | null;
  timeline: TimelinePoint[];
  samples: SampleFrame[];
  /** Classes for pictures and the per-class table (the graph's first card with classes). */
  classes?: ClassInfo;
}

/** Options of {@linkcode evaluate}. */
export interface EvalOptions {
  graphs: string[];
  sweeps: Sweep[];
  load: LoadOptions;
  frames?: number;
  warmupFrames?: number;
  /** Called before each variant runs (progress on stderr). */
  onVariant?: (variant: Variant, index: number, count: number) => void;
}

/** The headline accuracy of a report. */
export function headlineAccuracy(report: StatsReport): EvalResult["accuracy"] {
  if (typeof report.metrics.miou === "number") return { metric: "miou", value: report.metrics.miou };
  if (typeof report.metrics.jf === "number") return { metric: "jf", value: report.metrics.jf };
  return null;
}

/** Share of frames (or DVSNet region steps) that took the expensive path. */
export function keyRatioOf(report: StatsReport): number | null {
  const seg = report.counters.segmentation_steps, flow = report.counters.flow_steps;
  if (seg !== undefined || flow !== undefined) return (seg ?? 0) / Math.max(1, (seg ?? 0) + (flow ?? 0));
  return report.keyframe_ratio;
}

/** Runs every variant and returns the results in order. */
export async function evaluate(options: EvalOptions, registry: Registry): Promise<EvalResult[]> {
  // A sweep applies to a graph whose file sets that parameter on that stage (so `decide.every` sweeps DFF's
  // interval but not DVSNet's confidence decisions, where `every` means nothing).
  const settable = new Map<string, Set<string>>();
  for (const graph of options.graphs) {
    await loadGraph(graph, { ...options.load, registry }); // validates before anything runs
    const doc = parse(await Deno.readTextFile(graph)) as { stages?: { id?: string; [key: string]: unknown }[] };
    settable.set(graph, new Set((doc.stages ?? []).flatMap((s) => Object.keys(s).map((k) => `${s.id}.${k}`))));
  }
  const variants = expandVariants(options.graphs, options.sweeps, (g) => settable.get(g)!);
  const results: EvalResult[] = [];
  for (const [i, variant] of variants.entries()) {
    options.onVariant?.(variant, i, variants.length);
    const load = { ...options.load, registry, overrides: [...(options.load.overrides ?? []), ...variant.overrides] };
    const warmup = options.warmupFrames ?? 3;
    if (warmup > 0) {
      const graph = await loadGraph(variant.graph, load);
      graph.sinks.length = 0;
      await runGraph(graph, { quiet: true, frames: warmup });
    }
    const graph = await loadGraph(variant.graph, load);
    graph.sinks.length = 0;
    // The decisions the timeline shows: what the stage counting key frames writes, or DVSNet's merged regions.
    const decide = graph.stages.find((s) => s.kind === "decide" && (s.params.counter ?? "keyframes") === "keyframes");
    const merge = graph.stages.find((s) => s.kind === "merge-regions");
    const collector = new FrameCollector(i === 0, {
      ...(decide?.outputs.key ? { key: decide.outputs.key } : {}),
      ...(merge?.outputs.keys ? { regions: merge.outputs.keys } : {}),
    });
    const report = await runGraph(graph, {
      quiet: true,
      ...(options.frames !== undefined ? { frames: options.frames } : {}),
      onFrame: (frame) => collector.add(frame, performance.now()),
    });
    const classes = [...graph.models.values()].find((card) => card.classes)?.classes;
    results.push({
      variant,
      report,
      accuracy: headlineAccuracy(report),
      modelFps: report.models.ms_total > 0 ? report.frames / (report.models.ms_total / 1000) : null,
      keyRatio: keyRatioOf(report),
      timeline: collector.timeline,
      samples: collector.samples,
      ...(classes ? { classes } : {}),
    });
  }
  return results;
}
