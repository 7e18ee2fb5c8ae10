/**
 * Bounded samples for percentiles of endless streams.
 *
 * @module
 */

/**
 * Keeps a uniform random sample of at most `capacity` values (Vitter's algorithm R), so percentiles of
 * an endless stream use bounded memory. Exact while fewer than `capacity` values were added.
 */
export class Reservoir {
  readonly #values: number[] = [];
  readonly #capacity: number;
  #seen = 0;
  #state = 0x9e3779b9;

  constructor(capacity = 20_000) {
    this.#capacity = capacity;
  }

  /** Adds one value. */
  add(value: number): void {
    this.#seen++;
    if (this.#values.length < this.#capacity) {
      this.#values.push(value);
      return;
    }
    // xorshift32: deterministic, so reports are reproducible.
    this.#state ^= this.#state << 13;
    this.#state ^= this.#state >>> 17;
    this.#state ^= this.#state << 5;
    const slot = (this.#state >>> 0) % this.#seen;
    if (slot < this.#capacity) this.#values[slot] = value;
  }

  /** The q-quantile (0..1) by nearest rank; 0 when empty. */
  quantile(q: number): number {
    if (this.#values.length === 0) return 0;
    const sorted = [...this.#values].sort((a, b) => a - b);
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[rank]!;
  }
}
