/**
 * Method comparison: every method graph over the same clip, measured side by side in one run, as markdown tables
 * (mIoU, end-to-end fps, model-only fps, key-frame ratio, latency, and the speedups over the per-frame row), one
 * table per backbone scale (see {@linkcode scales}): each scale swaps the graphs' cards with `--set
 * models.<alias>=<card>` and is compared with its own per-frame row. A scale whose cards the model set lacks is
 * skipped with one line naming them.
 *
 * `deno run -A bench/methods.ts [--models camvid] [--models-root DIR] [--input ../shared/data/camvid/val]
 * [--frames N] [--theta T] [--scales seg,seg-large] [--repeats N] [--dvsnet-curve] [--real-video
 * [--real-input DIR] [--sequences a,b]]` (`--theta`: the adaptive Clockwork threshold for this clip; `--repeats`:
 * each row measured N times in interleaved rounds, the run of median end-to-end fps reported, for noisy hosts)
 *
 * `--dvsnet-curve` measures DVSNet at targets 50..95 instead (with per-frame as the reference row), on the clip or,
 * with `--real-video`, as an agreement/fps curve on real video. For DVSNet the key-frame ratio column is the share of
 * region steps that segmented; on real video a second table gives each region's longest run of flow steps and its
 * agreement with the per-frame labels.
 *
 * `--real-video` runs the methods on real moving-camera video without ground truth in the models' classes (the
 * DAVIS sequences of `--real-input`, default the five held-out sequences of `../shared/data/davis2016-extra`
 * ({@linkcode heldOutSequences}; the other five choose the adaptive clocks' thresholds), each sequence its own stream, so
 * key-frame schedules restart per sequence) and reports each method's label agreement with the per-frame graph
 * of the same backbone: per frame, the share of pixels with the same label; the mean over all frames and the
 * lowest sequence mean.
 *
 * Model-only fps is frames / (sum of session.run time): the speed the models alone would allow.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadGraph } from "../engine/graph.ts";
import { runGraph, type RunOptions } from "../engine/run.ts";
import { withoutUnreadStages } from "../engine/prune.ts";
import type { StatsReport } from "../engine/stats.ts";
import type { Frame } from "../engine/frame.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { keyRatioOf } from "../eval/run_eval.ts";
import { AgreementMeter, type AgreementSummary, labelsOf, ReferenceLabels } from "./_label_agreement.ts";

/** One row of a table: a graph with the settings its label names. */
export interface MethodRow {
  label: string;
  graph: string;
  set?: string[];
  /** Model aliases a scale leaves on their card (Accel's update branches: seg-lite, seg at every scale). */
  keep?: string[];
  /** Card replacements of this row that take precedence over its scale's (Accel's fusion layer for its update branch). */
  cards?: Readonly<Record<string, string>>;
}

/** The graphs compared at the `seg` scale, with the settings the table names; the first row is the reference. */
export const methods: MethodRow[] = [
  { label: "per-frame", graph: "graphs/per-frame.yaml" },
  { label: "DFF @5", graph: "graphs/dff.yaml" },
  { label: "Accel @5 (seg-lite)", graph: "graphs/accel.yaml" },
  { label: "Clockwork fixed (S3 every 2)", graph: "graphs/clockwork.yaml" },
  { label: "Clockwork adaptive", graph: "graphs/clockwork-adaptive.yaml" },
  { label: "Clockwork adaptive, S2+S3 on one clock", graph: "graphs/clockwork-adaptive-deep.yaml" },
  { label: "Clockwork pipelined", graph: "graphs/clockwork-pipelined.yaml" },
  { label: "DVSNet balanced (target 80, 2x2)", graph: "graphs/dvsnet.yaml" },
];

