/**
 * A worker's frames from JetStream: one durable pull consumer per video stream it holds a lease on, the messages
 * put back in index order per stream, and a frame source (`jetstream`) that the graph pulls from.
 *
 * Each stream's consumer has `MaxAckPending` = the graph's `max_in_flight`, so at most that many frames per stream
 * are in this worker (queued or inside the graph) at once. Messages held here are kept alive (`working()`) so their
 * AckWait runs only when the worker is gone. A frame is acked only once its results are published
 * ({@linkcode Feed.done}); the stream's end marker is acked once every frame before it is done.
 *
 * Order: a stream's next frame is the first message the server still holds for its subject (work-queue retention
 * drops acked ones), looked up when the lease is taken; later messages wait in a per-stream buffer (at most
 * `MaxAckPending` of them) until the gap is filled. A gap whose frames the server no longer holds (acked by a worker
 * that lost its lease late, once it finished them) is skipped at the next look ({@linkcode Feed.checkGaps}); one that
 * stays open for two AckWaits is skipped too.
 *
 * A stream whose lease is lost while frames of it are inside the graph is drained: nothing more is pulled, the
 * frames not yet in the graph go back to the server, and those in it are acked as they finish (their results are
 * published; the new holder finds them gone).
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import sharp from "sharp";
import type { FrameInit } from "../engine/frame.ts";
import { defineSource, type FrameSource, type SourceDefinition } from "../engine/source.ts";
import { InputError } from "../engine/errors.ts";
import { type BusNames, header, headerInt, headerText, oneLine, sleep } from "./_bus.ts";
import type { Leases } from "./_leases.ts";

/** One video stream this worker holds. */
interface StreamWork {
  stream: string;
  /** The pull loop: settles once the stream is closed and its last pull request has ended. */
  pulling?: Promise<void>;
  /** Index of the next frame to hand to the graph (undefined until known). */
  next?: number;
  /** Frames that came before their turn. */
  buffer: Map<number, JsMsg>;
  /** Frames handed on (queued for the graph or inside it), not yet done. */
  taken: Map<number, JsMsg>;
  end?: { msg: JsMsg; count: number };
  /** Since when the buffer has waited for a missing frame (ms). */
  gapSince?: number;
  /** Wakes the consumer loop of a shared stream when a frame is done. */
  room?: () => void;
  /** When this worker last received a message of the stream (ms), and whether one was its end marker. */
  lastReceived: number;
  /** When this worker started pulling the stream (ms). */
  startedAt: number;
  endSeen?: boolean;
  closed: boolean;
}

/** A frame message waiting for the graph. */
interface Ready {
  stream: string;
  index: number;
  msg: JsMsg;
}

/** What a {@linkcode Feed} needs. */
export interface FeedOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: BusNames;
  leases: Leases;
  /** `MaxAckPending` of each stream's consumer. */
  maxInFlight: number;
  /**
   * The graph keeps no per-stream state: every worker pulls every stream from its one durable consumer, frames go
   * to whichever worker asks first, in any order (the collector puts them back in order), and no lease is taken.
   */
  shared?: boolean;
  /** Streams this worker may hold at once (`--max-streams`), when capped. */
  maxStreams?: number;
  ackWaitS: number;
  /**
   * A frame delivered more often than this without a result (every worker that took it failed or was stopped: a
   * frame that makes the graph fail) is published as an error and acked instead of failing one more worker.
   */
  maxDeliver: number;
  /** Result publications that may be pending before the graph gets another frame. */
  maxPublishing: number;
  /** Publishes a stream's end marker to the results (its frames are all done). */
  onEnd(stream: string, count: number): Promise<void>;
  /** A message that cannot be decoded: publish an error result for it. It is acked afterwards. */
  onBad(stream: string, index: number, error: Error): Promise<void>;
  log(line: string): void;
}

