/**
 * Streaming frames through a graph's operators: the source is pulled under the flow gate (backpressure), each
 * admitted frame gets its resident scope, and a frame's credit returns when it leaves the last operator.
 *
 * @module
 */
import { type Observable, type OperatorFunction, Subject } from "rxjs";
import { describeFrame, type Frame, type FrameInit, regionOf } from "./frame.ts";
import type { LoadedGraph } from "./graph.ts";
import { FlowGate } from "./flow_gate.ts";
import type { ResidentRegistry } from "./resident.ts";
import type { StatsCollector } from "./stats.ts";
import type { TraceWriter } from "./trace.ts";
import { InputError, UsageError } from "./errors.ts";
import type { SourceInfo } from "./source.ts";
import type { OverflowPolicy } from "./flow_gate.ts";

/** What {@linkcode streamFrames} needs of the run's options. */
export interface StreamOptions {
  frames?: number;
  signal?: AbortSignal;
  onFrame?: (frame: Frame, stats: StatsCollector) => void;
}

/** An opened source. */
export type OpenedSource = NonNullable<Awaited<ReturnType<LoadedGraph["source"]["definition"]["open"]>>>;

/**
 * The gate's overflow policy: the graph's `execution.overflow`, else `keep_latest` for a live source (real time)
 * and `block` (lossless) for files.
 *
 * @throws {UsageError} for a run that mixes live and file inputs without an explicit policy: one gate serves them
 * all, so real time would drop file frames and lossless would hold the cameras back; the user picks.
 */
export function overflowPolicy(execution: LoadedGraph["execution"], info: SourceInfo): OverflowPolicy {
  if (execution.overflow) return execution.overflow;
  const live = info.streams?.filter((s) => s.live) ?? [];
  const files = info.streams?.filter((s) => !s.live) ?? [];
  if (live.length && files.length) {
    throw new UsageError(
      `${live[0]!.name} is live and ${files[0]!.name} is not: a run mixing live and file inputs needs ` +
        `--set execution.overflow=keep_latest (real time; file frames drop too) or =block (lossless; cameras wait)`,
    );
  }
  return info.live ? "keep_latest" : "block";
}

/** Pumps the source through the gate into the operators and waits until every admitted frame is out. */
export async function streamFrames(
  graph: LoadedGraph,
  source: OpenedSource,
  operators: OperatorFunction<Frame, Frame>[],
  stats: StatsCollector,
  options: StreamOptions,
  now: () => number,
  trace: TraceWriter | undefined,
  registry: ResidentRegistry,
): Promise<void> {
  const input = new Subject<Frame>();
  const exec = graph.execution;
  let seq = 0;
  const gate = new FlowGate<FrameInit>({
    maxInFlight: exec.max_in_flight,
    // Live sources run in real time unless the graph says otherwise: the newest frame waits, older ones drop.
    policy: overflowPolicy(exec, source.info),
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
      stats.streams.of(frame.stream).admitted++;
      // Admission can be triggered from inside a frame's exit; deferring avoids re-entering the operators.
      queueMicrotask(() => input.next(frame));
    },
    onDrop: (init) => {
      stats.dropped++;
      stats.streams.of(init.sequence ?? source.info.name).dropped++;
    },
  });
  stats.live = { inFlight: () => gate.inFlight, waiting: () => gate.waiting };
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
        // Counted for the frame's stream (a graph that ends with region frames: their frame's).
        stats.streams.of((region?.parent ?? frame).stream).frameOut(exit - frame.admittedAt, exit);
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
  const sizes = new Map<string, string>();
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
        if (exec.realtime || exec.realtime_fps) {
          const at = exec.realtime_fps ? (pulled - 1) / exec.realtime_fps : next.value.timestamp;
          const due = startWall + at * 1000 - performance.now();
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

/**
 * A frame's size may differ between sequences (streams); within one, a change is a bad input. `sizes` holds the
 * sizes of the last {@linkcode sizedSequences} sequences seen (interleaved inputs), oldest dropped first.
 */
function checkFrameSize(frame: FrameInit, sizes: Map<string, string>): void {
  const { width, height, data } = frame.image;
  const where = describeFrame(frame);
  if (data.length !== width * height * 3) {
    throw new InputError(`${where}: image data has ${data.length} bytes, expected ${width}x${height}x3`);
  }
  const size = `${width}x${height}`, sequence = frame.sequence ?? "";
  const started = sizes.get(sequence);
  if (started === undefined) {
    sizes.set(sequence, size);
    if (sizes.size > sizedSequences) sizes.delete(sizes.keys().next().value!);
  } else if (started !== size) {
    throw new InputError(`${where} is ${size} but the stream started at ${started}; frame size must not change`);
  }
}

/** How many sequences' frame sizes {@linkcode checkFrameSize} remembers. */
const sizedSequences = 256;

/** How long a read may still take after a signal before the run stops waiting for it. */
const abortGraceMs = 500;

/**
 * Waits for `promise` unless `signal` aborts and it is still pending {@linkcode abortGraceMs} later: then
 * resolves to undefined and leaves the promise behind (its later rejection is swallowed; the process is
 * about to end). Reads that finish in time are used as usual, so their sources close normally.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<{ value: T } | undefined> {
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
