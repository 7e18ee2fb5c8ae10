/**
 * A run's model workers as its stages see them: the pool starts on first use, each model is probed and loaded
 * once, runs are sent (fused with the next when their outputs stay resident, see `model_pool.ts`), and every
 * call's traffic, timing and kept handles are accounted for in the stats, the trace and the resident registry.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import type { Frame } from "./frame.ts";
import type { LoadedGraph } from "./graph.ts";
import { type InferenceResult, ModelPool, type PoolFeed, type RunPlacement, type RunTiming } from "./model_pool.ts";
import type { ResidentRegistry } from "./resident.ts";
import { isHandle, type TensorLike } from "./tensor.ts";
import { extendModel, withBatchDimension } from "./onnx/inspect.ts";
import { probeModelCard } from "./model_probe.ts";
import { parseProvider } from "./providers.ts";
import type { ModelHandle, OnnxRunner, StageContext, WorkerRunOptions } from "./stage.ts";
import type { StatsCollector } from "./stats.ts";
import type { TraceWriter } from "./trace.ts";
import { timedRun } from "./work_time.ts";
import { describeFrame, regionOf } from "./frame.ts";

/** What {@linkcode WorkerRuns} accounts to. */
export interface WorkerRunsOptions {
  graph: LoadedGraph;
  stats: StatsCollector;
  trace: TraceWriter | undefined;
  registry: ResidentRegistry;
  warn: (message: string) => void;
  now: () => number;
  /** false: every run is sent at once (tests compare fused and unfused runs). */
  fuse: boolean;
}

/** One model run of a stage's call: the session key, its name in the trace, feeds and fetches. */
export interface StageRunStep {
  key: string;
  label: string;
  feeds: Record<string, PoolFeed>;
  fetches: string[];
}

/** The model workers of one graph run. */
export class WorkerRuns {
  #starting: Promise<ModelPool> | undefined;
  #pool: ModelPool | undefined;
  readonly #probed = new Map<string, Promise<void>>();
  readonly #epochOffset = performance.timeOrigin;

  constructor(private readonly options: WorkerRunsOptions) {}

  /** The pool, once a stage started it. */
  get pool(): ModelPool | undefined {
    return this.#pool;
  }

  /** Starts the workers (once; graphs without models or ops start none). */
  start(): Promise<ModelPool> {
    const { graph, stats, trace, warn } = this.options;
    const exec = graph.execution;
    return this.#starting ??= ModelPool.start({
      workers: exec.workers,
      ...(exec.threads ? { threads: exec.threads } : {}),
      provider: parseProvider(exec.ep),
      warn,
      onLoneBatch: () => stats.recordWorkerCall(0, 0),
      onBatch: (batch) =>
        trace?.span({
          name: `fused call: ${batch.runs.length} runs`,
          category: "fused",
          startMs: batch.runs[0]!.startEpochMs - this.#epochOffset,
          endMs: batch.runs.at(-1)!.startEpochMs - this.#epochOffset + batch.runs.at(-1)!.runMs,
          track: `worker ${batch.worker}`,
          args: { steps: batch.labels.map((label) => label.replace(/ failed on /, " on ")) },
        }),
    }).then((started) => {
      this.#pool = started;
      stats.provider = started.provider;
      stats.workers = started.size;
      stats.threads = started.threads;
      return started;
    });
  }

  /**
   * Runs a stage's models: with resident tensors, a run whose outputs all stay in the worker is fused with the
   * runs after it; its work is credited to the stage when the fused call answers.
   */
  async run(
    stageId: string,
    steps: StageRunStep[],
    frame: Frame | undefined,
    options: WorkerRunOptions,
  ): Promise<Record<string, TensorLike>> {
    const { stats, now } = this.options;
    const pool = await this.start();
    // Model time per stream: a region's runs count for its frame's stream.
    const streamCounter = frame ? stats.streams.of((regionOf(frame)?.parent ?? frame).stream) : undefined;
    const placement: RunPlacement = {
      ...(options.keep ? { keep: options.keep } : {}),
      ...(options.keepFeeds ? { keepFeeds: options.keepFeeds } : {}),
      ...(frame ? options.pinned !== false ? { stream: frame.stream } : { awayFrom: frame.stream } : {}),
      fuse: this.options.fuse,
      label: `stage '${stageId}' failed on ${frame ? describeFrame(frame) : "its first frame"}`,
      onRan: (timing) => {
        // A fused run: its work is the stage's, though the stage's call ended before the worker ran it.
        stats.modelMs += timing.runMs;
        if (streamCounter) streamCounter.modelMs += timing.runMs;
        stats.addStageWork(stageId, timing.runMs);
        this.#traceRun(stageId, steps, frame, timing);
      },
    };
    const result = await timedRun(
      () => pool.runChain(steps.map(({ key, feeds, fetches }) => ({ key, feeds, fetches })), placement),
      now,
    );
    stats.modelRuns += steps.length;
    const outputs = this.#settle(result, options.owner === null ? undefined : frame);
    if (streamCounter) streamCounter.modelMs += result.runMs;
    if (!result.fused) {
      this.#traceRun(stageId, steps, frame, {
        ...result,
        stepMs: result.stepMs.length ? result.stepMs : [result.runMs],
      });
    }
    return outputs;
  }

  /** Loads an ONNX graph into every worker (once per key) and returns its runner for `stageId`. */
  async openOnnx(stageId: string, key: string, label: string, bytes: Uint8Array): Promise<OnnxRunner> {
    const pool = await this.start();
    await pool.load(key, bytes);
    return {
      key,
      run: (feeds, fetches, frame, options = {}) => this.run(stageId, [{ key, label, feeds, fetches }], frame, options),
    };
  }

  /**
   * Opens a model of the graph for `stageId`: probed once per card before the first frame (output shapes must
   * match the card), optionally extended with extra output nodes.
   */
  async openModel(
    stageId: string,
    name: string,
    extension?: Parameters<StageContext["model"]>[1],
    options: Parameters<StageContext["model"]>[2] = {},
  ): Promise<ModelHandle> {
    const card = this.options.graph.models.get(name);
    if (!card) throw new Error(`stage '${stageId}': no model '${name}'`);
    const key = (extension ? `${card.onnxFile}#${extension.key}` : card.onnxFile) + (options.batch ? "#batch" : "");
    let bytes: Uint8Array = await readFile(card.onnxFile);
    let probe = this.#probed.get(card.cardFile);
    if (!probe) {
      this.#probed.set(card.cardFile, probe = this.start().then((pool) => probeModelCard(card, bytes, pool)));
    }
    await probe;
    if (extension) bytes = extendModel(bytes, extension.build(card));
    if (options.batch) bytes = withBatchDimension(bytes);
    return { card, ...(await this.openOnnx(stageId, key, card.name, bytes)) };
  }

  /**
   * The end of the stream: waits for every call sent, and throws the failure of a fused run that no later run
   * was there to report (it only made stage state).
   */
  async finish(): Promise<void> {
    await this.#pool?.drain();
    if (this.#pool?.fusedFailure) throw this.#pool.fusedFailure;
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await this.#pool?.close();
  }

  /** Counts a call's traffic and adopts the handles it kept into the frame's scope (or the caller's). */
  #settle(result: InferenceResult, owner: Frame | undefined): Record<string, TensorLike> {
    const { stats, registry } = this.options;
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
  }

  #traceRun(stageId: string, steps: StageRunStep[], frame: Frame | undefined, timing: RunTiming): void {
    const trace = this.options.trace;
    if (!trace) return;
    let start = timing.startEpochMs - this.#epochOffset;
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
  }
}
