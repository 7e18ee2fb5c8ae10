/**
 * `deno task eval-flow --model CARD.yaml DIR... [--pair FIRST SECOND TRUTH]...`: scores an optical-flow model
 * card on ground-truth pairs (Middlebury, KITTI 2012/2015, Sintel folders, or explicit pairs) at any frame size,
 * and prints a markdown table of EPE and KITTI Fl per pair and overall, next to an all-zero flow's. Bad input is
 * one line, `eval-flow: <file>: <what is wrong>`, and exit code 1.
 *
 * @example
 * ```sh
 * deno task eval-flow --model models/camvid/flow.yaml ../shared/data/flow/middlebury --scale 0.5 --json out/flow.json
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename } from "node:path";
import { UsageError } from "../engine/errors.ts";
import { writeTextFileAtomic } from "../engine/atomic_write.ts";
import { findFlowPairs, type FlowLayoutOptions, type FlowPair } from "../datasets/flow_truth.ts";
import {
  addFlowScores,
  emptyFlowScore,
  evaluateFlowPairs,
  type FlowMetrics,
  flowMetrics,
  type FlowPairResult,
  openFlowModel,
} from "../eval/flow_eval.ts";

/** The usage text. */
export const evalFlowUsage = `eval-flow: score an optical-flow model on ground-truth flow

usage:
  deno task eval-flow --model CARD.yaml DIR... [--pair FIRST SECOND TRUTH]... [options]

DIR is a Middlebury, KITTI 2012/2015 or Sintel folder (its root or its training/ folder); the layout is detected.
--pair gives one pair explicitly (TRUTH: .flo or KITTI 16-bit .png); repeatable.

options:
  --model FILE            flow model card (.yaml), or a bare .onnx with uint8 'reference'/'current' inputs
  --scale S               run the model on frames shrunk by S (0 < S <= 1; DFF and DVSNet use 0.5), score at full size
  --kitti flow_occ|flow_noc   KITTI truth: all pixels (default) or non-occluded only
  --pass clean|final      Sintel frames (default clean)
  --limit N               score at most the first N pairs
  --threads N             onnxruntime threads (default: all cores)
  --json FILE             also write the results as JSON
  --debug                 show the stack of an error

The model sees current = the first frame, reference = the second: its backward flow is the truth's forward flow.
EPE: mean end-point error (px) over valid pixels. Fl: % of valid pixels with error > 3 px and > 5% of the true
flow's length. "all" pools the valid pixels of every pair; the mean of the per-pair EPEs is printed under it.
zero: the same scores for an all-zero flow (no motion), the baseline to beat.`;

/** Parsed command line. */
export interface EvalFlowOptions {
  model: string;
  folders: string[];
  pairs: FlowPair[];
  layout: FlowLayoutOptions;
  scale: number;
  limit?: number;
  threads: number;
  json?: string;
  help: boolean;
}

const options = {
  model: { type: "string" },
  scale: { type: "string" },
  kitti: { type: "string" },
  pass: { type: "string" },
  limit: { type: "string" },
  threads: { type: "string" },
  json: { type: "string" },
  debug: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/**
 * Parses the arguments of `eval-flow`.
 *
 * @throws {UsageError} for unknown flags, bad values, or nothing to evaluate.
 */
export function parseEvalFlowArgs(argv: string[]): EvalFlowOptions {
  const { rest, pairs } = takePairs(argv);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, options });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!;
    const unknown = /^Unknown option '([^']*)'/.exec(message)?.[1];
    throw new UsageError(`${unknown ? `unknown option '${unknown}'` : message} (see --help)`);
  }
  const { values, positionals } = parsed;
  const result: EvalFlowOptions = {
    model: values.model ?? "",
    folders: positionals,
    pairs,
    layout: {},
    scale: 1,
    threads: navigator.hardwareConcurrency,
    help: values.help,
  };
  if (values.help) return result;
  if (!values.model) throw new UsageError("--model CARD.yaml is required (e.g. models/camvid/flow.yaml)");
  if (positionals.length === 0 && pairs.length === 0) {
    throw new UsageError("give folders of flow pairs or --pair FIRST SECOND TRUTH (see --help)");
  }
  if (values.scale !== undefined) {
    const scale = Number(values.scale);
    if (!(scale > 0 && scale <= 1)) throw new UsageError(`--scale must be a number in (0, 1], got '${values.scale}'`);
    result.scale = scale;
  }
  if (values.kitti !== undefined) {
    if (values.kitti !== "flow_occ" && values.kitti !== "flow_noc") {
      throw new UsageError(`--kitti must be flow_occ or flow_noc, got '${values.kitti}'`);
    }
    result.layout.kitti = values.kitti;
  }
  if (values.pass !== undefined) {
    if (values.pass !== "clean" && values.pass !== "final") {
      throw new UsageError(`--pass must be clean or final, got '${values.pass}'`);
    }
    result.layout.pass = values.pass;
  }
  if (values.limit !== undefined) result.limit = positiveInteger("--limit", values.limit);
  if (values.threads !== undefined) result.threads = positiveInteger("--threads", values.threads);
  if (values.json !== undefined) {
    if (values.json.trim() === "") throw new UsageError("--json needs a file name");
    result.json = values.json;
  }
  return result;
}

function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
  return n;
}

