/**
 * Watching a decoding ffmpeg for damage. The decoder runs with `-v error`, so every stderr line is a
 * complaint; the container's (demuxer's) lines say the file ends early or a packet was cut (those
 * packets are dropped, the frames before them are intact), a codec's lines say frames are being
 * concealed from here on. Together with the container's declared frame count this tells a damaged or
 * truncated video from a good one.
 *
 * @module
 */

/** Most distinct complaints kept (the count goes on). */
const maxComplaints = 8;

/** Collects a decoding ffmpeg's complaints, bounded. */
export class DecodeWatch {
  /** Distinct complaints (prefixes stripped), at most 8. */
  readonly complaints: string[] = [];
  /** Every complaint line seen. */
  count = 0;
  /** A codec (not the container) complained: frames from about here on may be concealed garbage. */
  codecComplained = false;
  /** Frames delivered when the first codec complaint arrived: the frames before it are intact. */
  damagedFrom: number | undefined;
  /** Resolves when stderr closes. */
  readonly done: Promise<void>;
  readonly #path: string;
  readonly #format: string;
  readonly #position: () => number;

  /**
   * @param stderr the decoder's stderr.
   * @param path the input as given to ffmpeg (stripped from its `path: ...` lines).
   * @param format ffmpeg's name of the container format, which prefixes the demuxer's lines.
   * @param position frames delivered so far (read when a codec first complains).
   */
  constructor(stderr: ReadableStream<Uint8Array>, path: string, format: string, position: () => number = () => 0) {
    this.#path = path;
    this.#format = format;
    this.#position = position;
    this.done = this.#read(stderr);
  }

  async #read(stderr: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stderr) {
      const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
      partial = lines.pop() ?? "";
      // A line that never ends (binary noise) must not grow without bound.
      if (partial.length > 4096) partial = partial.slice(0, 4096);
      for (const line of lines) this.#add(line);
    }
    this.#add(partial);
  }

  #add(raw: string): void {
    const line = raw.trim();
    if (!line) return;
    this.count++;
    const prefix = line.match(/^\[([^\]@]+?) @ 0x[0-9a-f]+\] /);
    let text = prefix ? line.slice(prefix[0].length) : line;
    if (text.startsWith(`${this.#path}: `)) text = text.slice(this.#path.length + 2);
    const fromContainer = prefix ? prefix[1] === this.#format : !/^Error while decoding/i.test(line);
    if (!fromContainer && !this.codecComplained) {
      this.codecComplained = true;
      this.damagedFrom = this.#position();
    }
    // Codec lines keep the codec's name: `h264: Invalid NAL unit size (3272 > 1725).`
    if (prefix && !fromContainer) text = `${prefix[1]}: ${text}`;
    text = text.slice(0, 160);
    if (this.complaints.length < maxComplaints && !this.complaints.includes(text)) this.complaints.push(text);
  }

  /** The first complaints for a one-line message, e.g. `h264: error while decoding MB 15 10; ... (6 messages)`. */
  summary(): string {
    if (this.count === 0) return "";
    const shown = this.complaints.slice(0, 2).join("; ");
    return this.count > 2 ? `${shown} (${this.count} messages)` : shown;
  }
}

/** Frames a declared count may be off by (rate rounding): 2 frames or 2%, whichever is more. */
export function frameCountTolerance(declared: number): number {
  return Math.max(2, Math.ceil(declared * 0.02));
}

/**
 * The one-line damage report of a video, or `undefined` when it decoded whole.
 *
 * @param good frames delivered (all intact unless `allow_partial` let concealed ones through).
 * @param declared the container's frame count, if it states one.
 * @param failure why ffmpeg failed (`exit code 1`), or a partial last frame; not set when it exited cleanly.
 * @example
 * ```ts
 * damageReport("in.mp4", 37, 120, watch); // "in.mp4: damaged or truncated video: decoded 37 of 120 declared frames (last good frame 36; ffmpeg: ...)"
 * ```
 */
export function damageReport(
  path: string,
  good: number,
  declared: number | undefined,
  watch: DecodeWatch,
  failure?: string,
): string | undefined {
  const short = declared !== undefined && good < declared - frameCountTolerance(declared);
  if (!short && watch.count === 0 && !failure) return undefined;
  const decoded = declared !== undefined ? `decoded ${good} of ${declared} declared frames` : `decoded ${good} frames`;
  const intact = Math.min(good, watch.damagedFrom ?? good);
  const last = intact > 0 ? `last good frame ${intact - 1}` : "no good frame";
  const said = watch.summary() || failure;
  return `${path}: damaged or truncated video: ${decoded} (${last}${said ? `; ffmpeg: ${said}` : ""})`;
}
