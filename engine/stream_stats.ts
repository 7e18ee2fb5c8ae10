/**
 * Per-stream numbers of a run (frames, drops, fps, latency), for the summary, `--stats` and the metrics endpoint.
 * Bounded on endless runs: each stream keeps a small latency sample and a fixed histogram, and past
 * {@linkcode maxTrackedStreams} streams the rest are counted together under {@linkcode otherStreams}.
 *
 * @module
 */
import { Reservoir } from "./reservoir.ts";

/** One stream's numbers in the `--stats` report. */
export interface StreamReport {
  frames: number;
  dropped: number;
  /** Frames out per second, from the stream's first admitted frame to its last frame out. */
  fps: number;
  latency_ms: { p50: number; p99: number };
}

/** Upper bounds (ms) of the latency histogram's buckets (Prometheus `le`), the last one open (+Inf). */
export const latencyBucketsMs: readonly number[] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** Streams tracked one by one; further ones are summed under {@linkcode otherStreams}. */
export const maxTrackedStreams = 256;
/** The name the streams past {@linkcode maxTrackedStreams} are counted under. */
export const otherStreams = "(other streams)";

/** A stream's running numbers. */
export class StreamCounter {
  frames = 0;
  dropped = 0;
  /** Frames admitted into the graph (those not out yet are in flight). */
  admitted = 0;
  /** Inference time of the stream's model runs (its regions' included). */
  modelMs = 0;
  latencyMsSum = 0;
  /** Counts per bucket of {@linkcode latencyBucketsMs}, plus one for +Inf (not cumulative). */
  readonly buckets = new Array<number>(latencyBucketsMs.length + 1).fill(0);
  readonly latency = new Reservoir(2_000);
  firstMs: number | undefined;
  lastMs = 0;

  /** A frame of this stream left the graph at `exitMs`, `latencyMs` after it was admitted. */
  frameOut(latencyMs: number, exitMs: number): void {
    this.frames++;
    this.latencyMsSum += latencyMs;
    this.latency.add(latencyMs);
    const bucket = latencyBucketsMs.findIndex((le) => latencyMs <= le);
    this.buckets[bucket < 0 ? latencyBucketsMs.length : bucket]!++;
    this.firstMs ??= exitMs - latencyMs;
    this.lastMs = exitMs;
  }

  report(): StreamReport {
    const seconds = this.firstMs === undefined ? 0 : (this.lastMs - this.firstMs) / 1000;
    return {
      frames: this.frames,
      dropped: this.dropped,
      fps: round(seconds > 0 ? this.frames / seconds : 0),
      latency_ms: { p50: round(this.latency.quantile(0.5)), p99: round(this.latency.quantile(0.99)) },
    };
  }
}

/** The counters of every stream of a run, by name, in order of first appearance. */
export class StreamCounters {
  readonly #streams = new Map<string, StreamCounter>();

  /** The counter for `stream` (made on first use; past the limit, the shared one). */
  of(stream: string): StreamCounter {
    let counter = this.#streams.get(stream);
    if (counter) return counter;
    const name = this.#streams.size >= maxTrackedStreams ? otherStreams : stream;
    counter = this.#streams.get(name) ?? new StreamCounter();
    this.#streams.set(name, counter);
    return counter;
  }

  /** Streams seen so far. */
  get size(): number {
    return this.#streams.size;
  }

  entries(): IterableIterator<[string, StreamCounter]> {
    return this.#streams.entries();
  }

  report(): Record<string, StreamReport> {
    return Object.fromEntries([...this.#streams].map(([name, counter]) => [name, counter.report()]));
  }
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
