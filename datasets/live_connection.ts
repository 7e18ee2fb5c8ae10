/**
 * One connection of a live source: an ffmpeg that reads a URL or a V4L2 device and writes raw rgb24 frames
 * on a pipe. The frame size comes from ffmpeg's own banner (the output stream line, printed just before the
 * first frame), so no second connection is needed to probe the stream; a size given by the caller is forced
 * with a scale filter. Reads wait at most a given time (a stalled stream ends the connection); stderr is kept
 * to its last few error lines (warnings such as "deprecated pixel format" are not complaints); closing stops
 * ffmpeg with SIGTERM (so an RTSP server gets its TEARDOWN), then SIGKILL.
 *
 * @module
 */
import { ByteReader } from "./byte_reader.ts";

/** What to open and how. */
export interface LiveTarget {
  /** The URL or device path as ffmpeg gets it. */
  url: string;
  /** A V4L2 device (`-f v4l2`). */
  device: boolean;
  /** RTSP lower transport (`-rtsp_transport`): `tcp` (default) or `udp`. */
  rtspTransport?: string;
  /** V4L2 pixel format to ask the device for (`-input_format mjpeg`). */
  inputFormat?: string;
  /** Frame size to scale to (and, for a device, to ask for). */
  size?: { width: number; height: number };
  /** Frame rate to ask a device for. */
  fps?: number;
}

/** What ffmpeg's banner says about the frames it writes. */
export interface LiveBanner {
  width: number;
  height: number;
  fps?: number;
}

/** The outcome of one read: a frame, or why the connection ended. */
export type LiveRead =
  | { frame: Uint8Array; banner: LiveBanner }
  | { end: string; clean: boolean };

/**
 * ffmpeg's arguments for `target`: quiet except for the banner and complaints (`-v level+info`, each line
 * tagged with its level), low-latency input flags, the first video stream only, rgb24 on stdout.
 */
export function liveArgs(target: LiveTarget): string[] {
  // No input buffering for cameras and packet streams (latency); HLS in the bundled ffmpeg 4.1 yields no frame at
  // all with +nobuffer, so HTTP inputs (HLS, MJPEG, TS over HTTP) keep the demuxer's buffering.
  const http = /^https?:/i.test(target.url) && !target.device;
  const args = ["-hide_banner", "-nostats", "-nostdin", "-v", "level+info"];
  args.push("-fflags", http ? "+discardcorrupt" : "+nobuffer+discardcorrupt");
  if (target.device) {
    args.push("-f", "v4l2");
    if (target.inputFormat) args.push("-input_format", target.inputFormat);
    if (target.size) args.push("-video_size", `${target.size.width}x${target.size.height}`);
    if (target.fps) args.push("-framerate", String(target.fps));
  } else if (/^rtsps?:/i.test(target.url)) {
    args.push("-rtsp_transport", target.rtspTransport ?? "tcp");
  }
  args.push("-i", target.url, "-map", "0:v:0");
  if (target.size) args.push("-vf", `scale=${target.size.width}:${target.size.height}`);
  args.push("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1");
  return args;
}

/**
 * A URL without its password (`rtsp://admin:***@10.0.0.5/...`), for messages and stream names.
 *
 * @example
 * ```ts
 * redactUrl("rtsp://admin:secret@cam/live"); // "rtsp://admin:***@cam/live"
 * ```
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^/@]*@/i, "$1:***@");
}

/** Running ffmpegs, killed if the process exits while one still runs (they are in their own process group). */
const running = new Set<Deno.ChildProcess>();
let unloadHooked = false;

