/**
 * A pool of model workers. Each worker holds one onnxruntime session per model; a request goes to the
 * worker with the fewest requests pending, so independent stages (a pipelined Clockwork's S1 and S3)
 * run at the same time on different workers, and a busy stage keeps its worker's queue full.
 *
 * @module
 */
import type { Tensor } from "./tensor.ts";
import { transferables } from "./tensor.ts";
import type { ChainStep, WorkerReply, WorkerRequest } from "./model_worker.ts";
import { type ExecutionProvider, providerHint, type ProviderRequest } from "./providers.ts";

/** Pool settings. */
export interface ModelPoolOptions {
  workers: number;
  /** onnxruntime intra-op threads per worker; default: cores divided among workers. */
  threads?: number;
  provider: ProviderRequest;
  /** Called once if the requested provider is unavailable and the pool falls back to CPU. */
  warn?: (message: string) => void;
}

/** One inference's outputs and timing. */
export interface InferenceResult {
  outputs: Record<string, Tensor>;
  /** Milliseconds inside `session.run`. */
  runMs: number;
  /** Wall-clock start of `session.run` (ms since the epoch). */
  startEpochMs: number;
  worker: number;
  /** Bytes of feeds copied to the worker for this call (`postMessage` clones them). */
  bytesToWorker: number;
  /** Bytes of outputs sent back (transferred, not copied, but moved between threads all the same). */
  bytesFromWorker: number;
}

/** Bytes of the host tensors among `feeds` (chain references to earlier steps stay in the worker). */
function feedBytes(feeds: Iterable<Tensor | { from: unknown }>): number {
  let bytes = 0;
  for (const feed of feeds) if ("data" in feed) bytes += feed.data.byteLength;
  return bytes;
}

interface Pending {
  resolve: (reply: WorkerReply & { ok: true }) => void;
  reject: (error: Error) => void;
  worker: number;
}

/**
 * Runs ONNX models in worker threads.
 *
 * @example
 * ```ts
 * const pool = await ModelPool.start({ workers: 1, provider: { provider: "cpu", required: false } });
 * await pool.load("seg", bytes);
 * const { outputs } = await pool.run("seg", { image }, ["scores"]);
 * await pool.close();
 * ```
 */
export class ModelPool {
  readonly #workers: Worker[];
  readonly #pendingCount: number[];
  readonly #pending = new Map<number, Pending>();
  readonly #loaded = new Map<string, Promise<void>>();
  readonly #threads: number;
  #nextId = 1;
  #provider: ExecutionProvider = "cpu";
  #closed = false;
  #failure: Error | undefined;

