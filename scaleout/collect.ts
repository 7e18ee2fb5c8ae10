/**
 * `deno task collect --nats URL --stream NAME --output DIR|FILE`: reads a job's results (`<NAME>_RESULTS`, from
 * the start, with an ordered consumer), drops duplicates by (stream, index), puts each stream back in index order
 * and writes `DIR/<stream>/<index>.png` (the label maps, as the workers published them) and `DIR/<stream>.jsonl`
 * (metadata lines), or every stream's metadata into FILE for `--output x.jsonl` (no PNGs then).
 *
 * A label PNG is written as soon as its result arrives (its file is named by its index); only the metadata lines
 * wait to be written in order. That reorder buffer holds at most `--reorder N` lines per stream (default 8192: over
 * four minutes of a 30 fps stream, well past the two AckWaits a dead worker's frames take to come back). When it
 * overflows, the missing frames before its first entry are given up on: counted as missing, warned about, and
 * skipped (one arriving later is counted as late and dropped); the exit code is then 1. The collector exits once every stream's end marker has arrived and
 * all its frames are written, the frames stream is empty and every result published so far is read; or after
 * `--idle-timeout S` without a message (exit 1 when a stream is incomplete).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { type ConsumerMessages, DeliverPolicy, jetstream, type JsMsg } from "@nats-io/jetstream";
import { UsageError } from "../engine/errors.ts";
import {
  busNames,
  cliMain,
  closeQuietly,
  connectBus,
  ensureResultsStream,
  header,
  headerInt,
  headerText,
  oneLine,
  openJetStream,
  sleep,
} from "./_bus.ts";
import { numberFlag, parseFlags, requiredFlag } from "./_args.ts";

/** Options of {@linkcode collect}. */
export interface CollectOptions {
  nats: string;
  stream: string;
  /** A folder (PNGs and one `.jsonl` per stream) or a `.jsonl` file (metadata of every stream). */
  output: string;
  /** Metadata lines held per stream waiting for an earlier one (default 8192). */
  reorder?: number;
  /** Seconds without a message before giving up (default: wait for the end markers however long). */
  idleTimeoutS?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** What {@linkcode collect} wrote. */
export interface CollectReport {
  /** Frames written, by stream. */
  streams: Record<string, number>;
  duplicates: number;
  /** Results that came after their frame had been given up on (dropped). */
  late: number;
  /** Frames given up on (reorder buffer overflow), by stream. */
  missing: Record<string, number>;
  /** Streams whose end marker had not come, or with frames still missing, when the collector stopped. */
  incomplete: string[];
  /** Whether the idle timeout ended it. */
  timedOut: boolean;
}

interface StreamOut {
  /** Index of the next metadata line to write. */
  next: number;
  /** Metadata lines of frames after `next`, waiting for it. */
  buffer: Map<number, string>;
  /** Frames given up on, as [first, last] index ranges (a result of one is late, not a duplicate). */
  skipped: [number, number][];
  end?: number;
  written: number;
  missing: number;
  jsonl?: Deno.FsFile;
}

/** Collects a job's results until every stream is complete (or the idle timeout, or the signal). */
export async function collect(options: CollectOptions): Promise<CollectReport> {
  const names = busNames(options.stream);
  const reorder = options.reorder ?? 8192;
  const log = options.log ?? ((line: string) => console.error(`collect: ${line}`));
  const single = /\.(jsonl|ndjson)$/.test(options.output);
  await Deno.mkdir(single ? dirname(options.output) : options.output, { recursive: true });
  const singleFile = single
    ? await Deno.open(options.output, { write: true, create: true, truncate: true })
    : undefined;
  const encoder = new TextEncoder();
  const streams = new Map<string, StreamOut>();
  const report: CollectReport = {
    streams: {},
    duplicates: 0,
    late: 0,
    missing: {},
    incomplete: [],
    timedOut: false,
  };
  const nc = await connectBus(options.nats, "segflow-collect", log);
  let lastSeq = 0;
  let lastMessageAt = performance.now();
  try {
    const jsm = await openJetStream(nc, options.nats);
    await ensureResultsStream(jsm, names);
    const js = jetstream(nc);
    // An ordered consumer from the start, or (after a stall: a server restart) from the result after the last one
    // read. The results stream holds only `<NAME>.results.>`: no filter (server 2.9 takes none on ordered consumers).
    let messages: ConsumerMessages | undefined;
    const subscribe = async () => {
      const consumer = await js.consumers.get(
        names.results,
        lastSeq === 0
          ? { deliver_policy: DeliverPolicy.All }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 },
      );
      return messages = await consumer.consume();
    };
    const folders = new Set<string>();
    /** A result's label map, written at once under its index. */
    const writePng = async (stream: string, index: number, msg: JsMsg) => {
      if (single || !msg.data.length) return;
      const folder = join(options.output, stream);
      if (!folders.has(folder)) await Deno.mkdir(folder, { recursive: true }).then(() => folders.add(folder));
      await Deno.writeFile(join(folder, `${String(index).padStart(6, "0")}.png`), msg.data);
    };
    const writeLine = async (stream: string, out: StreamOut, line: string) => {
      out.jsonl ??= singleFile ??
        await Deno.open(join(options.output, `${stream}.jsonl`), { write: true, create: true, truncate: true });
      await out.jsonl.write(encoder.encode(line + "\n"));
      out.written++;
      report.streams[stream] = out.written;
    };
    const flush = async (stream: string, out: StreamOut) => {
      for (let line = out.buffer.get(out.next); line !== undefined; line = out.buffer.get(out.next)) {
        out.buffer.delete(out.next);
        await writeLine(stream, out, line);
        out.next++;
      }
      if (out.buffer.size > reorder) {
        let first = Infinity;
        for (const index of out.buffer.keys()) first = Math.min(first, index);
        log(`stream ${stream}: reorder buffer full (${reorder}); frames ${out.next}..${first - 1} skipped as missing`);
        out.missing += first - out.next;
        out.skipped.push([out.next, first - 1]);
        if (out.skipped.length > 1024) out.skipped.shift();
        report.missing[stream] = out.missing;
        out.next = first;
        await flush(stream, out);
      }
    };
    const complete = (out: StreamOut) => out.end !== undefined && out.next >= out.end;
    const allDone = async () => {
      if (streams.size === 0 || ![...streams.values()].every(complete)) return false;
      // Every stream known is complete: done when no frame waits for a worker and every result is read.
      const frames = await jsm.streams.info(names.frames).then((i) => i.state.messages, () => 0);
      const results = await jsm.streams.info(names.results).then((i) => i.state.last_seq, () => 0);
      return frames === 0 && results <= lastSeq;
    };
    let finished = false;
    const readOnce = async () => {
      for await (const msg of await subscribe()) {
        if (msg.seq <= lastSeq) continue; // read before a resubscription
        lastMessageAt = performance.now();
        lastSeq = msg.seq;
        const stream = headerText(msg.headers, header.stream) ?? msg.subject.split(".").at(-1)!;
        let index: number;
        try {
          index = headerInt(msg.headers, header.index, msg.subject);
        } catch (error) {
          log(`${(error as Error).message}; skipped`);
          continue;
        }
        let out = streams.get(stream);
        if (!out) streams.set(stream, out = { next: 0, buffer: new Map(), skipped: [], written: 0, missing: 0 });
        const end = headerText(msg.headers, header.end);
        if (end !== undefined) {
          out.end = Number(end);
        } else if (index < out.next || out.buffer.has(index)) {
          if (out.skipped.some(([first, last]) => index >= first && index <= last)) report.late++;
          else report.duplicates++;
        } else {
          await writePng(stream, index, msg);
          out.buffer.set(index, headerText(msg.headers, header.metadata) ?? JSON.stringify({ stream, index }));
          await flush(stream, out);
        }
        if (complete(out) && await allDone()) {
          finished = true;
          break;
        }
      }
    };
    let stopping = false;
    const reading = (async () => {
      let failure = "";
      while (!finished && !stopping) {
        try {
          await readOnce();
        } catch (error) {
          const line = `cannot read the results (${oneLine(error)}); trying again`;
          if (line !== failure) log(line);
          failure = line;
        }
        if (!finished && !stopping) await sleep(500);
      }
    })();
    // Checks for the end (results that came before the frames stream emptied), a stalled consumer and the idle
    // timeout.
    while (!finished) {
      await Promise.race([reading, sleep(250, options.signal)]);
      if (finished || options.signal?.aborted) break;
      if (await allDone()) break;
      // Quiet for 2 s while the server holds results this consumer has not delivered (it did not survive a server
      // restart): subscribe again after the last one read.
      if (messages && performance.now() - lastMessageAt > 2000) {
        const behind = await jsm.streams.info(names.results).then((i) => i.state.last_seq > lastSeq, () => false);
        if (behind && messages) {
          const closing = messages;
          messages = undefined;
          await closing.close().catch(() => {});
        }
      }
      const idleS = (performance.now() - lastMessageAt) / 1000;
      if (options.idleTimeoutS !== undefined && idleS > options.idleTimeoutS) {
        report.timedOut = true;
        break;
      }
    }
    stopping = true;
    await messages?.close().catch(() => {});
    await reading.catch(() => {});
  } finally {
    for (const out of streams.values()) if (out.jsonl !== singleFile) out.jsonl?.close();
    singleFile?.close();
    await closeQuietly(nc);
  }
  report.incomplete = [...streams.entries()]
    .filter(([, out]) => out.end === undefined || out.next < out.end || out.missing > 0)
    .map(([stream]) => stream);
  return report;
}

