/**
 * `deno task worker <graph.yaml> --nats URL --stream NAME [--models SET] [--set ...]`: runs any graph with its
 * source replaced by frames pulled from JetStream, and publishes each frame's results to `<NAME>_RESULTS` before
 * acking the frame. Several workers, on one machine or many, share a job's video streams; each stream is pinned to
 * one worker at a time by a lease in a KV bucket (see `_leases.ts`), so stateful graphs (DFF, Accel, DVSNet,
 * Clockwork, tracks) keep their per-stream state. When a worker dies its leases expire, another worker takes its
 * streams, and the frames it had not acked come back to that worker after AckWait: the graph starts the stream
 * afresh there (its next frame is a key frame).
 *
 * SIGINT/SIGTERM: stop pulling, finish and ack the frames inside the graph, release the leases, exit 0.
 *
 * @module
 */
import { resolve } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { keepsStreamState, loadGraph } from "../engine/graph.ts";
import type { LoadOptions } from "../engine/graph_types.ts";
import { Registry } from "../engine/registry.ts";
import type { SourceDefinition } from "../engine/source.ts";
import { runGraph } from "../engine/run.ts";
import type { StatsCollector } from "../engine/stats.ts";
import { type MetricsServer, startMetricsServer } from "../engine/metrics.ts";
import { UsageError } from "../engine/errors.ts";
import { builtinRegistry } from "../stages/mod.ts";
import {
  busNames,
  cliMain,
  closeQuietly,
  connectBus,
  ensureFramesStream,
  ensureResultsStream,
  oneLine,
  openJetStream,
  sleep,
} from "./_bus.ts";
import { Leases } from "./_leases.ts";
import { Feed, jetstreamSource } from "./_feed.ts";
import { endHeaders, errorResult, frameResult, objectsSlot, resultMessage } from "./_results.ts";
import { listFlag, numberFlag, parseFlags, requiredFlag, stringFlag } from "./_args.ts";
import { Backoff } from "../datasets/backoff.ts";

