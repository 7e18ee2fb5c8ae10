/**
 * The CLI commands: `run`, `check`, `describe`, `kinds` and `eval`.
 *
 * The CLI sits above the engine, not in it: `eval` needs the evaluation code in `eval/`, which is built on the
 * engine and the stages' helpers, and the engine imports nothing built on it.
 *
 * @module
 */
import { resolve } from "node:path";
import { loadGraph, type LoadOptions } from "../engine/graph.ts";
import { renamedNames } from "../engine/graph_renames.ts";
import { runGraph } from "../engine/run.ts";
import { formatSummary, type StatsCollector, type StatsReport } from "../engine/stats.ts";
import { type MetricsServer, startMetricsServer } from "../engine/metrics.ts";
import { InputError, type InterruptSignal, interruptSignals, UsageError } from "../engine/errors.ts";
import { removeTempFiles, writeTextFileAtomic } from "../engine/atomic_write.ts";
import { checkWritable } from "../engine/writable.ts";
import type { Registry } from "../engine/registry.ts";
import type { PortDecl } from "../engine/stage.ts";
import { type CliOptions, usage } from "./args.ts";
import { graphToDot, graphToText } from "./describe.ts";
import { startProgress } from "./progress.ts";
import { evaluate } from "../eval/run_eval.ts";
import { parseSweeps } from "../eval/variants.ts";
import { writeReport } from "../eval/report.ts";
import { machineDescription } from "../engine/machine.ts";

/** Where the project's models live. */
export const modelsRoot = resolve(new URL("../models", import.meta.url).pathname);

function loadOptions(options: CliOptions, registry: Registry): LoadOptions {
  const execution: Record<string, unknown> = {};
  if (options.ep !== undefined) execution.ep = options.ep;
  if (options.maxInFlight !== undefined) execution.max_in_flight = options.maxInFlight;
  if (options.workers !== undefined) execution.workers = options.workers;
  const load: LoadOptions = { registry, modelsRoot, overrides: options.set, execution };
  if (options.models !== undefined) load.modelSet = options.models;
  if (options.input !== undefined) load.input = options.input;
  if (options.inputs !== undefined) load.inputs = options.inputs;
  if (options.output !== undefined) load.output = options.output;
  if (options.format !== undefined) load.format = options.format;
  if (options.metadata !== undefined) load.metadata = options.metadata;
  if (options.size !== undefined) load.size = options.size;
  return load;
}

function oneGraph(options: CliOptions): string {
  const [graph, ...rest] = options.graphs;
  if (!graph) throw new UsageError(`'${options.command}' needs a graph file, e.g. graphs/per-frame.yaml`);
  if (rest.length) throw new UsageError(`'${options.command}' takes one graph file, got ${options.graphs.length}`);
  return graph;
}

async function writeStats(path: string | undefined, report: StatsReport | undefined): Promise<void> {
  if (path && report) await writeTextFileAtomic(path, JSON.stringify(report, null, 2) + "\n");
}

/**
 * Runs a graph: progress bar, summary, stats file, signals. SIGINT, SIGTERM and SIGHUP each finish the
 * frames in flight, finalise the outputs and exit 128 + the signal's number; a second signal quits at once.
 * The summary is printed only when a frame finished; a run that fails before one prints just its error.
 * Returns the exit code.
 */
