/**
 * The Prometheus endpoint of a run (`--metrics :9464`): the run's live numbers in the Prometheus text format
 * (version 0.0.4) at `GET /metrics`, per stream where they are per stream. Counters grow for the whole run, so
 * `rate(segflow_frames_total[1m])` is a stream's recent fps; `segflow_stream_fps` is its fps since it started.
 *
 * @module
 */
import { UsageError } from "./errors.ts";
import type { StatsCollector } from "./stats.ts";
import { latencyBucketsMs } from "./stream_stats.ts";

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** The port it listens on (the one asked for, or the one the system chose for port 0). */
  port: number;
  hostname: string;
  close(): Promise<void>;
}

/**
 * Parses `--metrics`'s address: `:9464` (all interfaces), `127.0.0.1:9464`, `localhost:0` (a free port).
 *
 * @throws {UsageError} naming the flag for anything else.
 * @example
 * ```ts
 * parseMetricsAddress(":9464"); // => { hostname: "0.0.0.0", port: 9464 }
 * ```
 */
export function parseMetricsAddress(address: string): { hostname: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new UsageError(`--metrics '${address}': expected [HOST]:PORT such as :9464 or 127.0.0.1:9464`);
  }
  return { hostname: match[1] ? match[1].replace(/^\[|\]$/g, "") : "0.0.0.0", port };
}

/** Starts the endpoint; `stats()` gives the run's collector once it exists (until then, only the build info). */
export async function startMetricsServer(
  address: string,
  stats: () => StatsCollector | undefined,
): Promise<MetricsServer> {
  const { hostname, port } = parseMetricsAddress(address);
  let server: Deno.HttpServer<Deno.NetAddr>;
  const listening = Promise.withResolvers<Deno.NetAddr>();
  try {
    server = Deno.serve({
      hostname,
      port,
      onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
      onError: () => new Response("internal error\n", { status: 500 }),
    }, (request) => {
      const path = new URL(request.url).pathname;
      if (path !== "/metrics") return new Response("see /metrics\n", { status: 404 });
      return new Response(formatMetrics(stats()), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    });
  } catch (error) {
    throw new UsageError(`--metrics '${address}': cannot listen there (${(error as Error).message})`);
  }
  const addr = await listening.promise;
  return { port: addr.port, hostname: addr.hostname, close: () => server.shutdown() };
}

/** One metric family: its help, type and samples `[labels, value]`. */
interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  samples: [Record<string, string>, number][];
}

/** The run's numbers as Prometheus text. */
export function formatMetrics(stats: StatsCollector | undefined): string {
  const families: Family[] = [];
  const add = (name: string, type: Family["type"], help: string, samples: Family["samples"]) =>
    families.push({ name, type, help, samples });
  if (!stats) {
    add("segflow_up", "gauge", "1 while the process serves metrics; the run has not started yet", [[{}, 1]]);
    return render(families);
  }
  const graph = { graph: stats.graph };
  add("segflow_up", "gauge", "1 while the process serves metrics", [[graph, 1]]);
  const streams = [...stats.streams.entries()];
  const perStream = (value: (c: (typeof streams)[number][1]) => number): Family["samples"] =>
    streams.map(([stream, counter]) => [{ ...graph, stream }, value(counter)]);
  add("segflow_frames_total", "counter", "Frames that left the graph", perStream((c) => c.frames));
  add("segflow_dropped_frames_total", "counter", "Frames dropped by the overflow policy", perStream((c) => c.dropped));
  add(
    "segflow_stream_fps",
    "gauge",
    "Frames per second of the stream since its first frame",
    perStream((c) => c.report().fps),
  );
  const histogram: Family["samples"] = [];
  for (const [stream, counter] of streams) {
    let cumulative = 0;
    latencyBucketsMs.forEach((le, i) => {
      cumulative += counter.buckets[i]!;
      histogram.push([{ ...graph, stream, le: String(le / 1000) }, cumulative]);
    });
    histogram.push([{ ...graph, stream, le: "+Inf" }, counter.frames]);
    histogram.push([{ ...graph, stream, __suffix: "_sum" }, counter.latencyMsSum / 1000]);
    histogram.push([{ ...graph, stream, __suffix: "_count" }, counter.frames]);
  }
  add("segflow_frame_latency_seconds", "histogram", "Time from a frame's admission to leaving the graph", histogram);
  add(
    "segflow_stream_in_flight",
    "gauge",
    "Frames of the stream inside the graph now",
    perStream((c) => c.admitted - c.frames),
  );
  add(
    "segflow_stream_model_seconds_total",
    "counter",
    "Inference time of the stream's model runs",
    perStream((c) => c.modelMs / 1000),
  );
  add("segflow_in_flight", "gauge", "Frames inside the graph now", [[graph, stats.live.inFlight()]]);
  add("segflow_queue_depth", "gauge", "Frames waiting for a credit now", [[graph, stats.live.waiting()]]);
  add("segflow_max_in_flight", "gauge", "The run's frame credits (execution.max_in_flight)", [[
    graph,
    stats.maxInFlight,
  ]]);
  const stages = [...stats.stages].map(([stage, s]): [Record<string, string>, number] => [
    { ...graph, stage },
    s.msTotal / 1000,
  ]);
  add("segflow_stage_seconds_total", "counter", "Work time of each stage (its code and its models)", stages);
  add("segflow_model_seconds_total", "counter", "Inference time in the model workers", [[graph, stats.modelMs / 1000]]);
  add("segflow_model_runs_total", "counter", "Model runs", [[graph, stats.modelRuns]]);
  add("segflow_resident_memory_bytes", "gauge", "Resident memory of the process", [[graph, Deno.memoryUsage().rss]]);
  return render(families);
}

function render(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const { name, help, type, samples } of families) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const { __suffix, ...shown } = labels;
      const suffix = __suffix ?? (type === "histogram" ? "_bucket" : "");
      const text = Object.entries(shown).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
      lines.push(`${name}${suffix}${text ? `{${text}}` : ""} ${formatValue(value)}`);
    }
  }
  return lines.join("\n") + "\n";
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1e6) / 1e6);
}
