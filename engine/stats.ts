/**
 * Run statistics: the `--stats` JSON contract and the summary printed on stderr.
 *
 * @module
 */

import { type ToolInfo, toolUsedSince, toolUseMark } from "./tool_use.ts";
import { Reservoir } from "./reservoir.ts";
import { StreamCounters, type StreamReport } from "./stream_stats.ts";

export { Reservoir };

/**
 * Per-stage timing. `ms_total` and `ms_mean` count work only (the stage's own code and its models' time in
 * a worker); `wait_ms_total` is the time its calls waited (for a busy worker, for an earlier frame).
 */
export interface StageStats {
  calls: number;
  ms_total: number;
  ms_mean: number;
  wait_ms_total: number;
}

/** The `--stats` file (see ARCHITECTURE.md, "CLI contract"). */
export interface StatsReport {
  graph: string;
  /** The model set the graph ran with and how it was chosen. */
  model_set: { name: string; reason: string } | null;
  frames: number;
  dropped: number;
  seconds: number;
  fps: number;
  latency_ms: { p50: number; p99: number };
  /** Each stream's frames, drops, fps and latency, by stream name. */
  streams: Record<string, StreamReport>;
  max_in_flight: number;
  peak_in_flight: number;
  stages: Record<string, StageStats>;
  models: { runs: number; ms_total: number; share_of_wall: number; provider: string; workers: number; threads: number };
  /** What crossed between the main thread and the model workers: calls and MiB each way, per frame. */
  threads_traffic: {
    worker_calls: number;
    worker_calls_per_frame: number;
    bytes_to_workers: number;
    bytes_from_workers: number;
    mb_to_workers_per_frame: number;
    mb_from_workers_per_frame: number;
    /** Stage work on the main thread (stage work minus model time), per frame: JS per-pixel loops, I/O. */
    main_thread_ms_per_frame: number;
  };
  keyframes: number | null;
  counters: Record<string, number>;
  metrics: Record<string, unknown>;
  interrupted: boolean;
  stopped_by: string | null;
  keyframe_ratio: number | null;
  /** Resident memory: after the first 64 frames (warm), and the most seen (sampled every 16 frames). */
  memory: { rss_mb_warm: number | null; rss_mb_peak: number };
  /** The ffmpeg / ffprobe the run started (path, version, why chosen), `null` when it used none. */
  ffmpeg: ToolInfo | null;
  ffprobe: ToolInfo | null;
}

/** Collects a run's numbers as it goes. */
export class StatsCollector {
  readonly graph: string;
  readonly maxInFlight: number;
  readonly latency = new Reservoir();
  /** Frames, drops and latency of each stream (several inputs, a dataset's sequences). */
  readonly streams = new StreamCounters();
  readonly stages = new Map<string, { calls: number; msTotal: number; waitMs: number }>();
  readonly counters = new Map<string, number>();
  readonly metrics: Record<string, unknown> = {};
  frames = 0;
  dropped = 0;
  peakRss = 0;
  warmRss = 0;
  peakInFlight = 0;
  /** Live gauges while the run streams: frames inside the graph, and frames waiting for a credit. */
  live: { inFlight: () => number; waiting: () => number } = { inFlight: () => 0, waiting: () => 0 };
  modelRuns = 0;
  modelMs = 0;
  /** Worker calls (a chain is one) and the bytes they moved between the main thread and the workers. */
  workerCalls = 0;
  bytesToWorkers = 0;
  bytesFromWorkers = 0;
  provider = "cpu";
  workers = 0;
  threads = 0;
  interrupted = false;
  /** The model set and how it was chosen (set by the runner). */
  modelSet: { name: string; reason: string } | null = null;
  /** Why a stage ended the run early (e.g. "stdout was closed by its reader"). */
  stoppedBy: string | undefined;
  startMs = 0;
  endMs = 0;
  /** External programs started after this mark belong to this run. */
  readonly toolMark = toolUseMark();

