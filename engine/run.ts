/**
 * Running a loaded graph: opens the source, starts the model workers, builds each stage's operator, and
 * streams frames through them under the flow gate. Resources (workers, files, encoders) are released on
 * success, error and interruption alike.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { type Observable, type OperatorFunction, Subject } from "rxjs";
import { describeFrame, type Frame, type FrameInit, regionOf } from "./frame.ts";
import type { LoadedGraph, StageNode } from "./graph.ts";
import { FlowGate } from "./flow_gate.ts";
import { type InferenceResult, ModelPool, type PoolFeed, type RunPlacement, type RunTiming } from "./model_pool.ts";
import { ResidentRegistry, residentSlots } from "./resident.ts";
import { isHandle, type TensorLike } from "./tensor.ts";
import { extendModel } from "./onnx/inspect.ts";
import { probeModelCard } from "./model_probe.ts";
import { assertFrameSize } from "./frame_limits.ts";
import { bypassUnless } from "./ordered.ts";
import { parseProvider } from "./providers.ts";
import type { ModelHandle, OnnxRunner, StageContext, WorkerRunOptions } from "./stage.ts";
import { StatsCollector, type StatsReport } from "./stats.ts";
import { TraceWriter } from "./trace.ts";
import { timedRun } from "./work_time.ts";
import { checkWritable } from "./writable.ts";
import { InputError, InterruptedError, type InterruptSignal, interruptSignals } from "./errors.ts";
import type { ParamSchema, ParamValues } from "./params.ts";

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
  if (graph.models.size) {
    stats.modelSet = { name: graph.modelSetChoice.name, reason: graph.modelSetChoice.reason };
    if (graph.modelSetChoice.warning) warn(graph.modelSetChoice.warning);
  }
  const closers: (() => Promise<void> | void)[] = [];
  const trace = options.tracePath ? await TraceWriter.open(options.tracePath) : undefined;
  const provider = parseProvider(exec.ep);
  let pool: ModelPool | undefined;
  let source: Awaited<ReturnType<LoadedGraph["source"]["definition"]["open"]>> | undefined;
  const epochOffset = performance.timeOrigin;
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
  const registry = new ResidentRegistry((handles) => pool?.free(handles));
  const fuseRuns = options.fuse !== false;
  if (options.residentProbe) {
    options.residentProbe.slots = resident;
    options.residentProbe.registry = registry;
    options.residentProbe.workers = () => pool ? pool.resident() : Promise.resolve([]);
  }
  /** Counts a pool call's traffic and adopts the handles it kept into the frame's scope. */
  const settle = (result: InferenceResult, owner: Frame | undefined): Record<string, TensorLike> => {
    // Kept feeds (`@feed:<name>`) always belong to the caller.
    for (const [name, value] of Object.entries(result.outputs)) {
      if (name.startsWith("@feed:") && isHandle(value)) registry.adopt(value);
    }
    stats.modelMs += result.runMs;
    stats.recordWorkerCall(result.bytesToWorker, result.bytesFromWorker, result.calls);
    if (result.crossCopies) stats.count("cross_worker_copies", result.crossCopies);
    for (const [name, value] of Object.entries(result.outputs)) {
      if (!name.startsWith("@feed:") && isHandle(value)) registry.adopt(value, owner);
    }
    return result.outputs;
  };

  try {
    let starting: Promise<ModelPool> | undefined;
    const probed = new Map<string, Promise<void>>();
    // Workers start when the first stage needs one (graphs without models or ops start none).
    const getPool = () =>
      starting ??= ModelPool.start({
        workers: exec.workers,
        ...(exec.threads ? { threads: exec.threads } : {}),
        provider,
        warn,
        onLoneBatch: () => stats.recordWorkerCall(0, 0),
        onBatch: (batch) =>
          trace?.span({
            name: `fused call: ${batch.runs.length} runs`,
            category: "fused",
            startMs: batch.runs[0]!.startEpochMs - epochOffset,
            endMs: batch.runs.at(-1)!.startEpochMs - epochOffset + batch.runs.at(-1)!.runMs,
            track: `worker ${batch.worker}`,
            args: { steps: batch.labels.map((label) => label.replace(/ failed on /, " on ")) },
          }),
      }).then((started) => {
        pool = started;
        stats.provider = started.provider;
        stats.workers = started.size;
        stats.threads = started.threads;
        return started;
      });
    /**
     * Runs a stage's models on the pool: with resident tensors on, a run whose outputs all stay in the worker is
     * fused with the runs after it (`ModelPool.runChain`); stats, trace and handle lifetimes either way.
     */
    const runSteps = async (
      stageId: string,
      steps: { key: string; label: string; feeds: Record<string, PoolFeed>; fetches: string[] }[],
      frame: Frame | undefined,
      options: WorkerRunOptions,
    ): Promise<Record<string, TensorLike>> => {
      const runner = await getPool();
      const traceRun = (timing: RunTiming) => {
        if (!trace) return;
        let start = timing.startEpochMs - epochOffset;
        timing.stepMs.forEach((ms, i) => {
          trace.span({
            name: `${stageId}: ${steps[i]!.label}`,
            category: "model",
            startMs: start,
            endMs: start + ms,
            track: `worker ${timing.worker}`,
            args: frame ? { frame: frame.index } : {},
          });
          start += ms;
        });
      };
      const placement: RunPlacement = {
        ...(options.keep ? { keep: options.keep } : {}),
        ...(options.keepFeeds ? { keepFeeds: options.keepFeeds } : {}),
        ...(frame && options.pinned !== false ? { stream: frame.stream } : {}),
        fuse: fuseRuns,
        label: `stage '${stageId}' failed on ${frame ? describeFrame(frame) : "its first frame"}`,
        onRan: (timing) => {
          // A fused run: its work is the stage's, though the stage call ended before the worker ran it.
          stats.modelMs += timing.runMs;
          stats.addStageWork(stageId, timing.runMs);
          traceRun(timing);
        },
      };
      const result = await timedRun(
        () => runner.runChain(steps.map(({ key, feeds, fetches }) => ({ key, feeds, fetches })), placement),
        now,
      );
      stats.modelRuns += steps.length;
      const outputs = settle(result, options.owner === null ? undefined : frame);
      if (!result.fused) traceRun({ ...result, stepMs: result.stepMs.length ? result.stepMs : [result.runMs] });
      return outputs;
    };
    const openOnnx = async (stageId: string, key: string, label: string, bytes: Uint8Array): Promise<OnnxRunner> => {
      const runner = await getPool();
      await runner.load(key, bytes);
      return {
        key,
        run: (feeds, fetches, frame, options = {}) =>
          runSteps(stageId, [{ key, label, feeds, fetches }], frame, options),
      };
    };
    const openModel = async (
      stageId: string,
      name: string,
      extension?: Parameters<StageContext["model"]>[1],
    ): Promise<ModelHandle> => {
      const card = graph.models.get(name);
      if (!card) throw new Error(`stage '${stageId}': no model '${name}'`);
      const key = extension ? `${card.onnxFile}#${extension.key}` : card.onnxFile;
      let bytes: Uint8Array = await readFile(card.onnxFile);
      // One tiny run per card before the first frame: output shapes must match what the card says.
      let probe = probed.get(card.cardFile);
      if (!probe) probed.set(card.cardFile, probe = getPool().then((runner) => probeModelCard(card, bytes, runner)));
      await probe;
      if (extension) bytes = extendModel(bytes, extension.build(card));
      return { card, ...(await openOnnx(stageId, key, card.name, bytes)) };
    };

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
    const openedSource = source;
    const operators: OperatorFunction<Frame, Frame>[] = [];
    for (const node of all) {
      const ctx: StageContext<ParamSchema> = {
        id: node.id,
        params: node.params as ParamValues<ParamSchema>,
        inputs: node.inputs,
        outputs: node.outputs,
        model: (name, extension) => openModel(node.id, name, extension),
        op: (key, build) => openOnnx(node.id, `op:${key}`, key, build()),
        chain: (steps, frame, options = {}) =>
          runSteps(
            node.id,
            steps.map((step) => ({ ...step, key: step.model.key, label: step.model.key.replace(/^.*\//, "") })),
            frame,
            options,
          ),
        resident: (port) => node.outputs[port] !== undefined && resident.has(node.outputs[port]!),
        retain: (handle) => registry.retain(handle),
        release: (handle) => registry.release(handle),
        own: (handle, frame) => registry.own(handle, frame),
        card: (name) => {
          const card = graph.models.get(name);
          if (!card) throw new Error(`stage '${node.id}': no model '${name}'`);
          return card;
        },
        count: (counter, amount) => stats.count(counter, amount),
        record: (frame, startMs, endMs, waitMs = 0) => {
          const workMs = Math.max(0, endMs - startMs - waitMs);
          stats.recordStage(node.id, workMs, waitMs);
          frame.timings[node.id] = Math.round(workMs * 1000) / 1000;
          trace?.span({
            name: node.id,
            category: node.kind,
            startMs,
            endMs,
            track: `stage ${node.id}`,
            args: { frame: frame.index },
          });
        },
        onClose: (close) => void closers.push(close),
        warn,
        now,
        stop: (reason) => stopRun(reason),
        setMetric: (name, value) => void (stats.metrics[name] = value),
        source: openedSource.info,
        run: { graphDir: graph.file.replace(/\/[^/]*$/, ""), quiet: options.quiet ?? false },
      };
      operators.push(guarded(node, await node.definition.create(ctx)));
    }
    await streamFrames(graph, source, operators, stats, { ...options, signal: stopper.signal }, now, trace, registry);
    // A fused run that failed with no later run to report it (it only made stage state) fails the run here.
    await pool?.drain();
    if (pool?.fusedFailure) throw pool.fusedFailure;
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
    await pool?.close();
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

/** Pumps the source through the gate into the operators and waits until every admitted frame is out. */
async function streamFrames(
  graph: LoadedGraph,
  source: NonNullable<Awaited<ReturnType<LoadedGraph["source"]["definition"]["open"]>>>,
  operators: OperatorFunction<Frame, Frame>[],
  stats: StatsCollector,
  options: RunOptions,
  now: () => number,
  trace: TraceWriter | undefined,
  registry: ResidentRegistry,
): Promise<void> {
  const input = new Subject<Frame>();
  const exec = graph.execution;
  let seq = 0;
  const gate = new FlowGate<FrameInit>({
    maxInFlight: exec.max_in_flight,
    policy: exec.overflow,
    ...(exec.queue ? { queueSize: exec.queue } : {}),
    admit: (init) => {
      const frame: Frame = {
        ...init,
        seq: seq++,
        stream: init.sequence ?? source.info.name,
        slots: new Map(),
        admittedAt: now(),
        timings: {},
      };
      registry.open(frame);
      // Admission can be triggered from inside a frame's exit; deferring avoids re-entering the operators.
      queueMicrotask(() => input.next(frame));
    },
    onDrop: () => stats.dropped++,
  });
  const output = operators.reduce<Observable<Frame>>((frames, operator) => frames.pipe(operator), input);
  let failure: Error | undefined;
  const finished = new Promise<void>((resolve) => {
    output.subscribe({
      next: (frame: Frame) => {
        // A graph that ends with region frames (no merge-regions) finishes a frame with its last region.
        const region = regionOf(frame);
        if (region && region.index !== region.count - 1) return;
        const exit = now();
        stats.frames++;
        if ((stats.frames & 15) === 0) stats.sampleMemory();
        stats.latency.add(exit - frame.admittedAt);
        trace?.span({
          name: `frame ${frame.index}`,
          category: "frame",
          startMs: frame.admittedAt,
          endMs: exit,
          track: "frames",
        });
        options.onFrame?.(frame, stats);
        // The credit returns: the frame's resident tensors are freed (stage state keeps its own holds).
        registry.close(frame);
        gate.release();
      },
      error: (error: Error) => {
        failure ??= error;
        gate.close(error);
        resolve();
      },
      complete: () => resolve(),
    });
  });

  stats.startMs = now();
  const limit = options.frames ?? Infinity;
  const iterator = source.frames()[Symbol.asyncIterator]();
  const sizes = { sequence: undefined as string | undefined, size: "" };
  // A source error lets the frames already admitted finish (their outputs are written), then fails the run.
  let sourceError: Error | undefined;
  // A read still pending when a signal came (a pipe that sends nothing): the generator cannot be closed then.
  let abandoned = false;
  const pump = async () => {
    let pulled = 0;
    const startWall = performance.now();
    try {
      while (pulled < limit && !failure && !options.signal?.aborted) {
        const pending = options.signal
          ? await untilAborted(iterator.next(), options.signal)
          : { value: await iterator.next() };
        if (!pending) abandoned = true;
        const next = pending?.value;
        if (!next || next.done || failure || options.signal?.aborted) break;
        pulled++;
        checkFrameSize(next.value, sizes);
        if (exec.realtime) {
          const due = startWall + next.value.timestamp * 1000 - performance.now();
          if (due > 0) await new Promise((r) => setTimeout(r, due));
        }
        await gate.offer(next.value);
        stats.peakInFlight = gate.peakInFlight;
      }
      await gate.drain();
    } catch (error) {
      if (failure) gate.close(failure);
      else sourceError = error as Error;
    } finally {
      if (!abandoned) await iterator.return?.();
    }
    queueMicrotask(() => (failure ? input.error(failure) : input.complete()));
  };
  await Promise.all([pump(), finished]);
  stats.peakInFlight = gate.peakInFlight;
  stats.endMs = now();
  if (failure ?? sourceError) throw failure ?? sourceError;
}

/** A frame's size may change only between sequences; within one, a change is a bad input. */
function checkFrameSize(frame: FrameInit, current: { sequence: string | undefined; size: string }): void {
  const { width, height, data } = frame.image;
  const where = describeFrame(frame);
  if (data.length !== width * height * 3) {
    throw new InputError(`${where}: image data has ${data.length} bytes, expected ${width}x${height}x3`);
  }
  const size = `${width}x${height}`;
  if (current.size === "" || frame.sequence !== current.sequence) {
    current.sequence = frame.sequence;
    current.size = size;
  } else if (current.size !== size) {
    throw new InputError(`${where} is ${size} but the stream started at ${current.size}; frame size must not change`);
  }
}

/** Thrown inside {@linkcode runGraph} when a signal came while the source was opening. */
const interruptedWhileOpening = new Error("interrupted while the source opened");

/** How long a read may still take after a signal before the run stops waiting for it. */
const abortGraceMs = 500;

/**
 * Waits for `promise` unless `signal` aborts and it is still pending {@linkcode abortGraceMs} later: then
 * resolves to undefined and leaves the promise behind (its later rejection is swallowed; the process is
 * about to end). Reads that finish in time are used as usual, so their sources close normally.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<{ value: T } | undefined> {
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      timer = setTimeout(() => {
        promise.catch(() => {});
        resolve(undefined);
      }, abortGraceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    promise.then(
      (value) => {
        settle();
        resolve({ value });
      },
      (error) => {
        settle();
        reject(error);
      },
    );
  });
}
