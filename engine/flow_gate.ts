/**
 * Credit-based flow control between a source and a graph. A frame needs a credit to enter; the credit
 * returns when the frame leaves the last sink (or the run fails). At most `maxInFlight` frames are inside
 * the graph, so memory stays flat however long the stream and however slow the consumer. RxJS has no
 * backpressure of its own; this gate is it.
 *
 * @module
 */

/** What happens to a frame that arrives while every credit is taken. */
export type OverflowPolicy = "block" | "drop_oldest" | "keep_latest" | "fail";

/** The policy names, for validation. */
export const overflowPolicies: readonly OverflowPolicy[] = ["block", "drop_oldest", "keep_latest", "fail"];

/** Gate settings. */
export interface FlowGateOptions<T> {
  maxInFlight: number;
  policy: OverflowPolicy;
  /** Frames held waiting under `drop_oldest` (default `maxInFlight`); `keep_latest` always holds one. */
  queueSize?: number;
  /** Pushes an admitted item into the graph. */
  admit: (item: T) => void;
  /** Called for each item dropped by the policy. */
  onDrop?: (item: T) => void;
}

/**
 * The credit gate.
 *
 * - `block`: `offer` waits for a credit, so the source is not pulled: lossless.
 * - `drop_oldest`: waiting frames queue up to `queueSize`; when full, the oldest waiting one is dropped.
 * - `keep_latest`: one waiting place; a newer frame replaces the waiting one (MediaPipe's flow limiter).
 * - `fail`: a frame arriving with no credit free fails the run.
 */
export class FlowGate<T> {
  readonly #options: FlowGateOptions<T>;
  readonly #waiting: T[] = [];
  readonly #queueSize: number;
  #inFlight = 0;
  #peak = 0;
  #dropped = 0;
  #admitted = 0;
  #wake: (() => void) | undefined;
  #drained: (() => void) | undefined;
  #closedWith: Error | undefined;

  constructor(options: FlowGateOptions<T>) {
    if (!Number.isInteger(options.maxInFlight) || options.maxInFlight < 1) {
      throw new RangeError(`'max_in_flight' must be a positive integer, got ${options.maxInFlight}`);
    }
    this.#options = options;
    this.#queueSize = options.policy === "keep_latest" ? 1 : Math.max(1, options.queueSize ?? options.maxInFlight);
  }

  /** Frames inside the graph now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Most frames ever inside the graph at once. */
  get peakInFlight(): number {
    return this.#peak;
  }

  /** Frames dropped by the overflow policy. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Frames waiting for a credit now (the queue of `drop_oldest` and `keep_latest`). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Frames admitted so far. */
  get admitted(): number {
    return this.#admitted;
  }

  /**
   * Offers one item from the source. Resolves when the source may produce the next one.
   *
   * @throws {Error} under policy `fail` when no credit is free, or when the gate was closed.
   */
  async offer(item: T): Promise<void> {
    if (this.#closedWith) throw this.#closedWith;
    const { policy, maxInFlight } = this.#options;
    if (this.#inFlight < maxInFlight && this.#waiting.length === 0) {
      this.#admit(item);
      return;
    }
    switch (policy) {
      case "block":
        while (this.#inFlight >= maxInFlight) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          if (this.#closedWith) throw this.#closedWith;
        }
        this.#admit(item);
        return;
      case "fail":
        throw new RangeError(
          `frames arrive faster than the graph processes them: ${maxInFlight} already in flight ` +
            `(overflow policy 'fail'; raise 'max_in_flight' or choose 'block', 'drop_oldest' or 'keep_latest')`,
        );
      case "drop_oldest":
      case "keep_latest":
        this.#waiting.push(item);
        while (this.#waiting.length > this.#queueSize) this.#drop(this.#waiting.shift() as T);
        return;
    }
  }

  /** Returns one credit: a frame left the graph. Admits a waiting frame, or wakes a blocked source. */
  release(): void {
    if (this.#inFlight <= 0) throw new Error("Internal error: credit released twice");
    this.#inFlight--;
    if (this.#closedWith) return;
    const next = this.#waiting.shift();
    if (next !== undefined) this.#admit(next);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    if (this.#waiting.length === 0) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained?.();
    }
  }

  /** Resolves once no frame is waiting for a credit (all waiting frames were admitted). */
  drain(): Promise<void> {
    if (this.#waiting.length === 0 || this.#closedWith) return Promise.resolve();
    return new Promise((resolve) => (this.#drained = resolve));
  }

  /** Stops admitting; a blocked `offer` rejects with `reason`; waiting frames count as dropped. */
  close(reason: Error): void {
    this.#closedWith ??= reason;
    for (const item of this.#waiting.splice(0)) this.#drop(item);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    this.#drained?.();
  }

  #admit(item: T): void {
    this.#inFlight++;
    this.#admitted++;
    if (this.#inFlight > this.#peak) this.#peak = this.#inFlight;
    this.#options.admit(item);
  }

  #drop(item: T): void {
    this.#dropped++;
    this.#options.onDrop?.(item);
  }
}
