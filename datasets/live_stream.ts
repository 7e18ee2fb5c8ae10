/**
 * A live stream that survives drops: one {@linkcode LiveConnection} at a time, restarted with exponential
 * back-off when ffmpeg exits or no frame comes for `stallMs`. The frames form one stream: indices go on across
 * reconnects, timestamps are wall-clock seconds since the first frame (so an outage shows as a gap), and every
 * reconnect after the first frame uses the first connection's frame size. Nothing is buffered beyond the frame
 * being read (and ffmpeg's pipe).
 *
 * @module
 */
import { InputError } from "../engine/errors.ts";
import type { FrameInit } from "../engine/frame.ts";
import { Backoff, sleepUnlessAborted } from "./backoff.ts";
import { type LiveBanner, LiveConnection, type LiveRead, type LiveTarget } from "./live_connection.ts";

/** How a live stream connects and reconnects. */
export interface LiveStreamOptions {
  /** The ffmpeg to run. */
  ffmpeg: string;
  target: LiveTarget;
  /** The input as messages name it (the URL without its password). */
  shown: string;
  /** No frame for this long ends a connection; a connection's first frame may take twice as long. */
  stallMs: number;
  /** Tries for the first connection before opening fails. */
  connectAttempts: number;
  /** Reconnect attempts without a frame after a drop before the stream fails (`Infinity`: never; 0: no reconnect). */
  reconnect: number;
  backoffMs: number;
  backoffMaxMs: number;
  /** One-line warnings (a drop, a reconnect). */
  warn: (message: string) => void;
}

/** An open live stream. */
export class LiveStream {
  readonly #options: LiveStreamOptions;
  readonly #abort = new AbortController();
  readonly #backoff: Backoff;
  #target: LiveTarget;
  #connection: LiveConnection | undefined;
  #first: LiveRead | undefined;
  #banner: LiveBanner = { width: 0, height: 0 };

  private constructor(options: LiveStreamOptions) {
    this.#options = options;
    this.#target = options.target;
    this.#backoff = new Backoff(options.backoffMs, options.backoffMaxMs);
  }

  /**
   * Connects (up to `connectAttempts` tries, with back-off) and reads the first frame, which gives the size.
   *
   * @throws {InputError} naming the input when no try gave a frame:
   * `http://cam/video: cannot connect: ffmpeg exited before the first frame (ffmpeg: Connection refused) (3 attempts)`.
   */
  static async open(options: LiveStreamOptions): Promise<LiveStream> {
    const stream = new LiveStream(options);
    const { connectAttempts: attempts, shown, warn } = options;
    let why = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const result = await stream.#connect();
      if ("frame" in result) {
        stream.#first = result;
        stream.#banner = result.banner;
        // Reconnects keep the stream's size, whatever the camera comes back with.
        stream.#target = { ...stream.#target, size: { width: result.banner.width, height: result.banner.height } };
        stream.#backoff.reset();
        return stream;
      }
      await stream.#drop();
      why = result.end;
      if (attempt === attempts) break;
      const delay = stream.#backoff.next();
      warn(`${shown}: cannot connect (${why}); retrying in ${seconds(delay)} s (attempt ${attempt} of ${attempts})`);
      await sleepUnlessAborted(delay, stream.#abort.signal);
    }
    throw new InputError(`${shown}: cannot connect: ${why} (${attempts} attempt${attempts === 1 ? "" : "s"})`);
  }

  /** The frame size and rate the first connection gave. */
  get banner(): LiveBanner {
    return this.#banner;
  }

  /** Starts a connection and waits for its first frame. */
  async #connect(): Promise<LiveRead> {
    try {
      this.#connection = new LiveConnection(this.#options.ffmpeg, this.#target);
    } catch (error) {
      return { end: `cannot start ffmpeg (${(error as Error).message})`, clean: false };
    }
    return await this.#connection.read(2 * this.#options.stallMs, this.#abort.signal);
  }

  async #drop(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.close();
  }

  /**
   * The frames, reconnecting after drops. Ends when closed; throws when the attempts are spent:
   * `rtsp://cam/live: stream lost after frame 812: no frame after 5 reconnect attempts (last: ...)`.
   */
  async *frames(): AsyncGenerator<FrameInit> {
    const { shown, warn, reconnect, stallMs } = this.#options;
    const signal = this.#abort.signal;
    let index = 0;
    let startMs: number | undefined;
    // Attempts since the stream dropped that gave no frame; `lostMs` is when it dropped (undefined while up).
    let failures = 0;
    let lostMs: number | undefined;
    let pending = this.#first;
    this.#first = undefined;
    try {
      for (;;) {
        const connection = this.#connection;
        let result: LiveRead;
        if (pending) result = pending;
        else if (connection) result = await connection.read(connection.delivered ? stallMs : 2 * stallMs, signal);
        else result = await this.#connect();
        pending = undefined;
        if (signal.aborted) return;
        if ("frame" in result) {
          const now = performance.now();
          const restart = lostMs !== undefined;
          if (lostMs !== undefined) {
            const attempts = `${failures + 1} attempt${failures ? "s" : ""}`;
            warn(
              `${shown}: reconnected after ${attempts} (${
                seconds(now - lostMs)
              } s without frames); next frame ${index}`,
            );
            lostMs = undefined;
          }
          failures = 0;
          this.#backoff.reset();
          startMs ??= now;
          const { width, height } = this.#banner;
          const image = { width, height, data: result.frame };
          yield { index: index++, timestamp: (now - startMs) / 1000, image, ...(restart ? { restart } : {}) };
          continue;
        }
        await this.#drop();
        if (signal.aborted) return;
        const last = index > 0 ? `after frame ${index - 1}` : "before its first frame";
        if (lostMs === undefined) {
          if (reconnect === 0) {
            if (result.clean) return;
            throw new InputError(`${shown}: stream lost ${last}: ${result.end} (reconnect is 0)`);
          }
          lostMs = performance.now();
          warn(`${shown}: stream dropped ${last} (${result.end}); reconnecting`);
        } else {
          failures++;
          if (failures >= reconnect) {
            const attempts = `${failures} reconnect attempt${failures === 1 ? "" : "s"}`;
            throw new InputError(`${shown}: stream lost ${last}: no frame after ${attempts} (last: ${result.end})`);
          }
          // Attempts 1, 2, 4, 8...: a camera down all night does not flood the log.
          if ((failures & (failures - 1)) === 0) {
            warn(`${shown}: still reconnecting (attempt ${failures}: ${result.end})`);
          }
        }
        if (!await sleepUnlessAborted(this.#backoff.next(), signal)) return;
      }
    } finally {
      await this.#drop();
    }
  }

  /** Ends the stream: a pending read or back-off returns at once, ffmpeg is stopped. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#drop();
  }
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