/** Options of {@linkcode runWorker}. */
export interface WorkerOptions {
  /** The graph file. */
  graph: string;
  nats: string;
  /** The job's stream name. */
  stream: string;
  /** `--models SET`. */
  models?: string;
  /** `--set target.param=value` overrides. */
  set?: string[];
  /** Extra `execution:` settings (`max_in_flight`, `workers`). */
  execution?: Record<string, unknown>;
  /** Lease time in seconds (default 10): how long a dead worker's streams wait before another takes them. */
  leaseS?: number;
  /** AckWait in seconds (default 30): how long a dead worker's unacked frames wait before redelivery. */
  ackWaitS?: number;
  /**
   * Deliveries of a frame without a result before it is published as an error instead (default 10). Frames given
   * back unprocessed (a worker stopping or losing a lease) count too.
   */
  maxDeliver?: number;
  /** How often to look for streams without a worker, ms (default 1000). */
  pollMs?: number;
  /** At most this many video streams at once (default: a fair share of the live workers, no cap). */
  maxStreams?: number;
  /** The slot whose label map is published (default `labels`). */
  labelsSlot?: string;
  /** Keep the graph's own sinks (default: dropped; the results go to the bus). */
  keepSinks?: boolean;
  /**
   * Pin each stream to one worker even though the graph keeps no per-stream state (default: such a graph's streams
   * are shared: any worker takes any frame).
   */
  pin?: boolean;
  /** `--metrics [HOST]:PORT`: serve this worker's Prometheus metrics there while it runs. */
  metrics?: string;
  /** This worker's name in leases and metadata (default `<host>-<pid>`). */
  id?: string;
  /** The registry (default: the built-in kinds); the `jetstream` source kind is added to a copy of it. */
  registry?: Registry;
  modelsRoot?: string;
  /** Aborting stops pulling; frames inside the graph finish and are acked. */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** What a worker did. */
export interface WorkerReport {
  id: string;
  /** Frames done, by stream. */
  streams: Record<string, number>;
  frames: number;
  /** Frames the engine dropped (none: the bus holds frames until they are pulled). */
  dropped: number;
  seconds: number;
}

/** The project's models folder. */
const defaultModelsRoot = resolve(new URL("../models", import.meta.url).pathname);

/**
 * Runs a worker until `options.signal` aborts.
 *
 * @throws {UsageError}/{@linkcode GraphError} for a bad graph; {@linkcode InputError} for an unreachable server.
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerReport> {
  const names = busNames(options.stream);
  const id = (options.id ?? `${Deno.hostname()}-${Deno.pid}`).replace(/[^A-Za-z0-9_-]/g, "_");
  const log = options.log ?? ((line: string) => console.error(`worker ${id}: ${line}`));
  const leaseS = options.leaseS ?? 10;
  const ackWaitS = options.ackWaitS ?? 30;
  const pollMs = options.pollMs ?? 1000;
  const labelsSlot = options.labelsSlot ?? "labels";
  let feed: Feed | undefined;
  const registry = withSource(options.registry ?? builtinRegistry(), jetstreamSource(() => feed!));
  const load: LoadOptions = {
    registry,
    modelsRoot: options.modelsRoot ?? defaultModelsRoot,
    input: `jetstream:${options.stream}`,
    overrides: options.set ?? [],
    execution: options.execution ?? {},
  };
  if (options.models !== undefined) load.modelSet = options.models;
  const graph = await loadGraph(options.graph, load);
  if (!options.keepSinks) graph.sinks = [];
  const objects = objectsSlot(graph);
  const maxInFlight = graph.execution.max_in_flight;
  const shared = !options.pin && !keepsStreamState(graph);

  const nc = await connectBus(options.nats, `segflow-worker-${id}`, log);
  const report: WorkerReport = { id, streams: {}, frames: 0, dropped: 0, seconds: 0 };
  const timers: ReturnType<typeof setInterval>[] = [];
  let fatal: Error | undefined;
  let leases: Leases | undefined;
  let collector: StatsCollector | undefined;
  let metrics: MetricsServer | undefined;
  const onAbort = () => void feed?.stop();
  try {
    const jsm = await openJetStream(nc, options.nats);
    await ensureFramesStream(jsm, names);
    await ensureResultsStream(jsm, names);
    const js = jetstream(nc);
    leases = await Leases.open(nc, names.leases, id, leaseS);
    const held = leases;
    // A result that cannot be published (the server restarting) is tried again for up to two minutes with the
    // same Nats-Msg-Id (a retry of one that did land is a duplicate the server drops); its frame is kept alive.
    const publishResult = async (
      stream: string,
      index: number,
      result: Parameters<typeof resultMessage>[0],
    ): Promise<void> => {
      const { payload, headers } = await resultMessage(result);
      const until = performance.now() + 120_000;
      const backoff = new Backoff(250, 4000);
      for (;;) {
        try {
          await js.publish(names.resultSubject(stream), payload, { msgID: `${stream}:${index}`, headers });
          return;
        } catch (error) {
          const wait = backoff.next();
          if (nc.isClosed() || performance.now() + wait > until) throw error;
          await sleep(wait);
        }
      }
    };
    const bus = new Feed({
      nc,
      js,
      jsm,
      names,
      leases,
      maxInFlight,
      shared,
      ackWaitS,
      maxDeliver: options.maxDeliver ?? 10,
      ...(options.maxStreams !== undefined ? { maxStreams: options.maxStreams } : {}),
      maxPublishing: maxInFlight,
      log,
      onEnd: async (stream, count) => {
        await js.publish(names.resultSubject(stream), new Uint8Array(), {
          msgID: `${stream}:end`,
          headers: endHeaders(stream, count),
        });
      },
      onBad: (stream, index, error) => publishResult(stream, index, errorResult(stream, index, id, error)),
    });
    feed = bus;
    log(
      shared
        ? "the graph keeps no per-stream state: its streams are shared with the other workers"
        : "streams are pinned to one worker each (the graph keeps per-stream state, or --pin)",
    );
    if (options.signal?.aborted) await bus.stop();
    options.signal?.addEventListener("abort", onAbort);
    await held.renew();

    // Leases and presence renewed three times per lease (one renewal at a time: overlapping ones would race on the
    // revisions); held messages kept alive three times per AckWait.
    let renewing = false;
    timers.push(setInterval(() => {
      if (renewing) return;
      renewing = true;
      held.renew().then((lost) => lost.forEach((stream) => bus.lost(stream))).catch(() => {})
        .finally(() => (renewing = false));
    }, (leaseS * 1000) / 3));
    timers.push(setInterval(() => bus.heartbeat(), (ackWaitS * 1000) / 3));
    let discovering = false;
    let lastFailure = "";
    const start = async (stream: string) => {
      try {
        await bus.start(stream);
      } catch (error) {
        log(`cannot start stream ${stream}, will try again (${oneLine(error)})`);
      }
    };
    const discover = async () => {
      if (discovering || bus.stopped) return;
      discovering = true;
      try {
        await bus.checkGaps();
        const info = await jsm.streams.info(names.frames, { subjects_filter: `${names.frames}.frames.>` });
        lastFailure = "";
        const prefix = `${names.frames}.frames.`;
        const active = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
        await bus.idle(active);
        const free = active.filter((stream) => !bus.streams.includes(stream));
        if (!shared) {
          // Workers that joined later get streams: one held beyond the fair share (and for at least a lease time,
          // so streams do not go back and forth) is handed over per look.
          const fair = Math.ceil(active.length / await held.liveWorkers());
          const mine = bus.streams.filter((stream) => active.includes(stream));
          const spare = bus.settled(leaseS * 1000).filter((stream) => active.includes(stream));
          if (mine.length > fair && spare.length && !bus.stopped) await bus.handOver(spare[0]!);
        }
        if (!free.length) return;
        if (shared) {
          for (const stream of free.slice(0, Math.max(0, (options.maxStreams ?? Infinity) - bus.streams.length))) {
            if (!bus.stopped) await start(stream);
          }
          return;
        }
        const share = Math.ceil(active.length / await held.liveWorkers());
        for (const stream of free) {
          if (bus.stopped || bus.streams.length >= Math.min(share, options.maxStreams ?? Infinity)) break;
          if (await held.take(stream)) await start(stream);
        }
      } catch (error) {
        // Once per distinct failure (a server that is down for a while is one line, not one per poll).
        const line = `cannot look for streams (${oneLine(error)})`;
        if (line !== lastFailure) log(line);
        lastFailure = line;
      } finally {
        discovering = false;
      }
    };
    // The first look waits one poll, so workers started together see each other before they share the streams.
    timers.push(setInterval(discover, pollMs));

    const started = performance.now();
    metrics = options.metrics === undefined ? undefined : await startMetricsServer(options.metrics, () => collector);
    if (metrics) log(`metrics: http://${metrics.hostname}:${metrics.port}/metrics`);
    const stats = await runGraph(graph, {
      quiet: true,
      hostSlots: [labelsSlot],
      onStats: (stats) => (collector = stats),
      warn: (message) => log(`warning: ${message}`),
      onFrame: (frame) => {
        const result = frameResult(frame, {
          labelsSlot,
          ...(objects ? { objectsSlot: objects } : {}),
          worker: id,
          latencyMs: performance.now() - frame.admittedAt,
        });
        bus.publishing++;
        publishResult(frame.stream, frame.index, result).then(
          () => {
            bus.done(frame.stream, frame.index);
            report.streams[frame.stream] = (report.streams[frame.stream] ?? 0) + 1;
            report.frames++;
          },
          (error) => {
            // Not acked: the frame comes back (to this worker's successor) once the leases are released.
            fatal ??= new Error(`cannot publish results to ${options.nats}: ${oneLine(error)}`);
            bus.stop();
          },
        ).finally(() => {
          bus.publishing--;
          bus.wake();
        });
      },
    });
    while (bus.publishing > 0) await sleep(10);
    // End markers still being published for streams whose last frame just finished.
    for (let i = 0; i < 100 && bus.inFlight > 0; i++) await sleep(10);
    report.seconds = (performance.now() - started) / 1000;
    report.dropped = stats.dropped;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    for (const timer of timers) clearInterval(timer);
    await metrics?.close();
    await feed?.stop();
    await leases?.releaseAll().catch(() => {});
    await closeQuietly(nc);
  }
  if (fatal) throw fatal;
  return report;
}

/** A copy of `base` with `source` added first (so `--input jetstream:NAME` finds it before the file kinds). */
function withSource(base: Registry, source: SourceDefinition): Registry {
  const registry = new Registry().source(source);
  for (const definition of base.sources.values()) if (definition.kind !== source.kind) registry.source(definition);
  for (const definition of base.stages.values()) registry.stage(definition);
  for (const [old, kind] of base.aliases) registry.aliases.set(old, kind);
  for (const [kind, renames] of base.paramRenames) registry.paramRenames.set(kind, renames);
  return registry;
}

const usage =
  `usage: deno task worker <graph.yaml> --nats URL --stream NAME [--models SET] [--set target.param=value]...
       [--max-in-flight N] [--workers N] [--lease-s S] [--ack-wait-s S] [--max-deliver N] [--max-streams N] [--labels SLOT]
       [--keep-sinks] [--pin] [--id NAME] [--metrics [HOST]:PORT]`;

/** The `worker` command line; returns the exit code. */
export async function workerCli(argv: string[]): Promise<number> {
  const args = parseFlags("worker", argv, {
    nats: { type: "string" },
    stream: { type: "string" },
    models: { type: "string" },
    set: { type: "string", multiple: true },
    "max-in-flight": { type: "string" },
    workers: { type: "string" },
    "lease-s": { type: "string" },
    "ack-wait-s": { type: "string" },
    "max-deliver": { type: "string" },
    "poll-ms": { type: "string" },
    "max-streams": { type: "string" },
    labels: { type: "string" },
    "keep-sinks": { type: "boolean" },
    pin: { type: "boolean" },
    metrics: { type: "string" },
    id: { type: "string" },
  });
  if (args.values.help) {
    console.log(usage);
    return 0;
  }
  const [graph, ...rest] = args.positionals;
  if (!graph) throw new UsageError("worker needs a graph file, e.g. graphs/per-frame.yaml");
  if (rest.length) throw new UsageError(`worker takes one graph file, got ${args.positionals.length}`);
  const execution: Record<string, unknown> = {};
  if (stringFlag(args, "max-in-flight")) execution.max_in_flight = numberFlag(args, "max-in-flight", 4, 1, 1024);
  if (stringFlag(args, "workers")) execution.workers = numberFlag(args, "workers", 1, 1, 64);
  const abort = new AbortController();
  const stop = (signal: Deno.Signal) => () => {
    if (abort.signal.aborted) Deno.exit(signal === "SIGINT" ? 130 : 143);
    console.error(`worker: ${signal}: finishing the frames in flight (again to quit now)`);
    abort.abort(signal);
  };
  const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => [signal, stop(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  try {
    const models = stringFlag(args, "models"), id = stringFlag(args, "id"), labels = stringFlag(args, "labels");
    const maxStreams = stringFlag(args, "max-streams"), metrics = stringFlag(args, "metrics");
    const report = await runWorker({
      graph,
      nats: requiredFlag("worker", args, "nats", "nats://127.0.0.1:4222"),
      stream: requiredFlag("worker", args, "stream", "job1"),
      set: listFlag(args, "set"),
      execution,
      leaseS: numberFlag(args, "lease-s", 10, 0.5, 3600),
      ackWaitS: numberFlag(args, "ack-wait-s", 30, 0.5, 3600),
      maxDeliver: numberFlag(args, "max-deliver", 10, 1, 1000),
      pollMs: numberFlag(args, "poll-ms", 1000, 50, 60000),
      keepSinks: args.values["keep-sinks"] === true,
      pin: args.values.pin === true,
      signal: abort.signal,
      ...(models !== undefined ? { models } : {}),
      ...(id !== undefined ? { id } : {}),
      ...(labels !== undefined ? { labelsSlot: labels } : {}),
      ...(metrics !== undefined ? { metrics } : {}),
      ...(maxStreams !== undefined ? { maxStreams: numberFlag(args, "max-streams", 1, 1, 1e6) } : {}),
    });
    const streams = Object.entries(report.streams).map(([s, n]) => `${s}: ${n}`).join(", ");
    console.error(`worker ${report.id}: ${report.frames} frames${streams ? ` (${streams})` : ""}`);
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
  return 0;
}

if (import.meta.main) await cliMain(Deno.args, workerCli);