export async function runCommand(options: CliOptions, registry: Registry): Promise<number> {
  // Listening from the start: a signal while the graph loads still ends the run cleanly (no frames).
  const abort = new AbortController();
  let interrupts = 0;
  const listeners = (Object.keys(interruptSignals) as InterruptSignal[]).map((signal) => {
    const listener = () => {
      interrupts++;
      if (interrupts > 1) {
        removeTempFiles();
        Deno.exit(interruptSignals[signal]);
      }
      const again = signal === "SIGINT" ? " (Ctrl-C again to quit now)" : "";
      try {
        console.error(
          `${
            options.quiet ? "" : "\n"
          }interrupted by ${signal}: finishing frames in flight and finalising outputs${again}`,
        );
      } catch {
        // stderr may be gone (SIGHUP: the terminal closed); finishing the outputs matters more.
      }
      abort.abort(signal);
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  const stopListening = () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
  let graph: Awaited<ReturnType<typeof loadGraph>>;
  try {
    graph = await loadGraph(oneGraph(options), loadOptions(options, registry));
    // Only sources that can be partial (video) take the flag; for the others it changes nothing.
    if (options.allowPartial && "allow_partial" in graph.source.definition.params) {
      graph.source.params.allow_partial = true;
    }
    // Files the run writes at the end are checked now, before any frame is decoded.
    if (options.stats !== undefined) await checkWritable("--stats", options.stats, "file");
    if (options.trace !== undefined) await checkWritable("--trace", options.trace, "file");
  } catch (error) {
    stopListening();
    throw error;
  }
  let collector: StatsCollector | undefined;
  let metrics: MetricsServer | undefined;
  try {
    metrics = options.metrics === undefined ? undefined : await startMetricsServer(options.metrics, () => collector);
  } catch (error) {
    stopListening();
    throw error;
  }
  if (metrics && !options.quiet) console.error(`metrics: http://${metrics.hostname}:${metrics.port}/metrics`);
  const progress = startProgress(options.frames, !options.quiet);
  let report: StatsReport | undefined;
  let failure: unknown;
  let statsFailure: Error | undefined;
  try {
    report = await runGraph(graph, {
      ...(options.frames !== undefined ? { frames: options.frames } : {}),
      ...(options.trace !== undefined ? { tracePath: options.trace } : {}),
      ...(options.output !== undefined ? { output: options.output } : {}),
      signal: abort.signal,
      quiet: options.quiet,
      onStats: (stats) => (collector = stats),
      onFrame: (_frame, stats) => {
        const seconds = (performance.now() - stats.startMs) / 1000;
        progress.update(stats.frames, seconds > 0 ? stats.frames / seconds : 0);
      },
    });
  } catch (error) {
    failure = error ?? new Error("the run failed");
    report = (error as { report?: StatsReport }).report;
  } finally {
    progress.stop();
    stopListening();
    await metrics?.close();
    try {
      await writeStats(options.stats, report);
    } catch (error) {
      statsFailure = new InputError(`--stats ${options.stats}: cannot write there (${(error as Error).message})`);
    }
    if (report && report.frames > 0 && !options.quiet) console.error(formatSummary(report));
    for (const [name, tool] of [["ffmpeg", report?.ffmpeg], ["ffprobe", report?.ffprobe]] as const) {
      if (options.debug && tool) console.error(`debug: ${name} ${tool.path} (version ${tool.version}, ${tool.source})`);
    }
  }
  // The run's own error is the one to report; the stats path was checked before the run.
  if (failure !== undefined) throw failure;
  if (statsFailure) throw statsFailure;
  return 0;
}

/** Validates each graph; prints `ok` lines. */
export async function checkCommand(options: CliOptions, registry: Registry): Promise<number> {
  if (options.graphs.length === 0) throw new UsageError("'check' needs one or more graph files");
  for (const file of options.graphs) {
    const graph = await loadGraph(file, loadOptions(options, registry));
    console.log(
      `ok: ${file} (${graph.stages.length} stages, ${graph.sinks.length} sinks, ${graph.models.size} models)`,
    );
  }
  return 0;
}

/** Prints a graph as text or Graphviz. */
export async function describeCommand(options: CliOptions, registry: Registry): Promise<number> {
  const graph = await loadGraph(oneGraph(options), loadOptions(options, registry));
  console.log(options.dot ? graphToDot(graph) : graphToText(graph));
  return 0;
}

/** Lists every source, stage and sink kind with its parameters (`deno task kinds`). */
export function kindsCommand(registry: Registry): number {
  const params = (schema: Record<string, { type: string; doc: string; default?: unknown; required?: boolean }>) =>
    Object.entries(schema).map(([name, spec]) => {
      const value = spec.required
        ? "required"
        : spec.default !== undefined
        ? `default ${JSON.stringify(spec.default)}`
        : "optional";
      return `      ${name} (${spec.type}, ${value}): ${spec.doc}`;
    });
  const lines: string[] = ["sources (source: {kind: ...}, or chosen by --input):"];
  for (const d of registry.sources.values()) lines.push(`  ${d.kind}: ${d.doc}`, ...params(d.params));
  for (const role of ["stage", "sink"] as const) {
    lines.push(role === "stage" ? "stages:" : "sinks:");
    for (const d of registry.stages.values()) {
      if (d.role !== role) continue;
      lines.push(`  ${d.kind}: ${d.doc}`, ...params(d.params));
      // Ports computed from parameters and cards are listed from the kind's own `portsDoc`.
      for (
        const [key, ports, doc] of [["in", d.inputs, d.portsDoc?.inputs], [
          "out",
          d.outputs,
          d.portsDoc?.outputs,
        ]] as const
      ) {
        const names = doc ?? (Array.isArray(ports) ? ports.map(portText) : ["<computed from the parameters>"]);
        lines.push(`      ${key}: ${names.length ? names.join(", ") : "(none)"}`);
      }
    }
  }
  const renamed = renamedNames(registry);
  if (renamed.length) {
    lines.push(`renamed (old names load with a warning until the next release): ${renamed.join(", ")}`);
  }
  console.log(lines.join("\n"));
  return 0;
}

/** `labels (optional, labels)`: a port as `kinds` lists it. */
function portText(port: PortDecl): string {
  const notes = [...(port.optional ? ["optional"] : []), ...(port.kind ? [port.kind] : [])];
  return notes.length ? `${port.name} (${notes.join(", ")})` : port.name;
}

/** Runs graphs (and sweep points) over the same frames and writes the comparison report. */
export async function evalCommand(options: CliOptions, registry: Registry): Promise<number> {
  if (options.graphs.length === 0) {
    throw new UsageError("'eval' needs graph files, e.g. graphs/per-frame.yaml graphs/dff.yaml");
  }
  if (!options.report) throw new UsageError("'eval' needs --report DIR (where results.md and index.html go)");
  if (options.output !== undefined) throw new UsageError("'eval' writes a report, not outputs: drop --output");
  await checkWritable("--report", options.report, "folder");
  const results = await evaluate(
    {
      graphs: options.graphs,
      sweeps: parseSweeps(options.sweep),
      load: loadOptions(options, registry),
      ...(options.frames !== undefined ? { frames: options.frames } : {}),
      onVariant: (variant, i, count) => {
        if (!options.quiet) console.error(`eval ${i + 1}/${count}: ${variant.label}`);
      },
    },
    registry,
  );

  const files = await writeReport(options.report, results, {
    input: options.inputs?.join(", ") ?? options.input ?? "each graph's own source",
    models: options.models ?? "each graph's own set",
    date: new Date().toISOString().slice(0, 10),
    machine: machineDescription(),
    command: ["deno task eval", ...Deno.args.slice(1)].join(" "),
  });
  console.log(await Deno.readTextFile(files.find((f) => f.endsWith("results.md"))!));
  if (!options.quiet) console.error(`report: ${files.join(", ")}`);
  return 0;
}

/** Dispatches a parsed command line. */
export function dispatch(options: CliOptions, registry: Registry): Promise<number> {
  if (options.help || options.command === "help") {
    console.log(usage);
    return Promise.resolve(0);
  }
  switch (options.command) {
    case "run":
      return runCommand(options, registry);
    case "check":
      return checkCommand(options, registry);
    case "describe":
      return describeCommand(options, registry);
    case "kinds":
      return Promise.resolve(kindsCommand(registry));
    case "eval":
      return evalCommand(options, registry);
    default:
      throw new UsageError(`unknown command '${options.command}' (expected run, check, describe, kinds or eval)`);
  }
}