  constructor(graph: string, maxInFlight: number, stageIds: string[]) {
    this.graph = graph;
    this.maxInFlight = maxInFlight;
    for (const id of stageIds) this.stages.set(id, { calls: 0, msTotal: 0, waitMs: 0 });
  }

  /** Records one call of a stage: `ms` of work and `waitMs` of waiting. */
  recordStage(id: string, ms: number, waitMs = 0): void {
    const entry = this.stages.get(id) ?? { calls: 0, msTotal: 0, waitMs: 0 };
    entry.calls++;
    entry.msTotal += ms;
    entry.waitMs += waitMs;
    this.stages.set(id, entry);
  }

  /** Adds model work that finished after the stage's call was recorded (a fused run), without a call. */
  addStageWork(id: string, ms: number): void {
    const entry = this.stages.get(id) ?? { calls: 0, msTotal: 0, waitMs: 0 };
    entry.msTotal += ms;
    this.stages.set(id, entry);
  }

  /**
   * Records `calls` worker calls (default 1; 0 for a run that waits in a fused call) and the bytes its feeds and
   * outputs moved between threads.
   */
  recordWorkerCall(bytesToWorker: number, bytesFromWorker: number, calls = 1): void {
    this.workerCalls += calls;
    this.bytesToWorkers += bytesToWorker;
    this.bytesFromWorkers += bytesFromWorker;
  }

  /** Samples the process's resident memory (cheap; called every few frames). */
  sampleMemory(): void {
    const rss = Deno.memoryUsage().rss;
    this.peakRss = Math.max(this.peakRss, rss);
    if (this.frames >= 64 && this.warmRss === 0) this.warmRss = rss;
  }

  /** Adds to a named counter. */
  count(counter: string, amount = 1): void {
    this.counters.set(counter, (this.counters.get(counter) ?? 0) + amount);
  }

