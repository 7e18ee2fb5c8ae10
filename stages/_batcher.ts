/**
 * Batching runs of one model across frames (and so across streams): runs whose feeds have the same shapes wait
 * up to `waitMs` for others, and up to `max` go as one call with the feeds stacked on the first dimension; the
 * outputs are split back per run. A lone run goes on its own, unchanged. Memory stays bounded: a group holds at
 * most `max` runs, and groups exist only while frames wait.
 *
 * @module
 */
import type { Tensor, TensorData, TensorLike } from "../engine/tensor.ts";

/** Host feeds of one run: every tensor's first dimension is 1. */
export type BatchFeeds = Record<string, Tensor>;

/** Runs `feeds` stacked `n` deep and returns outputs whose first dimension is `n`. */
export type BatchRun = (feeds: BatchFeeds, n: number) => Promise<Record<string, Tensor>>;

interface Waiting {
  feeds: BatchFeeds;
  /** How the run goes when no other joins it: as it would unbatched. */
  alone: () => Promise<Record<string, TensorLike>>;
  resolve: (outputs: Record<string, TensorLike>) => void;
  reject: (error: unknown) => void;
}

interface Group {
  runs: Waiting[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Collects runs into batches by the shapes of their feeds (`shared` feeds, such as a label head's frame size, must
 * be equal too, and are fed once).
 *
 * @example
 * ```ts
 * const batcher = new RunBatcher(4, 5, ["size"], (feeds, n) => batchRunner.run(feeds, n));
 * const outputs = await batcher.submit({ image, size }, () => runner.run({ image, size }));
 * ```
 */
export class RunBatcher {
  readonly #groups = new Map<string, Group>();
  /** Batches of two or more sent, and the runs they held, for the stats. */
  batches = 0;
  batchedRuns = 0;

  constructor(
    readonly max: number,
    readonly waitMs: number,
    readonly shared: readonly string[],
    readonly run: BatchRun,
  ) {}

  /**
   * Queues one run; resolves with its own outputs (first dimension 1): its slice of a batch, or what `alone` gives
   * when no other run joined it in time.
   */
  submit(feeds: BatchFeeds, alone: () => Promise<Record<string, TensorLike>>): Promise<Record<string, TensorLike>> {
    const key = batchKey(feeds, this.shared);
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, TensorLike>>();
    let group = this.#groups.get(key);
    if (!group) {
      this.#groups.set(key, group = { runs: [], timer: undefined });
      group.timer = setTimeout(() => this.#send(key), this.waitMs);
    }
    group.runs.push({ feeds, alone, resolve, reject });
    if (group.runs.length >= this.max) this.#send(key);
    return promise;
  }

  /** Sends every waiting group now (the stream ended). */
  flush(): void {
    for (const key of [...this.#groups.keys()]) this.#send(key);
  }

  #send(key: string): void {
    const group = this.#groups.get(key);
    if (!group) return;
    this.#groups.delete(key);
    clearTimeout(group.timer);
    const { runs } = group;
    if (runs.length === 1) {
      const [only] = runs;
      only!.alone().then(only!.resolve, only!.reject);
      return;
    }
    this.batches++;
    this.batchedRuns += runs.length;
    const feeds = stackFeeds(runs.map((r) => r.feeds), this.shared);
    this.run(feeds, runs.length).then(
      (outputs) => runs.forEach((r, i) => r.resolve(sliceOutputs(outputs, i, runs.length))),
      (error) => runs.forEach((r) => r.reject(error)),
    );
  }
}

/** Runs may share a batch when every feed has the same type and shape, and shared feeds the same values. */
function batchKey(feeds: BatchFeeds, shared: readonly string[]): string {
  return Object.entries(feeds).sort(([a], [b]) => a.localeCompare(b)).map(([name, t]) =>
    `${name}:${t.type}[${t.dims}]${shared.includes(name) ? `=${Array.from(t.data as ArrayLike<unknown>)}` : ""}`
  ).join(";");
}

/** One run's feeds per name stacked on the first dimension; shared feeds once. */
export function stackFeeds(runs: readonly BatchFeeds[], shared: readonly string[]): BatchFeeds {
  const out: BatchFeeds = {};
  for (const [name, first] of Object.entries(runs[0]!)) {
    if (shared.includes(name) || runs.length === 1) {
      out[name] = first;
      continue;
    }
    const length = first.data.length;
    const data = new (first.data.constructor as new (n: number) => TensorData)(length * runs.length);
    runs.forEach((feeds, i) => (data as Uint8Array).set(feeds[name]!.data as Uint8Array, i * length));
    out[name] = { type: first.type, dims: [runs.length, ...first.dims.slice(1)], data };
  }
  return out;
}

/** Run `i`'s part of a batch of `n`: each output's `i`-th slice of its first dimension. */
export function sliceOutputs(outputs: Record<string, Tensor>, i: number, n: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.dims[0] !== n) {
      throw new RangeError(`batched output '${name}' has dims [${tensor.dims}], expected a first dimension of ${n}`);
    }
    const length = tensor.data.length / n;
    out[name] = {
      type: tensor.type,
      dims: [1, ...tensor.dims.slice(1)],
      data: tensor.data.slice(i * length, (i + 1) * length) as TensorData,
    };
  }
  return out;
}
