/**
 * `deno task publish <input>... --nats URL --stream NAME`: reads inputs the way `deno task run --input` does (any
 * video file, y4m, image folder, dataset layout; several inputs are several video streams) and publishes every
 * frame into the JetStream stream NAME, one subject per video stream (`NAME.frames.<stream>`), then one
 * end-of-stream message per video stream. At most `--max-pending` publishes wait for their PubAck at once, so
 * memory stays bounded however long the input.
 *
 * @module
 */
import sharp from "sharp";
import { headers } from "@nats-io/transport-node";
import { jetstream, type PubAck } from "@nats-io/jetstream";
import { loadGraphText } from "../engine/graph_load.ts";
import { shortName } from "../engine/multi_source.ts";
import { InputError, UsageError } from "../engine/errors.ts";
import type { FrameInit } from "../engine/frame.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { resolve } from "node:path";
import {
  busNames,
  cliMain,
  closeQuietly,
  connectBus,
  ensureFramesStream,
  ensureResultsStream,
  type FrameFormat,
  header,
  oneLine,
  openJetStream,
  StreamTokens,
} from "./_bus.ts";
import { numberFlag, parseFlags, requiredFlag, stringFlag } from "./_args.ts";

/** Options of {@linkcode publish}. */
export interface PublishOptions {
  /** Paths as `--input` takes them; several give several video streams. */
  inputs: string[];
  /** Server URL, e.g. `nats://127.0.0.1:4222`. */
  nats: string;
  /** The job's stream name. */
  stream: string;
  /** Payload encoding; default `jpeg`. */
  format?: FrameFormat;
  /** JPEG quality (1-100); default 90. */
  quality?: number;
  /** Stop after this many frames in all. */
  frames?: number;
  /** `--size WxH` for raw rgb24 input. */
  size?: string;
  /** Publishes waiting for their PubAck at once; default 64. */
  maxPending?: number;
  /** Aborting stops reading; the end markers are still published (with the frames sent so far). */
  signal?: AbortSignal;
}

/** What {@linkcode publish} sent. */
export interface PublishReport {
  /** Frames per video stream (by subject token). */
  streams: Record<string, number>;
  /** Frames the server had already (same `Nats-Msg-Id` within its duplicate window). */
  duplicates: number;
  /** Payload bytes sent. */
  bytes: number;
  seconds: number;
}

/**
 * Publishes every frame of `options.inputs` into the job's frames stream (created if missing).
 *
 * @throws {InputError} for an unreachable server, an unreadable input, a frame over the server's max payload.
 */