  private constructor(options: ModelPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new RangeError(`'workers' must be a positive integer, got ${options.workers}`);
    }
    const cores = navigator.hardwareConcurrency || 1;
    this.#threads = options.threads ?? Math.max(1, Math.floor(cores / options.workers));
    this.#workers = [];
    this.#pendingCount = [];
    for (let i = 0; i < options.workers; i++) this.#spawn(i);
  }

  /**
   * Starts the workers and settles the execution provider: probes it, falls back to CPU with one warning,
   * or throws if the request was `required` (`--ep cuda!`).
   */
  static async start(options: ModelPoolOptions): Promise<ModelPool> {
    const pool = new ModelPool(options);
    const wanted = options.provider.provider;
    if (wanted !== "cpu") {
      try {
        await pool.#call(0, { op: "probe", id: 0, ep: wanted });
        pool.#provider = wanted;
      } catch (error) {
        const reason = `execution provider '${wanted}' is not available (${firstLine(error)}); ${providerHint(wanted)}`;
        if (options.provider.required) {
          await pool.close();
          throw new Error(reason);
        }
        options.warn?.(`${reason}. Running on CPU.`);
      }
    }
    return pool;
  }

  /** The provider sessions actually use. */
  get provider(): ExecutionProvider {
    return this.#provider;
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /** onnxruntime intra-op threads per worker. */
  get threads(): number {
    return this.#threads;
  }

  #spawn(index: number): void {
    const worker = new Worker(new URL("./model_worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const reply = event.data;
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      this.#pendingCount[pending.worker]!--;
      if (reply.ok) pending.resolve(reply);
      else pending.reject(new Error(reply.error));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#fail(new Error(`model worker ${index} crashed: ${event.message}`));
    };
    this.#workers[index] = worker;
    this.#pendingCount[index] = 0;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.reject(error);
    }
  }

  #call(worker: number, request: WorkerRequest, transfer: Transferable[] = []): Promise<WorkerReply & { ok: true }> {
    if (this.#closed) return Promise.reject(new Error("model pool is closed"));
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    request.id = id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker });
      this.#pendingCount[worker]!++;
      this.#workers[worker]!.postMessage(request, transfer);
    });
  }

  /** Creates a session for `key` on every worker (once; later calls wait for the first). */
  load(key: string, model: Uint8Array): Promise<void> {
    let loading = this.#loaded.get(key);
    if (!loading) {
      loading = Promise.all(
        this.#workers.map((_, i) =>
          this.#call(i, { op: "load", id: 0, key, model, ep: this.#provider, threads: this.#threads })
        ),
      ).then(() => undefined);
      loading.catch(() => this.#loaded.delete(key));
      this.#loaded.set(key, loading);
    }
    return loading;
  }

  /**
   * Runs a loaded model on the least busy worker. Feed buffers are copied to the worker (stages may still
   * need them); output buffers come back transferred.
   */
  async run(
    key: string,
    feeds: Record<string, Tensor>,
    fetches: string[],
    options: { transferFeeds?: boolean } = {},
  ): Promise<InferenceResult> {
    let worker = 0;
    for (let i = 1; i < this.#workers.length; i++) {
      if (this.#pendingCount[i]! < this.#pendingCount[worker]!) worker = i;
    }
    const transfer = options.transferFeeds ? transferables(Object.values(feeds)) : [];
    const reply = await this.#call(worker, { op: "run", id: 0, key, feeds, fetches }, transfer);
    const outputs = reply.outputs ?? {};
    return {
      outputs,
      runMs: reply.runMs ?? 0,
      startEpochMs: reply.startEpochMs ?? 0,
      worker,
      bytesToWorker: feedBytes(Object.values(feeds)),
      bytesFromWorker: feedBytes(Object.values(outputs)),
    };
  }

  /**
   * Runs several loaded models back to back in one worker, later steps fed by earlier steps' outputs inside the
   * worker (on WebGPU without leaving the GPU); returns the last step's outputs. Host feeds are copied.
   */
  async runChain(steps: ChainStep[]): Promise<InferenceResult & { stepMs: number[] }> {
    let worker = 0;
    for (let i = 1; i < this.#workers.length; i++) {
      if (this.#pendingCount[i]! < this.#pendingCount[worker]!) worker = i;
    }
    const reply = await this.#call(worker, { op: "chain", id: 0, steps });
    const outputs = reply.outputs ?? {};
    return {
      outputs,
      runMs: reply.runMs ?? 0,
      stepMs: reply.stepMs ?? [],
      startEpochMs: reply.startEpochMs ?? 0,
      worker,
      bytesToWorker: feedBytes(steps.flatMap((step) => Object.values(step.feeds))),
      bytesFromWorker: feedBytes(Object.values(outputs)),
    };
  }

  /** Stops every worker; pending requests fail. Safe to call twice. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#fail(new Error("model pool closed"));
    for (const worker of this.#workers) worker.terminate();
    return Promise.resolve();
  }
}

/** The gist of an onnxruntime error: its first line, without the C++ source location and assertion. */
function firstLine(error: unknown): string {
  const line = String((error as Error)?.message ?? error).split("\n")[0]!.trim();
  const failed = line.lastIndexOf("Failed to");
  return failed > 0 ? line.slice(failed) : line;
}
