/**
 * Per-stream state kept by a stage itself. Frames of several streams may interleave (the regions of a frame
 * are streams of their own, `<stream>#r<i>`), so a stage keeps one state per stream, created on the
 * stream's first frame. The most recently used `limit` streams are kept, so an endless run over many
 * sequences stays bounded.
 *
 * A stage kind that declares its `state` (`StageDefinition.state`) gets all of this from the engine instead, with
 * one frame per stream at a time and feedback edges: `perStream` in `engine/stage_state.ts`. These classes are for
 * stages with state of another shape (a pipelined stage's result handed to the next frame).
 *
 * @module
 */
import { noteAway } from "./work_time.ts";

/** A bounded map from stream name to state, least recently used evicted first. */
export class StreamState<T> {
  readonly #states = new Map<string, T>();

  /** `evict` is told about each state dropped (least recently used, or by {@linkcode clear}): release what it holds. */
  constructor(
    private readonly create: (stream: string) => T,
    private readonly limit = 64,
    private readonly evict?: (state: T) => void,
  ) {}

  #evictOldest(): void {
    const oldest = this.#states.keys().next().value!;
    const state = this.#states.get(oldest)!;
    this.#states.delete(oldest);
    this.evict?.(state);
  }

  /** Drops every stream's state (at close), telling `evict` about each. */
  clear(): void {
    const states = [...this.#states.values()];
    this.#states.clear();
    for (const state of states) this.evict?.(state);
  }

  /** The stream's state, created on first use. */
  get(stream: string): T {
    let state = this.#states.get(stream);
    if (state === undefined) {
      state = this.create(stream);
      if (this.#states.size >= this.limit) this.#evictOldest();
    } else {
      this.#states.delete(stream);
    }
    this.#states.set(stream, state);
    return state;
  }

  /** Whether the stream has state (it has been seen and not evicted). */
  has(stream: string): boolean {
    return this.#states.has(stream);
  }

  /** Replaces the stream's state. */
  set(stream: string, state: T): void {
    const old = this.#states.get(stream);
    this.#states.delete(stream);
    if (old !== undefined && old !== state) this.evict?.(old);
    if (this.#states.size >= this.limit) this.#evictOldest();
    this.#states.set(stream, state);
  }

  /** Number of streams held. */
  get size(): number {
    return this.#states.size;
  }
}

/**
 * Runs work for one stream at a time, in call order, while different streams run concurrently: stateful
 * stages use it with a `perFrame` concurrency above 1, so the regions of a frame (streams of their own)
 * keep the worker busy while each region's state still advances frame by frame.
 */
export class StreamQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `work` after the stream's earlier work has settled. */
  run<T>(stream: string, work: () => Promise<T> | T): Promise<T> {
    const previous = this.#tails.get(stream) ?? Promise.resolve();
    // The time until the stream's earlier work settles is a wait, not this call's work.
    const queuedAt = performance.now();
    const start = () => {
      noteAway(performance.now() - queuedAt);
      return work();
    };
    const result = previous.then(start, start);
    const tail = result.then(() => {}, () => {});
    this.#tails.set(stream, tail);
    // Forget settled streams so the map stays bounded on endless runs over many sequences.
    void tail.then(() => {
      if (this.#tails.get(stream) === tail) this.#tails.delete(stream);
    });
    return result;
  }
}