export async function publish(options: PublishOptions): Promise<PublishReport> {
  const names = busNames(options.stream);
  const format = options.format ?? "jpeg";
  const quality = options.quality ?? 90;
  const maxPending = options.maxPending ?? 64;
  const registry = builtinRegistry();
  const graph = await loadGraphText("publish", "name: publish\nsource: { kind: pattern }\nstages: []\n", {
    registry,
    modelsRoot,
    ...(options.inputs.length === 1 ? { input: options.inputs[0]! } : { inputs: options.inputs }),
    ...(options.size !== undefined ? { size: options.size } : {}),
  });
  const nc = await connectBus(options.nats, "segflow-publish");
  const started = performance.now();
  const report: PublishReport = { streams: {}, duplicates: 0, bytes: 0, seconds: 0 };
  let source: Awaited<ReturnType<typeof graph.source.definition.open>> | undefined;
  try {
    const jsm = await openJetStream(nc, options.nats);
    await ensureFramesStream(jsm, names);
    await ensureResultsStream(jsm, names);
    const js = jetstream(nc);
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    source = await graph.source.definition.open(graph.source.params as never);
    // A stop ends the read at once, even while the input sends nothing (a camera reconnecting, a quiet pipe); the
    // frames published so far get their end markers.
    const opened = source;
    const stopReading = () => void opened.close().catch(() => {});
    if (options.signal?.aborted) stopReading();
    options.signal?.addEventListener("abort", stopReading, { once: true });
    const fallbackName = shortName(source.info.name);
    const tokens = new StreamTokens();
    const pending: Promise<PubAck>[] = [];
    const settle = (ack: PubAck) => {
      if (ack.duplicate) report.duplicates++;
    };
    const send = async (subject: string, payload: Uint8Array, h: ReturnType<typeof headers>, id: string) => {
      if (pending.length >= maxPending) settle(await pending.shift()!);
      const ack = js.publish(subject, payload, { msgID: id, headers: h });
      ack.catch(() => {}); // awaited in order below; this only keeps a failure from being unhandled meanwhile
      pending.push(ack);
    };
    let total = 0;
    try {
      for await (const frame of source.frames()) {
        if (options.signal?.aborted || (options.frames !== undefined && total >= options.frames)) break;
        const stream = tokens.of(frame.sequence ?? fallbackName);
        const index = report.streams[stream] ?? 0;
        const payload = await encodeFrame(frame, format, quality);
        if (payload.length > maxPayload - 4096) {
          throw new InputError(
            `${describe(frame)}: ${payload.length} bytes is over the server's max_payload (${maxPayload}); ` +
              `${format === "raw" ? "use --format jpeg, or " : ""}raise max_payload in the nats-server config`,
          );
        }
        const h = headers();
        h.set(header.stream, stream);
        h.set(header.index, String(index));
        h.set(header.timestamp, String(frame.timestamp));
        h.set(header.width, String(frame.image.width));
        h.set(header.height, String(frame.image.height));
        h.set(header.format, format);
        if (frame.name) h.set(header.name, frame.name);
        if (frame.restart) h.set(header.restart, "1");
        await send(names.frameSubject(stream), payload, h, `${stream}:${index}`);
        report.streams[stream] = index + 1;
        report.bytes += payload.length;
        total++;
      }
    } catch (error) {
      if (!options.signal?.aborted) throw error; // a read cut short by the stop
    }
    for (const [stream, count] of Object.entries(report.streams)) {
      const h = headers();
      h.set(header.stream, stream);
      h.set(header.index, String(count));
      h.set(header.end, String(count));
      await send(names.frameSubject(stream), new Uint8Array(), h, `${stream}:end`);
    }
    for (const ack of pending.splice(0)) settle(await ack);
  } catch (error) {
    if (error instanceof InputError || error instanceof UsageError) throw error;
    throw new InputError(`publish to ${options.nats} (stream ${options.stream}): ${oneLine(error)}`);
  } finally {
    await source?.close().catch(() => {});
    await closeQuietly(nc);
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/** A frame's payload: JPEG through sharp, or its rgb24 bytes as they are. */
export async function encodeFrame(frame: FrameInit, format: FrameFormat, quality = 90): Promise<Uint8Array> {
  const { width, height, data } = frame.image;
  if (format === "raw") return data;
  const jpeg = await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}

function describe(frame: FrameInit): string {
  return frame.name ? `frame ${frame.index} (${frame.name})` : `frame ${frame.index}`;
}

/** Where the project's models live (the loader needs the folder, though publishing runs none). */
const modelsRoot = resolve(new URL("../models", import.meta.url).pathname);

const usage = `usage: deno task publish <input>... --nats URL --stream NAME [--format jpeg|raw] [--quality Q]
       [--frames N] [--size WxH] [--max-pending N]`;

/** The `publish` command line; returns the exit code. */
export async function publishCli(argv: string[]): Promise<number> {
  const args = parseFlags("publish", argv, {
    nats: { type: "string" },
    stream: { type: "string" },
    format: { type: "string" },
    quality: { type: "string" },
    frames: { type: "string" },
    size: { type: "string" },
    "max-pending": { type: "string" },
    quiet: { type: "boolean" },
  });
  if (args.values.help) {
    console.log(usage);
    return 0;
  }
  if (args.positionals.length === 0) throw new UsageError("publish needs an input (a video, y4m, folder or '-')");
  const format = stringFlag(args, "format") ?? "jpeg";
  if (format !== "jpeg" && format !== "raw") throw new UsageError(`--format ${format}: expected jpeg or raw`);
  const abort = new AbortController();
  const stop = () => {
    if (abort.signal.aborted) Deno.exit(130);
    console.error("publish: stopping: the frames read so far get their end markers (again to quit now)");
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const frames = stringFlag(args, "frames");
    const size = stringFlag(args, "size");
    const report = await publish({
      inputs: args.positionals,
      nats: requiredFlag("publish", args, "nats", "nats://127.0.0.1:4222"),
      stream: requiredFlag("publish", args, "stream", "job1"),
      format,
      quality: numberFlag(args, "quality", 90, 1, 100),
      maxPending: numberFlag(args, "max-pending", 64, 1, 100000),
      signal: abort.signal,
      ...(frames !== undefined ? { frames: numberFlag(args, "frames", 0, 0, Number.MAX_SAFE_INTEGER) } : {}),
      ...(size !== undefined ? { size } : {}),
    });
    if (!args.values.quiet) {
      const counts = Object.entries(report.streams).map(([s, n]) => `${s}: ${n}`).join(", ");
      const frames = Object.values(report.streams).reduce((a, b) => a + b, 0);
      const dup = report.duplicates ? `, ${report.duplicates} already on the server (same --stream reused)` : "";
      console.error(
        `published ${frames} frames (${counts}), ${(report.bytes / 1e6).toFixed(1)} MB in ` +
          `${report.seconds.toFixed(1)} s${dup}`,
      );
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  return 0;
}

if (import.meta.main) await cliMain(Deno.args, publishCli);
