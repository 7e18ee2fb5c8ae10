/**
 * `--trace FILE.json`: Chrome trace events (open in Perfetto or chrome://tracing). Events are written to
 * the file as they happen, in batches, so an endless run does not hold its trace in memory.
 *
 * @module
 */
import { type AtomicFileSync, openAtomicSync } from "./atomic_write.ts";
import { InputError } from "./errors.ts";

/** A failed trace write as an error naming the file. */
function traceWriteError(path: string, error: unknown): InputError {
  return new InputError(`--trace ${path}: cannot write there (${(error as Error).message})`, { cause: error });
}

/** One complete ("X") event. */
export interface TraceSpan {
  name: string;
  category: string;
  /** Start and end on the engine clock (ms, `performance.now()` of the main thread). */
  startMs: number;
  endMs: number;
  /** Track: 0 = frames, stage tracks, worker tracks. */
  track: string;
  args?: Record<string, unknown>;
}

/** Streams trace events into a JSON array file. */
export class TraceWriter {
  readonly #file: Deno.FsFile;
  readonly #atomic: AtomicFileSync;
  readonly #encoder = new TextEncoder();
  readonly #tracks = new Map<string, number>();
  #batch: string[] = [];
  #first = true;
  #closed = false;
  /** A write failed (a full disk): the file is incomplete and is removed at close. */
  #broken = false;
  readonly #path: string;

  private constructor(atomic: AtomicFileSync, path: string) {
    this.#file = atomic.file;
    this.#atomic = atomic;
    this.#path = path;
  }

  /**
   * Opens the trace under a temporary name next to `path`; {@linkcode TraceWriter.close} renames it into
   * place, so `path` only ever holds a complete JSON array.
   */
  static open(path: string): Promise<TraceWriter> {
    let atomic: AtomicFileSync;
    try {
      atomic = openAtomicSync(path);
    } catch (error) {
      throw traceWriteError(path, error);
    }
    try {
      atomic.file.writeSync(new TextEncoder().encode("[\n"));
    } catch (error) {
      atomic.discard();
      throw traceWriteError(path, error);
    }
    return Promise.resolve(new TraceWriter(atomic, path));
  }

  #tid(track: string): number {
    let tid = this.#tracks.get(track);
    if (tid === undefined) {
      tid = this.#tracks.size + 1;
      this.#tracks.set(track, tid);
      this.#push({ name: "thread_name", ph: "M", pid: 1, tid, args: { name: track } });
      this.#push({ name: "thread_sort_index", ph: "M", pid: 1, tid, args: { sort_index: tid } });
    }
    return tid;
  }

  #push(event: Record<string, unknown>): void {
    this.#batch.push((this.#first ? "" : ",\n") + JSON.stringify(event));
    this.#first = false;
    if (this.#batch.length >= 512) this.flush();
  }

  /** Adds one span. */
  span(span: TraceSpan): void {
    if (this.#closed) return;
    this.#push({
      name: span.name,
      cat: span.category,
      ph: "X",
      pid: 1,
      tid: this.#tid(span.track),
      ts: Math.round(span.startMs * 1000),
      dur: Math.max(0, Math.round((span.endMs - span.startMs) * 1000)),
      ...(span.args ? { args: span.args } : {}),
    });
  }

  /** Writes buffered events to the file. */
  flush(): void {
    if (this.#batch.length === 0) return;
    const text = this.#batch.join("");
    this.#batch = [];
    const bytes = this.#encoder.encode(text);
    let written = 0;
    try {
      while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
    } catch (error) {
      this.#broken = true;
      throw traceWriteError(this.#path, error);
    }
  }

  /** Flushes, closes the JSON array and renames the file into place; after a failed write, removes it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#broken) return this.#atomic.discard();
    try {
      this.flush();
      this.#file.writeSync(this.#encoder.encode("\n]\n"));
    } catch (error) {
      this.#atomic.discard();
      throw error instanceof InputError ? error : traceWriteError(this.#path, error);
    }
    this.#atomic.commit();
  }
}
