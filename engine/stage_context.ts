/**
 * The context a stage instance receives when the graph starts: its parameters and slots, its models and ops in
 * the workers, resident handle holds, and the run's stats, trace, warnings and cleanup.
 *
 * @module
 */
import type { Frame } from "./frame.ts";
import type { LoadedGraph, StageNode } from "./graph.ts";
import type { ResidentRegistry } from "./resident.ts";
import type { SourceInfo } from "./source.ts";
import type { StageContext } from "./stage.ts";
import type { StatsCollector } from "./stats.ts";
import type { TraceWriter } from "./trace.ts";
import type { WorkerRuns } from "./worker_runs.ts";
import type { ParamSchema, ParamValues } from "./params.ts";

/** What every stage context of one run shares. */
export interface RunServices {
  graph: LoadedGraph;
  runs: WorkerRuns;
  /** Slots kept in the workers (decided at graph start). */
  resident: Set<string>;
  registry: ResidentRegistry;
  stats: StatsCollector;
  trace: TraceWriter | undefined;
  /** Cleanup registered by stages, run once when the stream ends. */
  closers: (() => Promise<void> | void)[];
  warn: (message: string) => void;
  now: () => number;
  stop: (reason: string) => void;
  source: SourceInfo;
  quiet: boolean;
}

/** Builds the context of `node`'s stage instance. */
export function stageContext(node: StageNode, services: RunServices): StageContext<ParamSchema> {
  const { graph, runs, resident, registry, stats, trace } = services;
  return {
    id: node.id,
    params: node.params as ParamValues<ParamSchema>,
    inputs: node.inputs,
    outputs: node.outputs,
    model: (name, extension, options) => runs.openModel(node.id, name, extension, options),
    op: (key, build) => runs.openOnnx(node.id, `op:${key}`, key, build()),
    chain: (steps, frame, options = {}) =>
      runs.run(
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
    record: (frame: Frame, startMs, endMs, waitMs = 0) => {
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
    onClose: (close) => void services.closers.push(close),
    warn: services.warn,
    now: services.now,
    stop: services.stop,
    setMetric: (name, value) => void (stats.metrics[name] = value),
    source: services.source,
    run: { graphDir: graph.file.replace(/\/[^/]*$/, ""), quiet: services.quiet },
  };
}