/** DVSNet's accuracy/speed curve: the confidence target swept, 2x2 regions. */
export const dvsnetCurve: MethodRow[] = [
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

/** Accel's update-branch aliases: the light network stays the same whatever the reference branch's scale. */
const accelUpdate = ["update", "update_full"];

/**
 * The `seg-large` scale's cards, by the `seg` card each replaces: the per-frame network, its DFF/Accel cuts,
 * Clockwork's stages, Accel's fusion layer (trained over the large reference branch) and DVSNet's decision
 * network (trained on the large network's confidence scores). With {@linkcode largeFusionSeg}, the one place these
 * names are written.
 */
export const largeCards: Readonly<Record<string, string>> = {
  seg: "seg-large",
  "seg-features": "seg-large-features",
  "seg-head": "seg-large-head",
  "seg-s1": "seg-large-s1",
  "seg-s2": "seg-large-s2",
  "seg-s3": "seg-large-s3",
  "seg-fuse": "seg-large-fuse",
  fusion: "fusion-large",
  decision: "decision-large",
};

/**
 * Accel's fusion layer at the `seg-large` scale when the update branch is `seg` (`update.model=update_full`): a fusion
 * layer is trained for one update branch, and `fusion-large` is seg-lite's.
 */
export const largeFusionSeg = "fusion-large-seg";

/** A backbone scale: which cards replace the graphs' cards, and the rows measured at it. */
export interface Scale {
  name: string;
  /** The per-frame network, which every row is compared with. */
  reference: string;
  /** Card replacements, by the card a graph names (aliases whose card is not listed keep it). */
  cards: Readonly<Record<string, string>>;
  rows: MethodRow[];
  /**
   * `--set` flags by graph file at this scale: the adaptive clocks' thresholds, chosen per backbone on training
   * video for about half the frames firing (`bench/clock_theta.ts`), as the Clockwork notebooks chose theta.
   */
  settings?: Readonly<Record<string, readonly string[]>>;
}

/**
 * The scales measured, each with its own per-frame reference row. `seg`: the graphs as they are. `seg-large`:
 * every `seg` card swapped for its `seg-large` twin ({@linkcode largeCards}); Accel twice, with the update branch
 * `seg-lite` and `seg` (whose fusion layer is {@linkcode largeFusionSeg}).
 */
export const scales: Scale[] = [
  { name: "seg", reference: "seg", cards: {}, rows: methods },
  {
    name: "seg-large",
    reference: "seg-large",
    cards: largeCards,
    rows: methods.flatMap((row) =>
      row.graph !== "graphs/accel.yaml" ? [row] : [
        { label: "Accel @5 (update seg-lite)", graph: row.graph, keep: accelUpdate },
        {
          label: "Accel @5 (update seg)",
          graph: row.graph,
          set: ["update.model=update_full"],
          keep: accelUpdate,
          cards: { fusion: largeFusionSeg },
        },
      ]
    ),
    settings: {
      "graphs/clockwork-adaptive.yaml": ["clock3.theta=0.2"],
      "graphs/clockwork-adaptive-deep.yaml": ["clock23.theta=0.25"],
    },
  },
];

/** The repository root, where the graphs' paths start. */
const repoRoot = resolve(new URL("..", import.meta.url).pathname);
const defaultModelsRoot = join(repoRoot, "models");

/** Options every measurement takes. */
export interface BenchOptions {
  models?: string;
  /** Where model sets live (default: the repository's `models/`). */
  modelsRoot?: string;
  input?: string;
  frames?: number;
  /** Clockwork adaptive's `clock3.theta` for this clip. */
  theta?: string;
}

/** Share of frames (or DVSNet region steps) that took the expensive path; 1 for graphs without decisions. */
export function keyRatio(r: StatsReport): number {
  return keyRatioOf(r) ?? 1;
}

/** Model-only fps: frames / total session.run time (0 without model time). */
export function modelFps(r: StatsReport): number {
  return r.models.ms_total > 0 ? r.frames / (r.models.ms_total / 1000) : 0;
}

/** Warnings of a run on stderr, except the expected one of a source without ground truth for `evaluate`. */
function benchWarning(message: string): void {
  if (!/needs ground-truth .* has none; skipped/.test(message)) console.error(`warning: ${message}`);
}

/** Runs one graph (without its sinks) and returns its report. */
export async function runMethod(
  graph: string,
  options: BenchOptions & { set?: string[]; onFrame?: RunOptions["onFrame"]; hostSlots?: string[] },
): Promise<StatsReport> {
  const loaded = await loadGraph(resolve(repoRoot, graph), {
    registry: builtinRegistry(),
    modelsRoot: options.modelsRoot ?? defaultModelsRoot,
    ...(options.models ? { modelSet: options.models } : {}),
    ...(options.input ? { input: options.input } : {}),
    overrides: options.set ?? [],
  });
  // Time the methods, not PNG writing, nor what only the sinks read (DVSNet's boxes, drawn by its overlay sink).
  loaded.sinks.length = 0;
  loaded.stages = withoutUnreadStages(loaded.stages, [], options.hostSlots);
  return await runGraph(loaded, {
    quiet: true,
    warn: benchWarning,
    ...(options.frames ? { frames: options.frames } : {}),
    ...(options.onFrame ? { onFrame: options.onFrame } : {}),
    ...(options.hostSlots ? { hostSlots: options.hostSlots } : {}),
  });
}

/** The graph file's `models:` (alias -> card reference). */
async function graphModels(graph: string): Promise<Record<string, unknown>> {
  const doc = parseYaml(await Deno.readTextFile(resolve(repoRoot, graph))) as { models?: Record<string, unknown> };
  return doc?.models ?? {};
}

/** The `--set models.<alias>=<card>` flags that put `row`'s graph at `scale`. */
export async function scaleOverrides(row: MethodRow, scale: Scale): Promise<string[]> {
  return Object.entries(await graphModels(row.graph)).flatMap(([alias, card]) => {
    const swapped = typeof card === "string" && !row.keep?.includes(alias)
      ? row.cards?.[card] ?? scale.cards[card]
      : undefined;
    return swapped ? [`models.${alias}=${swapped}`] : [];
  });
}

/** Every `--set` of a row at a scale: the scale's model flags and settings, the row's own, the clip's theta. */
export async function rowSettings(row: MethodRow, scale: Scale, theta?: string): Promise<string[]> {
  return [
    ...await scaleOverrides(row, scale),
    ...(scale.settings?.[row.graph] ?? []),
    ...(row.set ?? []),
    ...(theta && row.graph.endsWith("clockwork-adaptive.yaml") ? [`clock3.theta=${theta}`] : []),
  ];
}

/** The model set the graphs run with on this input (`--models`, or what `auto` picks for the frames). */
export async function resolvedModelSet(options: BenchOptions): Promise<string> {
  if (options.models) return options.models;
  const loaded = await loadGraph(join(repoRoot, "graphs/per-frame.yaml"), {
    registry: builtinRegistry(),
    modelsRoot: options.modelsRoot ?? defaultModelsRoot,
    ...(options.input ? { input: options.input } : {}),
  });
  return loaded.modelSet;
}

/** The cards `rows` need at `scale` that model set `set` lacks. */
export async function missingScaleCards(scale: Scale, rows: MethodRow[], options: BenchOptions): Promise<string[]> {
  const set = await resolvedModelSet(options);
  const setDir = resolve(options.modelsRoot ?? defaultModelsRoot, set);
  const needed = new Set<string>();
  for (const row of rows) {
    for (const flag of await scaleOverrides(row, scale)) needed.add(flag.slice(flag.indexOf("=") + 1));
  }
  const missing: string[] = [];
  for (const card of needed) {
    if (!await Deno.stat(join(setDir, `${card}.yaml`)).then(() => true, () => false)) missing.push(card);
  }
  return missing;
}

/** One measured row. */
export interface RowResult {
  row: MethodRow;
  settings: string[];
  report: StatsReport;
  agreement?: AgreementSummary;
}

const pct = (x: number) => (x * 100).toFixed(1);
const times = (x: number, base: number) => base > 0 && x > 0 ? `${(x / base).toFixed(2)}x` : "-";
const latency = (r: StatsReport) => `${r.latency_ms.p50.toFixed(0)} / ${r.latency_ms.p99.toFixed(0)}`;

/** The clip table's header. */
export const tableHeader = [
  "| method | mIoU | fps (end-to-end) | fps (model-only) | key-frame ratio | latency p50 / p99 ms | speedup (end-to-end) | speedup (model-only) |",
  "|---|---|---|---|---|---|---|---|",
];

/** A markdown row of a report, with its speedups over the reference report `base`. */
export function tableRow(label: string, r: StatsReport, base: StatsReport): string {
  const miou = typeof r.metrics.miou === "number" ? pct(r.metrics.miou) : "-";
  const model = modelFps(r);
  return `| ${label} | ${miou} | ${r.fps.toFixed(1)} | ${model > 0 ? model.toFixed(1) : "-"} | ${
    keyRatio(r).toFixed(2)
  } | ${latency(r)} | ${times(r.fps, base.fps)} | ${times(model, modelFps(base))} |`;
}

/** The real-video table's header. */
export const agreementHeader = [
  "| method | agreement % (mean) | agreement % (worst sequence) | fps (end-to-end) | fps (model-only) | key-frame ratio | latency p50 / p99 ms | speedup (end-to-end) | speedup (model-only) |",
  "|---|---|---|---|---|---|---|---|---|",
];

/** A markdown row of a real-video run. */
export function agreementRow(label: string, r: StatsReport, base: StatsReport, agreement?: AgreementSummary): string {
  const mean = agreement ? pct(agreement.mean) : "100 (reference)";
  const worst = agreement ? `${pct(agreement.min.mean)} (${agreement.min.sequence})` : "-";
  const model = modelFps(r);
  return `| ${label} | ${mean} | ${worst} | ${r.fps.toFixed(1)} | ${model > 0 ? model.toFixed(1) : "-"} | ${
    keyRatio(r).toFixed(2)
  } | ${latency(r)} | ${times(r.fps, base.fps)} | ${times(model, modelFps(base))} |`;
}

/**
 * DVSNet's freshness on real video, per region (issue 16): the longest run of flow steps a region made without
 * segmenting (the stage's `longest_flow_run.r<i>` counters, the longest over every sequence) and the region's mean
 * agreement with the per-frame labels (its quarter of the frame). Rows without regions are left out.
 */
export function freshnessLines(results: RowResult[]): string[] {
  const rows = results.filter((r) => r.agreement && Object.keys(r.report.counters).some(isRunCounter));
  const regional = (r: RowResult) =>
    Object.keys(r.report.counters).some((name) => name.startsWith("longest_flow_run.r"));
  if (!rows.length) return [];
  const lines = [
    "Per region (r0 r1 / r2 r3: the quarters of the frame, row-major): the longest run of flow steps without a " +
    "segmentation (frames) and the mean agreement with per-frame labels.",
    "",
    "| method | longest flow run r0 / r1 / r2 / r3 | agreement % r0 / r1 / r2 / r3 |",
    "|---|---|---|",
  ];
  for (const r of rows) {
    const counters = r.report.counters;
    const runs = regional(r)
      ? [0, 1, 2, 3].map((i) => counters[`longest_flow_run.r${i}`] ?? 0)
      : [counters["longest_flow_run"] ?? 0];
    const regions = r.agreement!.perRegion.map(pct);
    lines.push(`| ${r.row.label} | ${runs.join(" / ")} | ${regions.join(" / ")} |`);
  }
  return [...lines, ""];
}

const isRunCounter = (name: string) => name === "longest_flow_run" || name.startsWith("longest_flow_run.r");

/** The `--set` flags of each row (those that differ from the graph file): one line, or a table. */
function settingsLines(results: { row: MethodRow; settings: string[] }[]): string[] {
  const listed = results.filter((r) => r.settings.length);
  if (!listed.length) return ["Settings: the graphs as they are.", ""];
  return [
    "| method | settings |",
    "|---|---|",
    ...listed.map((r) => `| ${r.row.label} | ${r.settings.map((s) => `\`--set ${s}\``).join(" ")} |`),
    "",
  ];
}

/** What a measurement does at each scale. */
interface ScalePlan {
  scale: Scale;
  rows: MethodRow[];
  /** The cards the set lacks (the scale is skipped), or none. */
  missing: string[];
}

async function planScales(
  options: BenchOptions & { scales?: string[]; rows?: (scale: Scale) => MethodRow[] },
): Promise<ScalePlan[]> {
  const chosen = options.scales ? scales.filter((s) => options.scales!.includes(s.name)) : scales;
  const unknown = (options.scales ?? []).filter((name) => !scales.some((s) => s.name === name));
  if (unknown.length) {
    throw new Error(`--scales: no scale ${unknown.join(", ")} (scales: ${scales.map((s) => s.name).join(", ")})`);
  }
  const plans: ScalePlan[] = [];
  for (const scale of chosen) {
    const rows = options.rows?.(scale) ?? scale.rows;
    plans.push({ scale, rows, missing: await missingScaleCards(scale, rows, options) });
  }
  return plans;
}

/** The line that says a scale was skipped, naming the cards. */
async function skippedLine(plan: ScalePlan, options: BenchOptions): Promise<string> {
  return `${plan.scale.name} scale skipped: model set '${await resolvedModelSet(options)}' has no ${
    plan.missing.map((card) => `'${card}'`).join(", ")
  }.`;
}

/** What one scale's rows measured; with repeats, each row's run of median end-to-end fps. */
interface PlanResult {
  results: RowResult[];
  /** The sequences (streams) the per-frame run saw, and its frame size. */
  sequences: Set<string>;
  size: string;
}

/**
 * Runs each row of `plan` `repeats` times, in interleaved rounds (every row once, then again), each run after its own
 * 3-frame warm-up, and keeps per row the run of median end-to-end fps. With `agreement`, the first per-frame run
 * keeps its labels and every other run is compared with them frame by frame (later per-frame runs too: a check
 * that they agree fully).
 */
async function measurePlan(
  plan: ScalePlan,
  run: BenchOptions & { repeats?: number },
  agreement: boolean,
  log: (line: string) => void,
  prefix: string,
): Promise<PlanResult> {
  const [first] = plan.rows;
  if (agreement && !first?.graph.endsWith("per-frame.yaml")) throw new Error("the first row must be per-frame");
  const reference = new ReferenceLabels();
  const sequences = new Set<string>();
  let size = "";
  const repeats = Math.max(1, run.repeats ?? 1);
  const settings = await Promise.all(plan.rows.map((row) => rowSettings(row, plan.scale, run.theta)));
  const runs: RowResult[][] = plan.rows.map(() => []);
  for (let round = 0; round < repeats; round++) {
    for (const [i, row] of plan.rows.entries()) {
      await runMethod(row.graph, { ...run, set: settings[i]!, frames: 3 }); // warm-up: sessions, JIT
      const collect = agreement && round === 0 && i === 0;
      const meter = agreement && !collect ? new AgreementMeter(reference) : undefined;
      const report = await runMethod(row.graph, {
        ...run,
        set: settings[i]!,
        ...(agreement ? { hostSlots: ["labels"] } : {}),
        ...(agreement
          ? {
            onFrame: (frame: Frame) => {
              if (meter) return meter.add(frame);
              reference.add(frame, labelsOf(frame));
              sequences.add(frame.stream);
              size ||= `${frame.image.width}x${frame.image.height}`;
            },
          }
          : {}),
      });
      if (report.frames === 0) throw new Error(`${row.label}: no frames from ${run.input ?? "the graph's source"}`);
      const summary = meter?.summary();
      if (summary?.unmatched) log(`warning: ${row.label}: ${summary.unmatched} frames not in the per-frame run`);
      if (i === 0 && summary && summary.mean < 1) {
        log(`warning: per-frame labels differ between runs (agreement ${pct(summary.mean)}%)`);
      }
      runs[i]!.push({ row, settings: settings[i]!, report, ...(summary && i > 0 ? { agreement: summary } : {}) });
      const base = runs[0]![round]!.report;
      const line = agreement
        ? agreementRow(row.label, report, base, summary && i > 0 ? summary : undefined)
        : tableRow(row.label, report, base);
      log(`[${prefix}${repeats > 1 ? `, run ${round + 1}/${repeats}` : ""}] ${line}`);
      if (collect) {
        log(
          `per-frame labels kept: ${reference.size} frames, ${(reference.bytes / 2 ** 20).toFixed(1)} MB ` +
            `deflated (${(reference.rawBytes / 2 ** 20).toFixed(0)} MB raw)`,
        );
      }
    }
  }
  const median = (row: RowResult[]) => [...row].sort((x, y) => x.report.fps - y.report.fps)[(row.length - 1) >> 1]!;
  return { results: runs.map(median), sequences, size };
}

/** How many runs each row's figures come from, for the table's heading. */
const repeatsNote = (repeats = 1) =>
  repeats > 1 ? `; each row the run of median end-to-end fps of ${repeats}, rows interleaved` : "";

/**
 * Runs every row of every scale (a 3-frame warm-up each, then the clip) and returns the markdown: per scale a
 * heading, the table with speedups over that scale's per-frame row, and the settings.
 */
export async function measureScales(
  options: BenchOptions & { scales?: string[]; rows?: (scale: Scale) => MethodRow[]; repeats?: number },
  log: (line: string) => void = (line) => console.error(line),
): Promise<string[]> {
  const lines: string[] = [];
  for (const plan of await planScales(options)) {
    if (plan.missing.length) {
      const line = await skippedLine(plan, options);
      lines.push(line, "");
      log(line);
      continue;
    }
    const { results } = await measurePlan(plan, options, false, log, plan.scale.name);
    const base = results[0]!.report;
    lines.push(
      `**${plan.scale.name} scale** (per-frame reference: \`${plan.scale.reference}\`${repeatsNote(options.repeats)}):`,
      "",
      ...tableHeader,
      ...results.map((r) => tableRow(r.row.label, r.report, base)),
      "",
      ...settingsLines(results),
    );
  }
  return lines;
}

