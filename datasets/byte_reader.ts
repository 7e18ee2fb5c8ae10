/**
 * Exact-size reads from a byte stream (stdin, an ffmpeg pipe): the stream is read only as fast as frames
 * are pulled, so a stalled graph stalls the producer through the pipe instead of buffering in memory.
 *
 * @module
 */
import { concatBytes } from "../engine/bytes.ts";

/** Reads a `ReadableStream<Uint8Array>` in exact-size pieces. */
export class ByteReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Uint8Array = new Uint8Array(0);
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const { value, done } = await this.#reader.read();
    if (done) {
      this.#done = true;
      return false;
    }
    this.#pending = this.#pending.length === 0 ? value : concatBytes([this.#pending, value]);
    return true;
  }

  /**
   * Reads exactly `size` bytes into a new array. Returns the bytes read so far (shorter) at end of stream,
   * or `null` if the stream ended before any byte.
   */
  async read(size: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      if (this.#pending.length === 0 && !(await this.#fill())) break;
      const take = Math.min(size - filled, this.#pending.length);
      out.set(this.#pending.subarray(0, take), filled);
      this.#pending = this.#pending.subarray(take);
      filled += take;
    }
    if (filled === 0 && size > 0) return null;
    return filled === size ? out : out.subarray(0, filled);
  }

  /**
   * Reads up to and excluding the next `\n` (at most `limit` bytes), as text; `null` at end of stream.
   *
   * @throws {RangeError} if no newline comes within `limit` bytes.
   */
  async readLine(limit = 4096): Promise<string | null> {
    for (;;) {
      const newline = this.#pending.indexOf(10);
      if (newline >= 0) {
        const line = new TextDecoder().decode(this.#pending.subarray(0, newline));
        this.#pending = this.#pending.subarray(newline + 1);
        return line;
      }
      if (this.#pending.length > limit) throw new RangeError(`no line end within ${limit} bytes`);
      if (!(await this.#fill())) {
        if (this.#pending.length === 0) return null;
        const rest = new TextDecoder().decode(this.#pending);
        this.#pending = new Uint8Array(0);
        return rest;
      }
    }
  }

  /** Stops reading and releases the stream. */
  async cancel(): Promise<void> {
    this.#done = true;
    await this.#reader.cancel().catch(() => {});
  }
}