/** Removes each `--pair FIRST SECOND TRUTH` from `argv` (parseArgs takes one value per flag). */
function takePairs(argv: string[]): { rest: string[]; pairs: FlowPair[] } {
  const rest: string[] = [], pairs: FlowPair[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== "--pair") {
      if (argv[i]!.startsWith("--pair=")) throw new UsageError("--pair takes three files: --pair FIRST SECOND TRUTH");
      rest.push(argv[i]!);
      continue;
    }
    const files = argv.slice(i + 1, i + 4);
    if (files.length < 3 || files.some((f) => f.startsWith("-"))) {
      throw new UsageError(
        `--pair needs three files, FIRST SECOND TRUTH, got ${files.length ? files.join(" ") : "none"}`,
      );
    }
    const [first, second, truth] = files as [string, string, string];
    pairs.push({ name: basename(first), layout: "pair", first, second, truth });
    i += 3;
  }
  return { rest, pairs };
}

/** The pairs of every folder, then the explicit ones, cut to `limit`. */
async function collectPairs(cli: EvalFlowOptions): Promise<FlowPair[]> {
  const pairs: FlowPair[] = [];
  for (const folder of cli.folders) pairs.push(...await findFlowPairs(folder, cli.layout));
  pairs.push(...cli.pairs);
  return cli.limit === undefined ? pairs : pairs.slice(0, cli.limit);
}

const fixed = (value: number, digits: number) => Number.isFinite(value) ? value.toFixed(digits) : "-";

function row(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}

function metricCells(m: FlowMetrics): string[] {
  return [fixed(m.validShare, 1), fixed(m.epe, 3), fixed(m.fl, 2), fixed(m.zeroEpe, 3), fixed(m.zeroFl, 2)];
}

/** The markdown report: a header line, one row per pair, the pooled "all" row, and the mean of per-pair EPEs. */
export function formatFlowTable(model: string, scale: number, results: FlowPairResult[]): string {
  if (results.length === 0) return `model ${model}, scale ${scale}: no pairs to score`;
  const all = flowMetrics(results.map((r) => r.score).reduce(addFlowScores, emptyFlowScore()));
  const perPair = results.map((r) => flowMetrics(r.score));
  const lines = [
    `model ${model}, scale ${scale}: EPE in px; Fl = % of valid pixels with error > 3 px and > 5% of the true ` +
    `flow; zero = an all-zero flow`,
    "",
    row(["pair", "layout", "size", "valid %", "EPE", "Fl %", "zero EPE", "zero Fl %", "run ms"]),
    row(["---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ...results.map((r, i) =>
      row([
        r.pair.name,
        r.pair.layout,
        `${r.width}x${r.height}`,
        ...metricCells(perPair[i]!),
        String(Math.round(r.run.runMs)),
      ])
    ),
    row(["all", "", `${results.length} pair${results.length === 1 ? "" : "s"}`, ...metricCells(all), ""]),
    "",
    `all: pooled over the ${all.validPixels} valid pixels of all pairs; mean of per-pair EPE ${
      fixed(mean(perPair.map((m) => m.epe)), 3)
    } (zero flow ${fixed(mean(perPair.map((m) => m.zeroEpe)), 3)})`,
  ];
  return lines.join("\n");
}

function mean(values: number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.reduce((a, b) => a + b, 0) / finite.length;
}

const jsonNumber = (value: number) => Number.isFinite(value) ? Number(value.toFixed(6)) : null;

function metricsJson(m: FlowMetrics) {
  return {
    valid_pixels: m.validPixels,
    valid_percent: jsonNumber(m.validShare),
    epe: jsonNumber(m.epe),
    fl_percent: jsonNumber(m.fl),
    zero_epe: jsonNumber(m.zeroEpe),
    zero_fl_percent: jsonNumber(m.zeroFl),
  };
}

/** The JSON report: every pair's files, size and scores, and the pooled scores under `all`. */
export function flowReportJson(model: string, card: string, scale: number, results: FlowPairResult[]): unknown {
  const perPair = results.map((r) => flowMetrics(r.score));
  return {
    model,
    card,
    scale,
    pairs: results.map((r, i) => ({
      name: r.pair.name,
      layout: r.pair.layout,
      first: r.pair.first,
      second: r.pair.second,
      truth: r.pair.truth,
      ...(r.pair.invalid ? { invalid: r.pair.invalid } : {}),
      size: [r.height, r.width],
      padded: r.run.padded,
      cell: r.run.cell,
      run_ms: Math.round(r.run.runMs),
      ...metricsJson(perPair[i]!),
    })),
    all: {
      pairs: results.length,
      pooled: "over all valid pixels of all pairs",
      ...metricsJson(flowMetrics(results.map((r) => r.score).reduce(addFlowScores, emptyFlowScore()))),
      mean_pair_epe: jsonNumber(mean(perPair.map((m) => m.epe))),
      mean_pair_zero_epe: jsonNumber(mean(perPair.map((m) => m.zeroEpe))),
    },
  };
}

/** Runs `eval-flow` with `argv`; returns the exit code (errors are printed, one line, as `eval-flow: ...`). */
export async function evalFlow(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  try {
    const cli = parseEvalFlowArgs(argv);
    if (cli.help) {
      console.log(evalFlowUsage);
      return 0;
    }
    const pairs = await collectPairs(cli);
    const model = await openFlowModel(cli.model, cli.threads);
    let results: FlowPairResult[];
    try {
      results = await evaluateFlowPairs(model, pairs, cli.scale);
    } finally {
      await model.close();
    }
    const label = model.name === cli.model ? cli.model : `${model.name} (${cli.model})`;
    console.log(formatFlowTable(label, cli.scale, results));
    if (cli.json) {
      const json = JSON.stringify(flowReportJson(model.name, cli.model, cli.scale, results), null, 2);
      try {
        await writeTextFileAtomic(cli.json, `${json}\n`);
      } catch (error) {
        throw new Error(`${cli.json}: cannot write the JSON report (${(error as Error).message})`);
      }
    }
    return 0;
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    console.error(debug ? (e.stack ?? e.message) : `eval-flow: ${e.message.split("\n")[0]}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await evalFlow(Deno.args));
