/**
 * Command-line parsing for `main.ts` (node:util `parseArgs`; JSR's std is unreachable here).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";

/** Parsed flags shared by the commands. */
export interface CliOptions {
  command: string;
  graphs: string[];
  input?: string;
  output?: string;
  format?: string;
  size?: string;
  models?: string;
  frames?: number;
  ep?: string;
  set: string[];
  stats?: string;
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
  --input PATH|-          frames from a video, image folder, dataset (CamVid, Cityscapes, DAVIS) or stdin (y4m)
  --size WxH              the input is raw rgb24 frames of this size (with --input FILE|-)
  --output DIR|FILE|-     where results go: a folder (label PNGs), a video (.mp4 .mkv .webm), a .y4m, '-' (y4m)
  --format labels|y4m     with --output -: raw gray8 label maps instead of y4m
  --models SET            model set under models/ (synthetic, camvid, testing, ...)
  --frames N              stop after N frames
  --ep cpu|cuda|webgpu    execution provider; 'cuda!' fails instead of falling back to CPU
  --set stage.param=value override a parameter (repeatable)
  --stats FILE.json       write run statistics
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
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`'${flag}' must be a positive integer, got '${value}'`);
  return n;
}

/**
 * Parses `Deno.args`.
 *
 * @throws {UsageError} for unknown flags or bad values.
 */
export function parseCli(argv: string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        input: { type: "string" },
        output: { type: "string" },
        format: { type: "string" },
        size: { type: "string" },
        models: { type: "string" },
        frames: { type: "string" },
        ep: { type: "string" },
        set: { type: "string", multiple: true },
        stats: { type: "string" },
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
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split("\n")[0]} (see --help)`);
  }
  const { values, positionals } = parsed;
  const [command = "help", ...graphs] = positionals;
  const options: CliOptions = {
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
  if (values.report !== undefined) options.report = values.report;
  if (values.input !== undefined) options.input = values.input;
  if (values.output !== undefined) options.output = values.output;
  if (values.models !== undefined) options.models = values.models;
  if (values.format !== undefined) {
    if (values.format !== "labels" && values.format !== "y4m") {
      throw new UsageError(`'--format' must be 'y4m' or 'labels', got '${values.format}'`);
    }
    options.format = values.format;
  }
  if (values.size !== undefined) options.size = values.size;
  if (values.ep !== undefined) options.ep = values.ep;
  if (values.stats !== undefined) options.stats = values.stats;
  if (values.trace !== undefined) options.trace = values.trace;
  const frames = positiveInteger("--frames", values.frames);
  if (frames !== undefined) options.frames = frames;
  const maxInFlight = positiveInteger("--max-in-flight", values["max-in-flight"]);
  if (maxInFlight !== undefined) options.maxInFlight = maxInFlight;
  const workers = positiveInteger("--workers", values.workers);
  if (workers !== undefined) options.workers = workers;
  return options;
}