/** The DAVIS folder `--real-video` plays by default. */
export const defaultRealVideo = join(repoRoot, "../shared/data/davis2016-extra");

/**
 * The split of {@linkcode defaultRealVideo}: the adaptive clocks' thresholds are chosen on the first five
 * (`bench/clock_theta.ts`), the methods' agreement is measured on the other five (`--real-video`'s default).
 */
export const calibrationSequences = ["breakdance", "camel", "cows", "dance-twirl", "drift-chicane"];
export const heldOutSequences = ["drift-straight", "goat", "motocross-jump", "parkour", "soapbox"];

/**
 * A DAVIS root holding only `sequences` of `root` (symlinks), for a shorter real-video run; the caller removes
 * it. Throws naming a sequence that `root` lacks.
 */
export async function sequenceSubset(root: string, sequences: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "segflow-real-video-" });
  for (const folder of ["JPEGImages", "Annotations"]) {
    await Deno.mkdir(join(dir, folder, "480p"), { recursive: true });
    for (const sequence of sequences) {
      const from = join(resolve(root), folder, "480p", sequence);
      if (!await Deno.stat(from).then((s) => s.isDirectory, () => false)) {
        if (folder === "Annotations") continue;
        await Deno.remove(dir, { recursive: true });
        throw new Error(`--sequences: ${root} has no sequence '${sequence}' (no ${from})`);
      }
      await Deno.symlink(from, join(dir, folder, "480p", sequence));
    }
  }
  // The DAVIS source lists the sequence folders (symlinks are no folders to it) from ImageSets when present.
  await Deno.mkdir(join(dir, "ImageSets", "2016"), { recursive: true });
  await Deno.writeTextFile(join(dir, "ImageSets", "2016", "val.txt"), sequences.join("\n") + "\n");
  return dir;
}

