/**
 * Running a loaded graph: opens the source, starts the model workers, builds each stage's operator, and
 * streams frames through them under the flow gate. Resources (workers, files, encoders) are released on
 * success, error and interruption alike.
 *
 * @module
 */
import type { OperatorFunction } from "rxjs";
import type { Frame } from "./frame.ts";
import type { LoadedGraph, StageNode } from "./graph.ts";
import { ResidentRegistry, residentSlots } from "./resident.ts";
import { assertFrameSize } from "./frame_limits.ts";
import { bypassUnless } from "./ordered.ts";
import { StatsCollector, type StatsReport } from "./stats.ts";
import { TraceWriter } from "./trace.ts";
import { checkWritable } from "./writable.ts";
import { InterruptedError, type InterruptSignal, interruptSignals } from "./errors.ts";
import { WorkerRuns } from "./worker_runs.ts";
import { stageContext } from "./stage_context.ts";
import { overflowPolicy, streamFrames, untilAborted } from "./stream_frames.ts";

/** Options of {@linkcode runGraph}. */
export interface RunOptions {
  /** Stop after this many frames. */
  frames?: number;
  /** Aborting stops pulling frames; frames in flight finish, outputs are finalised. */
  signal?: AbortSignal;
  tracePath?: string;
  quiet?: boolean;
  /** Warnings (one line each). Default: stderr. */
  warn?: (message: string) => void;
  /** Called once with the run's live numbers, before the source opens (the metrics endpoint reads them). */
  onStats?: (stats: StatsCollector) => void;
  /** Called after each frame leaves the graph (progress bars, tests). */
  onFrame?: (frame: Frame, stats: StatsCollector) => void;
  /** Engine clock; tests may pass a fake one. */
  now?: () => number;
  /** The `--output` target, so a sink path it set is named `--output` in messages. */
  output?: string;
  /** Slots the caller reads in `onFrame`: always host tensors, never kept in the workers. */
  hostSlots?: string[];
  /**
   * false: every worker run is sent at once, none waits to be fused with the next (tests compare the two).
   * Default true.
   */
  fuse?: boolean;
  /** Filled in by the run: what is resident (tests check that worker memory stays bounded). */
  residentProbe?: ResidentProbe;
}

/** A view of the run's resident tensors, for tests. */
export interface ResidentProbe {
  /** The slots kept in the workers (decided at graph start). */
  slots?: Set<string>;
  /** Handles held on the main thread (frame scopes and stage state). */
  registry?: ResidentRegistry;
  /** Tensors and bytes each worker holds now. */
  workers?: () => Promise<{ count: number; bytes: number }[]>;
}

/**
 * Runs a graph to the end of its source (or `frames`, or the abort signal).
 *
 * @returns the stats report; throws the first error after releasing everything, with `report` attached.
 */
