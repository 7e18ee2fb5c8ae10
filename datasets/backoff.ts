/**
 * Exponential back-off for reconnecting live sources, and a sleep that an abort cuts short.
 *
 * @module
 */

/** Delays that double from `initialMs` up to `maxMs`; {@linkcode Backoff.reset} starts over (after a good frame). */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  #nextMs: number;

  /**
   * @param initialMs the first delay.
   * @param maxMs the cap; delays never grow past it.
   */
  constructor(initialMs: number, maxMs: number) {
    this.#initialMs = Math.max(0, initialMs);
    this.#maxMs = Math.max(this.#initialMs, maxMs);
    this.#nextMs = this.#initialMs;
  }

  /**
   * The delay to wait now; the one after it is twice as long (capped).
   *
   * @example
   * ```ts
   * const b = new Backoff(500, 2000);
   * [b.next(), b.next(), b.next(), b.next()]; // [500, 1000, 2000, 2000]
   * ```
   */
  next(): number {
    const delay = this.#nextMs;
    this.#nextMs = Math.min(this.#maxMs, Math.max(1, this.#nextMs * 2));
    return delay;
  }

  /** Back to the first delay. */
  reset(): void {
    this.#nextMs = this.#initialMs;
  }
}

/**
 * Waits `ms` milliseconds unless `signal` aborts first.
 *
 * @returns true when the time passed, false when the signal aborted (before or during the wait).
 */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