const usage =
  `usage: deno task collect --nats URL --stream NAME --output DIR|FILE.jsonl [--idle-timeout S] [--reorder N]`;

/** The `collect` command line; returns the exit code. */
export async function collectCli(argv: string[]): Promise<number> {
  const args = parseFlags("collect", argv, {
    nats: { type: "string" },
    stream: { type: "string" },
    output: { type: "string" },
    "idle-timeout": { type: "string" },
    reorder: { type: "string" },
    quiet: { type: "boolean" },
  });
  if (args.values.help) {
    console.log(usage);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`collect takes no arguments, got '${args.positionals[0]}'`);
  const abort = new AbortController();
  const stop = () => abort.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const idle = args.values["idle-timeout"] !== undefined ? numberFlag(args, "idle-timeout", 0, 0, 1e7) : undefined;
    const report = await collect({
      nats: requiredFlag("collect", args, "nats", "nats://127.0.0.1:4222"),
      stream: requiredFlag("collect", args, "stream", "job1"),
      output: requiredFlag("collect", args, "output", "out/job1"),
      reorder: numberFlag(args, "reorder", 8192, 1, 1e7),
      signal: abort.signal,
      ...(idle !== undefined ? { idleTimeoutS: idle } : {}),
    });
    const counts = Object.entries(report.streams).map(([s, n]) => `${s}: ${n}`).join(", ");
    if (!args.values.quiet) {
      console.error(
        `collected ${Object.values(report.streams).reduce((a, b) => a + b, 0)} frames (${counts || "none"}), ` +
          `${report.duplicates} duplicates dropped${report.late ? `, ${report.late} late results dropped` : ""}`,
      );
    }
    const missing = Object.values(report.missing).reduce((a, b) => a + b, 0);
    if (missing) console.error(`collect: ${missing} frames missing (reorder buffer overflow)`);
    if (report.timedOut && report.incomplete.length) {
      console.error(`collect: idle timeout; incomplete streams: ${report.incomplete.join(", ")}`);
    } else if (report.timedOut && Object.keys(report.streams).length === 0) {
      console.error("collect: idle timeout; no results came");
      return 1;
    }
    return report.incomplete.length || missing ? 1 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

if (import.meta.main) await cliMain(Deno.args, collectCli);