/** The frames of the streams a worker holds, as one source. */
export class Feed {
  readonly #o: FeedOptions;
  readonly #streams = new Map<string, StreamWork>();
  /** Streams whose lease was lost, with frames still inside the graph (acked as they finish). */
  readonly #draining = new Map<string, StreamWork>();
  #ready: Ready[] = [];
  #wake: (() => void) | undefined;
  #stopped = false;
  /** Result publications pending. */
  publishing = 0;

  constructor(options: FeedOptions) {
    this.#o = options;
  }

  /** The streams held now. */
  get streams(): string[] {
    return [...this.#streams.keys()];
  }

  /** Streams whose frames may interleave in the graph: the cap, else 16 (what stages size stream state by). */
  get maxStreams(): number {
    return this.#o.maxStreams ?? 16;
  }

  /** Whether the feed was stopped. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Frames taken and not yet done, in all streams. */
  get inFlight(): number {
    let count = 0;
    for (const w of [...this.#streams.values(), ...this.#draining.values()]) count += w.taken.size;
    return count;
  }

  /** Wakes the source when it waits for a frame or for publications to finish. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * Starts pulling `stream` (its lease is held): makes its durable consumer, finds its next frame, consumes.
   * When that fails, the stream is given up here (its lease released, so another worker, or this one's next look,
   * can take it) and the error is rethrown.
   */
  async start(stream: string): Promise<void> {
    if (this.#streams.has(stream)) return;
    try {
      await this.#start(stream);
    } catch (error) {
      const work = this.#streams.get(stream);
      if (work) await this.#close(work, false);
      this.#streams.delete(stream);
      if (!this.#o.shared) await this.#o.leases.release(stream);
      throw error;
    }
  }

  async #start(stream: string): Promise<void> {
    const { js, jsm, names, maxInFlight, ackWaitS } = this.#o;
    const work: StreamWork = {
      stream,
      buffer: new Map(),
      taken: new Map(),
      closed: false,
      lastReceived: performance.now(),
      startedAt: performance.now(),
    };
    this.#streams.set(stream, work);
    const durable = names.consumer(stream);
    // A shared stream's consumer serves several workers: MaxAckPending bounds them together, so it grows with the
    // workers (each still pulls at most maxInFlight at once), and the server removes it once nobody pulls.
    const config = {
      ack_wait: Math.round(ackWaitS * 1e9),
      max_ack_pending: this.#o.shared ? 64 * maxInFlight : maxInFlight,
      ...(this.#o.shared ? { inactive_threshold: sharedIdleNs } : {}),
    };
    const existing = await jsm.consumers.info(names.frames, durable).catch(() => undefined);
    if (existing) await jsm.consumers.update(names.frames, durable, config).catch(() => {}); // works as it is
    else {
      await jsm.consumers.add(names.frames, {
        durable_name: durable,
        filter_subject: names.frameSubject(stream),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ...config,
      }).catch(() => jsm.consumers.update(names.frames, durable, config)); // added meanwhile by another worker
    }
    // The first frame the server still holds is the next in line (acked ones are gone): null when none is there
    // yet. A failed lookup fails the start: guessing from the first delivery could skip a dead worker's frames.
    if (!this.#o.shared) {
      const first = await this.#firstHeld(stream);
      if (first !== undefined) work.next = first;
    }
    const consumer = await js.consumers.get(names.frames, durable);
    work.pulling = this.#pull(work, consumer);
    this.#o.log(
      `${this.#o.shared ? "sharing" : "took"} stream ${stream}${
        work.next !== undefined ? ` at frame ${work.next}` : ""
      }`,
    );
  }

  /**
   * Pulls the stream's frames with one short pull request at a time (`fetch`, at most `pullExpiresMs`), until it is
   * closed. Not `consume()`: closing that leaves its pull requests open on the server, and a frame given back then
   * (nak) could be delivered into one nobody reads, to wait out its AckWait; here a close waits for the request in
   * flight to end and gives back whatever it brings. A failed pull (a server restarting) is tried again.
   */
  async #pull(work: StreamWork, consumer: Consumer): Promise<void> {
    const { maxInFlight } = this.#o;
    let failure = "";
    while (!work.closed && !this.#stopped) {
      // A shared stream's consumer does not bound this worker's share: at most twice maxInFlight frames of it here
      // (those in the graph and as many waiting, so a freed credit never waits for a pull). A pinned one's
      // MaxAckPending does: a request for more stays open while acks make room (fewer round trips).
      const room = this.#o.shared ? 2 * maxInFlight - work.taken.size : 4 * maxInFlight;
      if (room <= 0) {
        await new Promise<void>((resolve) => work.room = resolve);
        continue;
      }
      try {
        for await (const msg of await consumer.fetch({ max_messages: room, expires: pullExpiresMs })) {
          this.#receive(work, msg);
        }
        failure = "";
      } catch (error) {
        const line = `stream ${work.stream}: cannot pull (${oneLine(error)}); trying again`;
        if (line !== failure) this.#o.log(line);
        failure = line;
        await sleep(500);
      }
    }
  }

  #receive(work: StreamWork, msg: JsMsg): void {
    if (work.closed || this.#stopped) return msg.nak();
    let index: number;
    try {
      index = headerInt(msg.headers, header.index, msg.subject);
    } catch (error) {
      this.#o.log(`${(error as Error).message}; dropped`);
      return msg.term();
    }
    work.lastReceived = performance.now();
    if (this.#o.shared) return this.#receiveShared(work, msg, index);
    work.next ??= index;
    if (index < work.next) {
      // Handed on already: a newer delivery of a frame still in the graph (ack that one), or one done already.
      if (work.taken.has(index)) work.taken.set(index, msg);
      else msg.ack();
      return;
    }
    const end = headerText(msg.headers, header.end);
    if (end !== undefined) work.end = { msg, count: Number(end) };
    else work.buffer.set(index, msg);
    this.#release(work);
  }

  /**
   * A frame of a shared stream goes to the graph at once, whatever its index. The end marker goes on to the results
   * at once too (the collector waits for the frames it counts); other workers may still be busy with frames of it.
   */
  #receiveShared(work: StreamWork, msg: JsMsg, index: number): void {
    const end = headerText(msg.headers, header.end);
    if (end === undefined) {
      const redelivered = work.taken.has(index); // a newer delivery of a frame in the graph: ack that one
      work.taken.set(index, msg);
      if (redelivered) return;
      this.#ready.push({ stream: work.stream, index, msg });
      return this.wake();
    }
    work.endSeen = true;
    this.#o.onEnd(work.stream, Number(end)).then(
      () => msg.ackAck().catch(() => false),
      (error) => {
        msg.nak();
        this.#o.log(`stream ${work.stream}: cannot publish its end (${oneLine(error)})`);
      },
    );
  }

  /**
   * Stops sharing streams that have no frames left on the server and none in this worker, once they are surely over:
   * this worker passed on the end marker, or nothing came for two AckWaits (a publisher may still be sending).
   */
  async idle(active: readonly string[]): Promise<void> {
    if (!this.#o.shared) return;
    const quiet = 2000 * this.#o.ackWaitS;
    for (const work of [...this.#streams.values()]) {
      if (active.includes(work.stream) || work.taken.size) continue;
      if (!work.endSeen && performance.now() - work.lastReceived < quiet) continue;
      await this.#close(work, false);
      this.#streams.delete(work.stream);
      this.#o.log(`stream ${work.stream}: nothing left to share`);
    }
  }

  /** Hands the buffered frames that are next in line to the graph. */
  #release(work: StreamWork): void {
    let released = false;
    for (let msg = work.buffer.get(work.next!); msg; msg = work.buffer.get(work.next!)) {
      work.buffer.delete(work.next!);
      work.taken.set(work.next!, msg);
      this.#ready.push({ stream: work.stream, index: work.next!, msg });
      work.next!++;
      released = true;
    }
    work.gapSince = work.buffer.size ? (work.gapSince ?? performance.now()) : undefined;
    if (released) this.wake();
    this.#checkEnd(work);
  }

  /**
   * Index of the first frame of `stream` the server holds (after stream sequence `afterSeq`; undefined when none);
   * throws when it cannot look. A stream's frames are published in index order, so sequence order is index order.
   */
  async #firstHeld(stream: string, afterSeq?: number): Promise<number | undefined> {
    const { jsm, names } = this.#o;
    const subject = names.frameSubject(stream);
    // A message without an index (not a publisher's) is removed, as #receive would, and the look goes on past it.
    for (let after = afterSeq, tries = 0; tries < 100; tries++) {
      const query = after === undefined ? { next_by_subj: subject } : { seq: after + 1, next_by_subj: subject };
      const first = await jsm.streams.getMessage(names.frames, query as never);
      if (!first) return undefined;
      try {
        return headerInt(first.header, header.index, first.subject);
      } catch (error) {
        this.#o.log(`${(error as Error).message}; removed`);
        await jsm.streams.deleteMessage(names.frames, first.seq).catch(() => false);
        after = first.seq;
      }
    }
    throw new Error(`stream ${stream}: no frame with an index among the first 100 messages`);
  }

  /**
   * Skips the gaps of pinned streams whose missing frames the server no longer holds (they were acked by a worker
   * that lost the lease while finishing them): the first frame still held is later than the one waited for.
   */
  async checkGaps(): Promise<void> {
    if (this.#o.shared) return;
    for (const work of [...this.#streams.values()]) {
      const waiting = () => work.gapSince !== undefined || (work.end !== undefined && work.next! < work.end.count);
      if (work.closed || work.next === undefined || !waiting()) continue;
      // Frames inside the graph here are still held (not acked yet): look past them.
      const taken = [...work.taken.values()].map((msg) => msg.seq);
      const after = taken.length ? Math.max(...taken) : undefined;
      const first = await this.#firstHeld(work.stream, after).catch(() => undefined);
      if (first === undefined || first <= work.next || work.closed || !waiting()) continue;
      this.#o.log(`stream ${work.stream}: frames ${work.next}..${first - 1} were done elsewhere; going on at ${first}`);
      work.next = first;
      this.#release(work);
    }
  }

  /** Acks a frame whose results are published. */
  done(stream: string, index: number): void {
    const draining = this.#draining.get(stream);
    const work = draining?.taken.has(index) ? draining : this.#streams.get(stream);
    const msg = work?.taken.get(index);
    if (!work || !msg) return;
    work.taken.delete(index);
    msg.ack();
    if (work === draining && work.taken.size === 0) this.#draining.delete(stream);
    const room = work.room;
    work.room = undefined;
    room?.();
    this.#checkEnd(work);
  }

  #checkEnd(work: StreamWork): void {
    if (this.#o.shared) return;
    const end = work.end;
    if (!end || work.next !== end.count || work.taken.size || work.closed) return;
    work.end = undefined;
    this.#o.onEnd(work.stream, end.count).then(
      async () => {
        // Confirmed before the consumer goes: an ack the server had not seen would leave the marker behind.
        await end.msg.ackAck().catch(() => false);
        this.#o.log(`stream ${work.stream} done (${end.count} frames)`);
        await this.#close(work, true);
      },
      (error) => {
        end.msg.nak();
        this.#o.log(`stream ${work.stream}: cannot publish its end (${oneLine(error)})`);
      },
    );
  }

  /** Stops pulling a stream: the frames not yet in the graph go back to the server. */
  async #close(work: StreamWork, finished: boolean): Promise<void> {
    if (work.closed) return;
    work.closed = true;
    for (const msg of work.buffer.values()) msg.nak();
    work.buffer.clear();
    work.end?.msg.nak();
    work.end = undefined;
    const queued = this.#ready.filter((r) => r.stream === work.stream);
    this.#ready = this.#ready.filter((r) => r.stream !== work.stream);
    for (const r of queued) {
      work.taken.delete(r.index);
      r.msg.nak();
    }
    work.room?.();
    await work.pulling;
    if (finished) {
      this.#streams.delete(work.stream);
      await this.#o.jsm.consumers.delete(this.#o.names.frames, this.#o.names.consumer(work.stream)).catch(() => {});
      await this.#o.leases.release(work.stream);
    }
  }

  /**
   * The lease on `stream` was lost: stop pulling it; frames inside the graph still finish and are acked then
   * (drained), kept alive meanwhile.
   */
  async lost(stream: string): Promise<void> {
    if (!this.#streams.has(stream)) return;
    this.#o.log(`lost the lease on stream ${stream}`);
    await this.#drain(stream);
  }

  /**
   * Hands a pinned stream over to whichever worker takes it next (this one holds more than its share): drains it
   * as a lost one and releases its lease at once; the taker starts at the first frame still on the server and skips
   * the ones acked here meanwhile ({@linkcode Feed.checkGaps}).
   */
  async handOver(stream: string): Promise<void> {
    if (!this.#streams.has(stream) || this.#o.shared) return;
    this.#o.log(`handing stream ${stream} over (this worker holds more than its share)`);
    await this.#drain(stream);
    await this.#o.leases.release(stream);
  }

  /** The pinned streams held longer than `ms`, the most recently taken first. */
  settled(ms: number): string[] {
    const now = performance.now();
    return [...this.#streams.values()].filter((w) => now - w.startedAt > ms && !w.closed).map((w) => w.stream)
      .reverse();
  }

  /** Stops pulling a stream and drains it: frames inside the graph are acked as they finish. */
  async #drain(stream: string): Promise<void> {
    const work = this.#streams.get(stream);
    if (!work) return;
    this.#streams.delete(stream);
    // Draining from now on (a frame done while the close runs is acked); an earlier drain of it keeps its frames.
    const earlier = this.#draining.get(stream);
    if (earlier) { for (const [index, msg] of earlier.taken) if (!work.taken.has(index)) work.taken.set(index, msg); }
    this.#draining.set(stream, work);
    await this.#close(work, false);
    if (work.taken.size === 0 && this.#draining.get(stream) === work) this.#draining.delete(stream);
  }

  /** Keeps every held message alive, and skips gaps that stayed open too long. */
  heartbeat(): void {
    const now = performance.now();
    for (const work of this.#draining.values()) for (const msg of work.taken.values()) msg.working();
    for (const work of this.#streams.values()) {
      for (const msg of work.taken.values()) msg.working();
      for (const msg of work.buffer.values()) msg.working();
      work.end?.msg.working();
      if (work.gapSince !== undefined && now - work.gapSince > 2000 * this.#o.ackWaitS) {
        const next = Math.min(...work.buffer.keys());
        this.#o.log(`stream ${work.stream}: frames ${work.next}..${next - 1} never came; skipped`);
        work.next = next;
        work.gapSince = undefined;
        this.#release(work);
      }
    }
  }

  /** Stops pulling every stream; the source ends once the graph has taken what it was given. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const work of [...this.#streams.values()]) await this.#close(work, false);
    this.wake();
  }

  /** Frames for the graph, decoded, until {@linkcode Feed.stop}. */
  async *frames(): AsyncGenerator<FrameInit> {
    while (true) {
      while (!this.#stopped && (this.#ready.length === 0 || this.publishing >= this.#o.maxPublishing)) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
      if (this.#stopped) return;
      const { stream, index, msg } = this.#ready.shift()!;
      let frame: FrameInit;
      try {
        const deliveries = msg.info.deliveryCount;
        if (deliveries > this.#o.maxDeliver) {
          throw new InputError(
            `stream ${stream} frame ${index}: delivered ${deliveries} times without a result (every worker that ` +
              `took it failed or stopped; --max-deliver ${this.#o.maxDeliver})`,
          );
        }
        frame = await decodeFrame(msg, stream, index);
      } catch (error) {
        this.#o.log(`${(error as Error).message}; published as an error`);
        await this.#o.onBad(stream, index, error as Error).then(
          () => this.done(stream, index),
          (e) => this.#o.log(`stream ${stream}: cannot publish the error of frame ${index} (${oneLine(e)})`),
        );
        continue;
      }
      yield frame;
    }
  }

  /** The `jetstream` source kind, reading this feed (`--input jetstream:NAME`). */
  source(): SourceDefinition {
    return jetstreamSource(() => this);
  }
}

/** How long one pull request waits for frames (ms): also the longest a close waits for the request in flight. */
const pullExpiresMs = 1000;

/** How long a shared stream's consumer outlives its last worker's pull: 5 minutes (JetStream counts in ns). */
const sharedIdleNs = 300e9;

/** The `jetstream` source kind over the feed `feed()` returns when the graph opens it. */
export function jetstreamSource(feed: () => Feed): SourceDefinition {
  return defineSource({
    kind: "jetstream",
    doc: "frames pulled from a JetStream stream by 'deno task worker' (jetstream:NAME)",
    params: { stream: { type: "string", default: "", doc: "jetstream:NAME" } },
    input: {
      param: "stream",
      accepts: (path) => path.startsWith("jetstream:"),
      layout: "jetstream:NAME (a worker's frames)",
    },
    open(p): Promise<FrameSource> {
      const opened = feed();
      return Promise.resolve({
        // Not live: frames wait on the server until pulled (MaxAckPending is the backpressure), so the engine's
        // lossless default applies; a live source's keep_latest would drop frames that were never acked.
        info: { name: p.stream, fps: 30, live: false, interleaved: opened.maxStreams },
        frames: () => opened.frames(),
        close: () => opened.stop(),
      });
    },
  }) as unknown as SourceDefinition;
}

/** A frame message as the graph's frame: JPEG decoded by sharp, or raw rgb24 checked against its size. */
async function decodeFrame(msg: JsMsg, stream: string, index: number): Promise<FrameInit> {
  const where = `stream ${stream} frame ${index}`;
  const width = headerInt(msg.headers, header.width, where);
  const height = headerInt(msg.headers, header.height, where);
  const format = headerText(msg.headers, header.format) ?? "jpeg";
  let data: Uint8Array;
  if (format === "raw") {
    if (msg.data.length !== width * height * 3) {
      throw new InputError(`${where}: ${msg.data.length} bytes of rgb24, expected ${width}x${height}x3`);
    }
    data = msg.data.slice();
  } else if (format === "jpeg") {
    try {
      const { data: pixels, info } = await sharp(msg.data).removeAlpha().toColourspace("srgb").raw()
        .toBuffer({ resolveWithObject: true });
      if (info.width !== width || info.height !== height || info.channels !== 3) throw new Error("size mismatch");
      data = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
    } catch (error) {
      throw new InputError(`${where}: not a ${width}x${height} JPEG (${oneLine(error)})`);
    }
  } else {
    throw new InputError(`${where}: unknown ${header.format} '${format}'`);
  }
  const timestamp = Number(headerText(msg.headers, header.timestamp) ?? index / 30);
  const name = headerText(msg.headers, header.name);
  const restart = headerText(msg.headers, header.restart) === "1";
  return {
    index,
    timestamp,
    image: { width, height, data },
    sequence: stream,
    ...(name ? { name } : {}),
    ...(restart ? { restart } : {}),
  };
}