/**
 * Real moving-camera video: every row of every scale on the DAVIS sequences of `root` (each its own stream),
 * compared frame by frame with that scale's per-frame labels. Returns the markdown (a line saying the data is
 * missing when `root` is absent).
 */
export async function measureRealVideo(
  options: BenchOptions & {
    root?: string;
    sequences?: string[];
    scales?: string[];
    repeats?: number;
    rows?: (scale: Scale) => MethodRow[];
  },
  log: (line: string) => void = (line) => console.error(line),
): Promise<string[]> {
  const root = options.root ?? defaultRealVideo;
  if (!await Deno.stat(join(root, "JPEGImages")).then((s) => s.isDirectory, () => false)) {
    const line = `Real-video agreement skipped: no DAVIS data at ${root} (expected JPEGImages/480p/<sequence>/).`;
    log(line);
    return [line, ""];
  }
  const chosen = options.sequences ?? (options.root === undefined ? heldOutSequences : undefined);
  const input = chosen?.length ? await sequenceSubset(root, chosen) : root;
  const { input: _clip, ...rest } = options;
  const run = { ...rest, input };
  try {
    const lines: string[] = [];
    for (const plan of await planScales(run)) {
      if (plan.missing.length) {
        const line = await skippedLine(plan, run);
        lines.push(line, "");
        log(line);
        continue;
      }
      const { results, sequences, size } = await measurePlan(plan, run, true, log, `${plan.scale.name}, real video`);
      const base = results[0]!.report;
      lines.push(
        `**${plan.scale.name} scale** (reference: per-frame \`${plan.scale.reference}\`; ${base.frames} frames of ` +
          `${size} in ${sequences.size} sequence${sequences.size === 1 ? "" : "s"}: ${[...sequences].join(", ")}${
            repeatsNote(options.repeats)
          }):`,
        "",
        ...agreementHeader,
        ...results.map((r) => agreementRow(r.row.label, r.report, base, r.agreement)),
        "",
        ...freshnessLines(results),
        ...settingsLines(results),
      );
    }
    return lines;
  } finally {
    if (input !== root) await Deno.remove(input, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      models: { type: "string" },
      "models-root": { type: "string" },
      input: { type: "string" },
      frames: { type: "string" },
      "dvsnet-curve": { type: "boolean" },
      theta: { type: "string" },
      scales: { type: "string" },
      "real-video": { type: "boolean" },
      "real-input": { type: "string" },
      sequences: { type: "string" },
      repeats: { type: "string" },
    },
  });
  const list = (text: string | undefined) => text?.split(",").map((s) => s.trim()).filter(Boolean);
  const options = {
    ...(values.models ? { models: values.models } : {}),
    ...(values["models-root"] ? { modelsRoot: resolve(values["models-root"]) } : {}),
    ...(values.input ? { input: values.input } : {}),
    ...(values.frames ? { frames: Number(values.frames) } : {}),
    ...(values.theta ? { theta: values.theta } : {}),
    ...(values.scales ? { scales: list(values.scales)! } : {}),
    ...(values.repeats ? { repeats: Number(values.repeats) } : {}),
  };
  const lines = values["real-video"]
    ? await measureRealVideo({
      ...options,
      ...(values["real-input"] ? { root: values["real-input"] } : {}),
      ...(values.sequences ? { sequences: list(values.sequences)! } : {}),
      ...(values["dvsnet-curve"] ? { rows: () => dvsnetCurve } : {}),
    })
    : await measureScales({
      ...options,
      ...(values["dvsnet-curve"] ? { rows: () => dvsnetCurve } : {}),
    });
  console.log(lines.join("\n"));
}