function track(child: Deno.ChildProcess): void {
  running.add(child);
  if (unloadHooked) return;
  unloadHooked = true;
  globalThis.addEventListener("unload", () => {
    for (const process of running) {
      try {
        process.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
  });
}

/** Most complaint lines kept. */
const maxComplaints = 3;

/** One ffmpeg reading a live input. */
export class LiveConnection {
  /** Frames read on this connection. */
  delivered = 0;
  readonly #child: Deno.ChildProcess;
  readonly #reader: ByteReader;
  readonly #target: LiveTarget;
  readonly #complaints: string[] = [];
  readonly #stderrDone: Promise<void>;
  readonly #banner: Promise<LiveBanner | undefined>;
  #status: Deno.CommandStatus | undefined;
  #closed = false;

  /**
   * Starts ffmpeg at `ffmpegPath` on `target`.
   *
   * @throws {Error} when the program cannot be started.
   */
  constructor(ffmpegPath: string, target: LiveTarget) {
    this.#target = target;
    this.#child = new Deno.Command(ffmpegPath, {
      args: liveArgs(target),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    track(this.#child);
    this.#child.status.then((status) => (this.#status = status), () => {});
    this.#reader = new ByteReader(this.#child.stdout);
    let found: (banner: LiveBanner | undefined) => void = () => {};
    this.#banner = new Promise((resolve) => (found = resolve));
    this.#stderrDone = this.#readStderr(found);
  }

  /** Why ffmpeg gave up, from its last complaints (`Connection refused`), or `""`. */
  get complaint(): string {
    return this.#complaints.join("; ");
  }

  async #readStderr(found: (banner: LiveBanner | undefined) => void): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    let inOutput = false;
    const line = (raw: string) => {
      const text = raw.trim();
      if (/\[(error|fatal|panic)\] /.test(text)) this.#complain(text);
      else if (/\] Output #0, /.test(text) || text.startsWith("Output #0, ")) inOutput = true;
      else if (inOutput && / Stream #\d+:\d+.*: Video: /.test(text)) {
        inOutput = false;
        const size = text.match(/, (\d{1,6})x(\d{1,6})[ ,[]/);
        const fps = Number(text.match(/, ([\d.]+) fps/)?.[1] ?? text.match(/, ([\d.]+) tbr/)?.[1]);
        if (size) found({ width: Number(size[1]), height: Number(size[2]), ...(fps > 0 ? { fps } : {}) });
      }
    };
    try {
      for await (const chunk of this.#child.stderr) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
        partial = (lines.pop() ?? "").slice(-4096);
        for (const text of lines) line(text);
      }
      line(partial);
    } catch {
      // The pipe broke with the process: what was read is kept.
    }
    found(undefined);
  }

  #complain(text: string): void {
    let said = text.replace(/^(\[[^\]]* @ 0x[0-9a-f]+\] )?\[\w+\] /, "");
    if (said.startsWith(`${this.#target.url}: `)) said = said.slice(this.#target.url.length + 2);
    said = redactUrl(said.split(this.#target.url).join(redactUrl(this.#target.url))).slice(0, 160);
    if (this.#complaints.includes(said)) return;
    this.#complaints.push(said);
    if (this.#complaints.length > maxComplaints) this.#complaints.shift();
  }

  /**
   * The next frame, waiting at most `timeoutMs` for it (and for the banner before the first one); or why the
   * connection ended: ffmpeg exited (`clean` when with code 0), the stream stalled, or `signal` aborted.
   */
  async read(timeoutMs: number, signal: AbortSignal): Promise<LiveRead> {
    const deadline = performance.now() + timeoutMs;
    const banner = await within(this.#banner, timeoutMs, signal);
    if (banner === aborted) return { end: "closed", clean: true };
    if (banner === timedOut) return { end: `no frame within ${seconds(timeoutMs)} s`, clean: false };
    if (banner === undefined) return await this.#ended("ffmpeg exited before the first frame");
    const size = this.#target.size ?? banner;
    const frameBytes = size.width * size.height * 3;
    const data = await within(this.#reader.read(frameBytes), Math.max(0, deadline - performance.now()), signal);
    if (data === aborted) return { end: "closed", clean: true };
    if (data === timedOut) return { end: `stalled: no frame for ${seconds(timeoutMs)} s`, clean: false };
    if (data === null) return await this.#ended("the stream ended");
    if (data.length < frameBytes) return await this.#ended(`the stream was cut mid-frame`);
    this.delivered++;
    return { frame: data, banner: { ...banner, ...size } };
  }

  /** The end of a connection whose output closed: ffmpeg's exit code and complaints. */
  async #ended(what: string): Promise<LiveRead> {
    const status = await within(this.#child.status, 2000, new AbortController().signal);
    await within(this.#stderrDone, 500, new AbortController().signal);
    const code = typeof status === "object" ? status.code : undefined;
    const clean = code === 0 && this.#complaints.length === 0;
    const why = this.complaint || (code === undefined || code === 0 ? "" : `exit code ${code}`);
    return { end: why ? `${what} (ffmpeg: ${why})` : what, clean };
  }

  /** Stops ffmpeg (SIGTERM, again after 0.1 s, then SIGKILL after a second) and releases its pipes. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const stop = (signal: Deno.Signal) => {
      if (this.#status) return;
      try {
        this.#child.kill(signal);
      } catch {
        // Already exited.
      }
    };
    stop("SIGTERM");
    await this.#reader.cancel();
    // ffmpeg blocked in a network read only gives up at its second signal (the first ends it between packets).
    const never = new AbortController().signal;
    if (await within(this.#child.status, 100, never) === timedOut) stop("SIGTERM");
    if (await within(this.#child.status, 1000, never) === timedOut) stop("SIGKILL");
    await this.#child.status.catch(() => {});
    running.delete(this.#child);
    await this.#stderrDone;
  }
}

const timedOut = Symbol("timed out");
const aborted = Symbol("aborted");

/** `promise`'s value, or {@linkcode timedOut} after `ms`, or {@linkcode aborted} when `signal` aborts first. */
function within<T>(
  promise: Promise<T>,
  ms: number,
  signal: AbortSignal,
): Promise<T | typeof timedOut | typeof aborted> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.resolve(aborted);
  }
  return new Promise((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      finish();
      resolve(aborted);
    };
    const timer = setTimeout(() => {
      finish();
      resolve(timedOut);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      finish();
      resolve(value);
    }, (error) => {
      finish();
      reject(error);
    });
  });
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