  /** The report in the `--stats` format. */
  report(): StatsReport {
    const seconds = Math.max(0, (this.endMs - this.startMs) / 1000);
    const stages: Record<string, StageStats> = {};
    for (const [id, s] of this.stages) {
      stages[id] = {
        calls: s.calls,
        ms_total: round(s.msTotal),
        ms_mean: round(s.calls ? s.msTotal / s.calls : 0),
        wait_ms_total: round(s.waitMs),
      };
    }
    // Stage work is the stages' own code plus their models' time in the workers; the rest ran on this thread.
    const stageWorkMs = [...this.stages.values()].reduce((sum, s) => sum + s.msTotal, 0);
    const mainThreadMs = Math.max(0, stageWorkMs - this.modelMs);
    return {
      graph: this.graph,
      model_set: this.modelSet,
      frames: this.frames,
      dropped: this.dropped,
      seconds: round(seconds, 3),
      fps: round(seconds > 0 ? this.frames / seconds : 0),
      latency_ms: { p50: round(this.latency.quantile(0.5)), p99: round(this.latency.quantile(0.99)) },
      streams: this.streams.report(),
      max_in_flight: this.maxInFlight,
      peak_in_flight: this.peakInFlight,
      stages,
      models: {
        runs: this.modelRuns,
        ms_total: round(this.modelMs),
        share_of_wall: round(seconds > 0 ? this.modelMs / 1000 / seconds : 0, 3),
        provider: this.provider,
        workers: this.workers,
        threads: this.threads,
      },
      threads_traffic: {
        worker_calls: this.workerCalls,
        worker_calls_per_frame: round(this.frames ? this.workerCalls / this.frames : 0),
        bytes_to_workers: this.bytesToWorkers,
        bytes_from_workers: this.bytesFromWorkers,
        mb_to_workers_per_frame: round(this.frames ? this.bytesToWorkers / 2 ** 20 / this.frames : 0, 3),
        mb_from_workers_per_frame: round(this.frames ? this.bytesFromWorkers / 2 ** 20 / this.frames : 0, 3),
        main_thread_ms_per_frame: round(this.frames ? mainThreadMs / this.frames : 0),
      },
      keyframes: this.counters.has("keyframes") ? this.counters.get("keyframes")! : null,
      counters: Object.fromEntries(this.counters),
      metrics: this.metrics,
      interrupted: this.interrupted,
      stopped_by: this.stoppedBy ?? null,
      keyframe_ratio: this.counters.has("keyframes") && this.frames
        ? round(this.counters.get("keyframes")! / this.frames, 4)
        : null,
      memory: {
        rss_mb_warm: this.warmRss ? round(this.warmRss / 2 ** 20, 1) : null,
        // Short runs end before the first sample (every 16 frames): the end counts as one.
        rss_mb_peak: round(Math.max(this.peakRss, Deno.memoryUsage().rss) / 2 ** 20, 1),
      },
      ffmpeg: toolUsedSince("ffmpeg", this.toolMark),
      ffprobe: toolUsedSince("ffprobe", this.toolMark),
    };
  }
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A one-screen summary of a report, for stderr. */
export function formatSummary(report: StatsReport): string {
  const lines = [
    `${report.graph}: ${report.frames} frames in ${report.seconds.toFixed(2)} s = ${report.fps.toFixed(1)} fps` +
    (report.dropped ? `, ${report.dropped} dropped` : "") + (report.interrupted ? " (interrupted)" : ""),
    `latency p50 ${report.latency_ms.p50.toFixed(1)} ms, p99 ${report.latency_ms.p99.toFixed(1)} ms; ` +
    `in flight <= ${report.peak_in_flight}/${report.max_in_flight}`,
    `models: ${report.models.runs} runs, ${report.models.ms_total.toFixed(0)} ms ` +
    `(${(report.models.share_of_wall * 100).toFixed(0)}% of wall) on ${report.models.provider}, ` +
    `${report.models.workers} worker(s) x ${report.models.threads} thread(s)`,
  ];
  const traffic = report.threads_traffic;
  if (traffic.worker_calls) {
    lines.push(
      `worker calls: ${traffic.worker_calls_per_frame.toFixed(1)} per frame, moving ` +
        `${traffic.mb_to_workers_per_frame.toFixed(2)} MiB to the workers and ` +
        `${traffic.mb_from_workers_per_frame.toFixed(2)} MiB back per frame; ` +
        `${traffic.main_thread_ms_per_frame.toFixed(1)} ms of stage work on the main thread per frame`,
    );
  }
  const streams = Object.entries(report.streams ?? {});
  if (streams.length > 1) {
    const width = Math.max(6, ...streams.map(([name]) => name.length));
    lines.push(`${"stream".padEnd(width)}  frames      fps  dropped  p50 ms  p99 ms`);
    for (const [name, s] of streams) {
      lines.push(
        `${name.padEnd(width)}  ${String(s.frames).padStart(6)}  ${s.fps.toFixed(1).padStart(7)}  ${
          String(s.dropped).padStart(7)
        }  ${s.latency_ms.p50.toFixed(1).padStart(6)}  ${s.latency_ms.p99.toFixed(1).padStart(6)}`,
      );
    }
  }
  if (report.model_set) lines.push(`model set: ${report.model_set.name} (${report.model_set.reason})`);
  const ids = Object.keys(report.stages);
  const width = Math.max(5, ...ids.map((id) => id.length));
  // Work per stage (own code and model time); waiting for workers and earlier frames is apart.
  lines.push(`${"stage".padEnd(width)}  calls   ms/call   ms total    waited ms`);
  for (const id of ids) {
    const s = report.stages[id]!;
    lines.push(
      `${id.padEnd(width)}  ${String(s.calls).padStart(5)}  ${s.ms_mean.toFixed(2).padStart(8)}  ${
        s.ms_total.toFixed(0).padStart(9)
      }  ${(s.wait_ms_total ?? 0).toFixed(0).padStart(11)}`,
    );
  }
  for (const [name, value] of Object.entries(report.counters)) lines.push(`${name}: ${value}`);
  for (const [name, value] of Object.entries(report.metrics)) {
    if (typeof value === "number") lines.push(`${name}: ${value.toFixed(4)}`);
  }
  return lines.join("\n");
}