export async function runGraph(graph: LoadedGraph, options: RunOptions = {}): Promise<StatsReport> {
  const now = options.now ?? (() => performance.now());
  const warned = new Set<string>();
  const warn = (message: string) => {
    if (warned.has(message)) return;
    warned.add(message);
    (options.warn ?? ((m: string) => console.error(`warning: ${m}`)))(message);
  };
  const all = [...graph.stages, ...graph.sinks];
  const exec = graph.execution;
  const stats = new StatsCollector(graph.name, exec.max_in_flight, all.map((s) => s.id));
  options.onStats?.(stats);
  if (graph.models.size) {
    stats.modelSet = { name: graph.modelSetChoice.name, reason: graph.modelSetChoice.reason };
    if (graph.modelSetChoice.warning) warn(graph.modelSetChoice.warning);
  }
  const closers: (() => Promise<void> | void)[] = [];
  const trace = options.tracePath ? await TraceWriter.open(options.tracePath) : undefined;
  let source: Awaited<ReturnType<LoadedGraph["source"]["definition"]["open"]>> | undefined;
  // Stages may end the run early and cleanly (a pipe reader went away); so may the caller's signal.
  const stopper = new AbortController();
  const stopRun = (reason: string) => {
    if (stopper.signal.aborted) return;
    stats.stoppedBy = reason;
    stopper.abort();
  };
  const userSignal = options.signal;
  const onUserAbort = () => {
    stats.interrupted = true;
    stopper.abort();
  };
  // A signal that came before the run started (while the graph loaded) interrupts it at once.
  if (userSignal?.aborted) onUserAbort();
  else userSignal?.addEventListener("abort", onUserAbort);

  // Slots that stay in the workers, decided once from the graph (`execution.resident_tensors: false`: none).
  const resident = exec.resident_tensors === false
    ? new Set<string>()
    : residentSlots(all, graph.models, options.hostSlots);
  // Handles are freed in the workers of the pool the runs started (none before the first run).
  const registry = new ResidentRegistry((handles) => runs.pool?.free(handles));
  const runs = new WorkerRuns({ graph, stats, trace, registry, warn, now, fuse: options.fuse !== false });
  if (options.residentProbe) {
    options.residentProbe.slots = resident;
    options.residentProbe.registry = registry;
    options.residentProbe.workers = () => runs.pool ? runs.pool.resident() : Promise.resolve([]);
  }

  try {
    // Every path a sink will write is checked before the source opens: a bad one fails before any work.
    for (const sink of graph.sinks) {
      for (const target of sink.definition.writes?.(sink.params as never) ?? []) {
        const fromFlag = options.output !== undefined && target.path === options.output &&
          sink.definition.output?.param === target.param;
        await checkWritable(fromFlag ? "--output" : `sink '${sink.id}' ${target.param}`, target.path, target.kind);
      }
    }
    // Opening may wait on a pipe nobody writes yet (a y4m header on stdin); a signal does not wait for it.
    const opening = await untilAborted(graph.source.definition.open(graph.source.params as never), stopper.signal);
    if (!opening) throw interruptedWhileOpening;
    source = opening.value;
    const { name: sourceName, width: sourceWidth, height: sourceHeight } = source.info;
    if (sourceWidth !== undefined && sourceHeight !== undefined) assertFrameSize(sourceName, sourceWidth, sourceHeight);
    overflowPolicy(graph.execution, source.info); // a mixed live/file run is refused before the models load
    const openedSource = source;
    const operators: OperatorFunction<Frame, Frame>[] = [];
    for (const node of all) {
      const ctx = stageContext(node, {
        graph,
        runs,
        resident,
        registry,
        stats,
        trace,
        closers,
        warn,
        now,
        stop: stopRun,
        source: openedSource.info,
        quiet: options.quiet ?? false,
      });
      operators.push(guarded(node, await node.definition.create(ctx)));
    }
    await streamFrames(graph, source, operators, stats, { ...options, signal: stopper.signal }, now, trace, registry);
    await runs.finish();
  } catch (error) {
    if (error !== interruptedWhileOpening) {
      // The first error is the one to report; a failure while releasing after it would only hide it.
      await release().catch(() => {});
      stats.endMs ||= now();
      throw attachReport(error, stats.report());
    }
    stats.endMs ||= now();
  }
  try {
    await release();
  } catch (error) {
    throw attachReport(error, stats.report());
  }
  if (stats.interrupted) {
    // The caller aborts with the signal's name as the reason (SIGINT, SIGTERM, SIGHUP).
    const reason = userSignal?.reason;
    const signal = typeof reason === "string" && reason in interruptSignals ? reason as InterruptSignal : "SIGINT";
    throw attachReport(new InterruptedError(signal), stats.report());
  }
  return stats.report();

  async function release(): Promise<void> {
    const errors: unknown[] = [];
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        errors.push(error);
      }
    }
    await source?.close().catch((error) => errors.push(error));
    source = undefined;
    await runs.close();
    trace?.close();
    if (errors.length) throw errors[0];
  }
}

/** Applies a node's `when`/`unless` guard around its operator. */
function guarded(node: StageNode, operator: OperatorFunction<Frame, Frame>): OperatorFunction<Frame, Frame> {
  const { when, unless } = node;
  if (!when && !unless) return operator;
  const flag = (frame: Frame, slot: string): boolean => {
    const value = frame.slots.get(slot);
    if (typeof value !== "boolean") {
      throw new TypeError(`stage '${node.id}': slot '${slot}' holds no boolean for frame ${frame.index}`);
    }
    return value;
  };
  return bypassUnless((frame) => (when ? flag(frame, when) : true) && (unless ? !flag(frame, unless) : true), operator);
}

function attachReport(error: unknown, report: StatsReport): Error {
  const e = error instanceof Error ? error : new Error(String(error));
  (e as Error & { report?: StatsReport }).report = report;
  return e;
}

/** Thrown inside {@linkcode runGraph} when a signal came while the source was opening. */
const interruptedWhileOpening = new Error("interrupted while the source opened");
