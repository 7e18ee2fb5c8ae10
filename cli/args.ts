/**
 * Command-line parsing for `main.ts` (node:util `parseArgs`; JSR's std is unreachable here).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../engine/errors.ts";
import { suggest } from "../engine/suggest.ts";
import { checkExecutionFlag } from "../engine/execution.ts";

/** Parsed flags shared by the commands. */
export interface CliOptions {
  command: string;
  graphs: string[];
  input?: string;
  /** `--input` given more than once: one stream each, in one run. */
  inputs?: string[];
  output?: string;
  format?: string;
  /** `--format jsonl`: where metadata lines go (`-`, or the `.jsonl` file `--output` named). */
  metadata?: string;
  size?: string;
  models?: string;
  frames?: number;
  ep?: string;
  set: string[];
  stats?: string;
  /** `--metrics [HOST]:PORT`: serve Prometheus metrics there while the run lasts. */
  metrics?: string;
  trace?: string;
  maxInFlight?: number;
  workers?: number;
  quiet: boolean;
  debug: boolean;
  /** A damaged or truncated video input is a warning, not an error. */
  allowPartial: boolean;
  dot: boolean;
  help: boolean;
  /** `eval`: the report folder. */
  report?: string;
  /** `eval`: `stage.param=v1,v2,...` sweeps. */
  sweep: string[];
}

/** The usage text. */
export const usage = `Segflow: streaming video segmentation graphs

usage:
  deno task run <graph.yaml> [options]        run a graph
  deno task check <graph.yaml>...             validate graphs without running them
  deno task describe <graph.yaml> [--dot]     show a graph's stages and slots (Graphviz with --dot)
  deno task kinds                             list every source, stage and sink kind with its parameters
  deno task eval <graph.yaml>... --report DIR [--sweep stage.param=v1,v2] [run options]
                                              run graphs over the same frames; write a comparison report

run options:
  --input PATH|-          frames from a video, image folder, dataset (CamVid, Cityscapes, DAVIS) or stdin (y4m);
                          given several times: one stream each in one run (own state, outputs and stats)
  --size WxH              the input is raw rgb24 frames of this size (with --input FILE|-)
  --output DIR|FILE|-     where results go: a folder (label PNGs), a video (.mp4 .mkv .webm), a .y4m, '-' (y4m)
  --format labels|y4m|jsonl
                          labels: with --output -, raw gray8 label maps instead of y4m. jsonl: metadata (objects,
                          tracks, timings) as JSON lines on stdout (or --output FILE.jsonl), beside the graph's
                          pictures, which --output may still send to a video or folder
  --models SET            model set under models/ (synthetic, camvid, testing, ...)
  --frames N              stop after N frames
  --ep cpu|cuda|webgpu    execution provider; 'cuda!' fails instead of falling back to CPU
  --set stage.param=value override a parameter (repeatable)
  --stats FILE.json       write run statistics
  --metrics [HOST]:PORT   serve Prometheus metrics at http://HOST:PORT/metrics while the run lasts (:9464)
  --trace FILE.json       write Chrome trace events (open in Perfetto)
  --max-in-flight N       frames inside the graph at once
  --workers N             model worker threads
  --allow-partial         a damaged or truncated video input warns and keeps the frames ffmpeg decoded
  --quiet                 no progress bar or summary
  --debug                 show stack traces on errors
`;

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1 || value.trim() === "") {
    throw new UsageError(`'${flag}' must be a positive integer, got '${value}'`);
  }
  return n;
}

const options = {
  input: { type: "string", multiple: true },
  output: { type: "string" },
  format: { type: "string" },
  size: { type: "string" },
  models: { type: "string" },
  frames: { type: "string" },
  ep: { type: "string" },
  set: { type: "string", multiple: true },
  stats: { type: "string" },
  metrics: { type: "string" },
  trace: { type: "string" },
  "max-in-flight": { type: "string" },
  workers: { type: "string" },
  quiet: { type: "boolean", default: false },
  debug: { type: "boolean", default: false },
  "allow-partial": { type: "boolean", default: false },
  dot: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  report: { type: "string" },
  sweep: { type: "string", multiple: true },
} as const;

/**
 * `--frames -1` as `--frames=-1`: a value that starts with '-' but is not a flag (a negative number) would
 * otherwise be reported by parseArgs as "ambiguous" instead of as a bad value.
 */
function joinDashValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.startsWith("--") ? arg.slice(2) : undefined;
    const next = argv[i + 1];
    const takesValue = name !== undefined && (options as Record<string, { type: string }>)[name]?.type === "string";
    if (takesValue && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** An `--output` that means a folder of label PNGs (no file extension). */
function isFolderTarget(target: string): boolean {
  return target !== "-" && !/\.[A-Za-z0-9]{2,5}$/.test(target);
}

/** parseArgs' message for a flag it does not know, shortened, with a "did you mean". */
function unknownFlag(message: string): string | undefined {
  const flag = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
  if (!flag) return undefined;
  const hint = suggest(flag, Object.keys(options).map((o) => `--${o}`));
  return `unknown option '${flag}'${hint.startsWith(" (did you mean") ? hint : ""}`;
}

/**
 * Parses `Deno.args`.
 *
 * @throws {UsageError} for unknown flags or bad values.
 */
export function parseCli(argv: string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: joinDashValues(argv), allowPositionals: true, options });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!;
    throw new UsageError(`${unknownFlag(message) ?? message} (see --help)`);
  }
  const { values, positionals } = parsed;
  const [command = "help", ...graphs] = positionals;
  const cli: CliOptions = {
    command,
    graphs,
    set: values.set ?? [],
    quiet: values.quiet,
    debug: values.debug,
    allowPartial: values["allow-partial"],
    dot: values.dot,
    help: values.help,
    sweep: values.sweep ?? [],
  };
  for (const flag of ["output", "models", "stats", "trace", "report", "size"] as const) {
    if (values[flag]?.trim() === "") throw new UsageError(`--${flag} needs a value, got an empty string`);
  }
  const inputs = values.input ?? [];
  if (inputs.some((input) => input.trim() === "")) throw new UsageError("--input needs a value, got an empty string");
  if (inputs.filter((input) => input === "-").length > 1) throw new UsageError("--input - (stdin) can be given once");
  if (values.stats !== undefined && values.stats === values.trace) {
    throw new UsageError(`--stats and --trace both name '${values.stats}'; give each its own file`);
  }
  if (values.stats !== undefined && values.stats === values.output && values.stats !== "-") {
    throw new UsageError(`--stats and --output both name '${values.stats}'; give each its own file`);
  }
  // Metadata lines go to stdout, or to the .jsonl file --output names; any other --output still takes the pictures.
  // Without --format, a .jsonl --output goes to the graph's jsonl sink (or adds one), as any --output is routed.
  const metadataFile = values.output !== undefined && /\.(jsonl|ndjson)$/i.test(values.output);
  if (values.format === "jsonl") {
    const toFile = metadataFile;
    cli.metadata = toFile ? values.output! : "-";
    if (toFile || values.output === "-") delete values.output;
  } else if (metadataFile && values.format !== undefined) {
    throw new UsageError(
      `--output '${values.output}' is a metadata (JSON lines) file, not one for --format ${values.format}: ` +
        `pictures go to a video, a .y4m, a folder or -`,
    );
  } else if (values.format !== undefined && (values.output === undefined || isFolderTarget(values.output))) {
    throw new UsageError(
      `--format ${values.format} applies to --output - or a file${
        values.output === undefined ? ", and there is no --output" : `, and '${values.output}' is a folder`
      }`,
    );
  }
  if (values.report !== undefined) cli.report = values.report;
  if (inputs.length === 1) cli.input = inputs[0]!;
  if (inputs.length > 1) cli.inputs = inputs;
  if (values.output !== undefined) cli.output = values.output;
  if (values.models !== undefined) cli.models = values.models;
  if (values.format !== undefined) {
    if (values.format !== "labels" && values.format !== "y4m" && values.format !== "jsonl") {
      throw new UsageError(`'--format' must be 'y4m', 'labels' or 'jsonl', got '${values.format}'`);
    }
    if (values.format !== "jsonl") cli.format = values.format;
  }
  if (values.size !== undefined) cli.size = values.size;
  // The execution flags are checked against `execution:`'s own schema, as the graph's values are.
  if (values.ep !== undefined) cli.ep = checkExecutionFlag("ep", values.ep);
  if (values.stats !== undefined) cli.stats = values.stats;
  if (values.metrics !== undefined) cli.metrics = values.metrics;
  if (values.trace !== undefined) cli.trace = values.trace;
  const frames = positiveInteger("--frames", values.frames);
  if (frames !== undefined) cli.frames = frames;
  if (values["max-in-flight"] !== undefined) {
    cli.maxInFlight = checkExecutionFlag("max_in_flight", values["max-in-flight"]);
  }
  if (values.workers !== undefined) cli.workers = checkExecutionFlag("workers", values.workers);
  return cli;
}
