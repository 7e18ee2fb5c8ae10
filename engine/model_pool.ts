/**
 * A pool of model workers. Each worker holds one onnxruntime session per model; a request goes to the
 * worker with the fewest requests pending, and a busy stage keeps its worker's queue full. A pipelined stage's
 * runs keep off their stream's worker (`awayFrom`), so a pipelined Clockwork's S2 and S3 run at the same time as
 * the next frame's S1 and fuse, on other workers.
 *
 * Resident tensors: a run may keep named outputs in its worker (`keep`); it gets {@linkcode TensorHandle}s back
 * instead of data. A request whose feeds include handles goes to their worker; handles held by another worker
 * are fetched through the main thread and sent as host feeds, and those copies are counted. A stream (`stream`
 * option) is pinned to one worker, chosen at first sight as the least busy, so its state stays in one place.
 *
 * Fused calls: a run whose outputs are all kept (`fuse`) need not be sent at once. It returns pending handles
 * straight away and waits in its worker's open batch; the next runs on that worker join the batch, and the first
 * one that needs data back (or any other message to that worker, or the end of the current task) sends the whole
 * batch as one worker call. So a frame's chain of worker stages (DFF's flow -> warp -> head -> argmax) costs one
 * round trip, not four, without the stages knowing of each other.
 *
 * @module
 */
import { type Tensor, TensorHandle, type TensorLike, transferables } from "./tensor.ts";
import type {
  BatchPart,
  ChainFeed,
  KeepSpec,
  PartReply,
  ResidentInfo,
  WorkerReply,
  WorkerRequest,
} from "./model_worker.ts";
import { type ExecutionProvider, providerHint, type ProviderRequest } from "./providers.ts";

/** Pool settings. */
export interface ModelPoolOptions {
  workers: number;
  /** onnxruntime intra-op threads per worker; default: cores divided among workers. */
  threads?: number;
  provider: ProviderRequest;
  /** Called once if the requested provider is unavailable and the pool falls back to CPU. */
  warn?: (message: string) => void;
  /** Called when a fused batch was sent with no run waiting for data (its call is nobody's to count). */
  onLoneBatch?: () => void;
  /** Called when a fused batch of two or more runs has answered (the trace draws it). */
  onBatch?: (batch: BatchTiming) => void;
}

/** Timing of one run, known when its worker answered. */
export interface RunTiming {
  /** Milliseconds inside `session.run` (all steps). */
  runMs: number;
  /** Milliseconds inside each step's `session.run`. */
  stepMs: number[];
  /** Wall-clock start of the first step (ms since the epoch). */
  startEpochMs: number;
  worker: number;
}

/** One fused worker call: its runs' labels and timings, in order. */
export interface BatchTiming {
  worker: number;
  labels: string[];
  runs: RunTiming[];
}

/** A feed as stages give it: a host tensor, a resident handle, or (chains) an earlier step's output. */
export type PoolFeed = TensorLike | { from: { step: number; name: string } };

/** One step of {@linkcode ModelPool.runChain}. */
export interface PoolChainStep {
  key: string;
  feeds: Record<string, PoolFeed>;
  fetches: string[];
}

/** Where a run goes and what it keeps. */
export interface RunPlacement {
  /** Copy feed buffers by transfer (the caller gives them up). */
  transferFeeds?: boolean;
  /** Outputs of the (last) step to keep resident, optionally cropped to [rows, cols] in the worker. */
  keep?: Record<string, { crop?: [number, number] }>;
  /** Host feeds of a single run to keep resident as well; they come back as handles named `@feed:<name>`. */
  keepFeeds?: string[];
  /** The stream the run belongs to: pinned to one worker. Omit to take the least busy. */
  stream?: string;
  /**
   * A stream whose worker the run keeps off (a pipelined stage: that worker runs the frame's other stages, which
   * would queue behind it): the least busy other worker, the one holding most of the feeds' bytes among equals.
   * Feeds held elsewhere are copied (counted). With one worker, that one.
   */
  awayFrom?: string;
  /**
   * May wait to be fused with the next runs on its worker. Only a run whose fetches are all kept waits: it gets
   * pending handles at once (see the module doc) and its timing later, through `onRan`.
   */
  fuse?: boolean;
  /** Names the run in the error of a fused call, e.g. "stage 'flow' failed on frame 12". */
  label?: string;
  /** A run that waited: called with its timing when the fused call answers. */
  onRan?: (timing: RunTiming) => void;
}

/** One inference's outputs and timing. */
export interface InferenceResult {
  /** Host tensors, and handles for the outputs kept resident. */
  outputs: Record<string, TensorLike>;
  /** Milliseconds inside `session.run`. */
  runMs: number;
  /** Wall-clock start of `session.run` (ms since the epoch). */
  startEpochMs: number;
  worker: number;
  /** Bytes of feeds copied to the worker for this call (`postMessage` clones them). */
  bytesToWorker: number;
  /** Bytes of outputs sent back (transferred, not copied, but moved between threads all the same). */
  bytesFromWorker: number;
  /**
   * Worker calls made for it: 1 (0 for a run that waits to be fused: its batch is counted by the run that sends
   * it), plus one per resident feed fetched from another worker.
   */
  calls: number;
  /** The run waits in a fused batch: its outputs are pending handles, its timing comes through `onRan`. */
  fused?: boolean;
  /** Resident feeds copied from another worker through the main thread. */
  crossCopies: number;
}

/** Bytes of the host tensors among `feeds` (chain references and resident handles stay in the worker). */
function feedBytes(feeds: Iterable<unknown>): number {
  let bytes = 0;
  for (const feed of feeds) {
    if (feed instanceof TensorHandle) continue;
    const data = (feed as { data?: unknown }).data;
    if (ArrayBuffer.isView(data)) bytes += data.byteLength;
  }
  return bytes;
}

/** Most streams remembered for pinning (least recently used forgotten first). */
const pinnedStreamLimit = 4096;

interface Pending {
  resolve: (reply: WorkerReply & { ok: true }) => void;
  reject: (error: Error) => void;
  worker: number;
}

/** A run in an open batch: one that waits (pending handles out, `onRan` later) or the one that sends the batch. */
interface BatchEntry {
  part: BatchPart;
  label: string;
  /** Waiting runs: their pending handles by kept id, settled when the batch answers. */
  pending?: Map<number, TensorHandle>;
  onRan?: (timing: RunTiming) => void;
  /** The run that sent the batch: its reply. */
  resolve?: (reply: WorkerReply & { ok: true }) => void;
  reject?: (error: Error) => void;
}

interface OpenBatch {
  entries: BatchEntry[];
  transfer: Transferable[];
  /** The end-of-task send; unset while the worker is busy (the batch is sent when it answers). */
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Most runs one fused call carries before it is sent anyway. */
const batchLimit = 64;

/** Marks an error already labelled with the stage and frame it belongs to (see `stageFailure`). */
export class FusedRunError extends Error {
  override name = "FusedRunError";
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
  #nextHandle = 1;
  readonly #pinned = new Map<string, number>();
  readonly #open = new Map<number, OpenBatch>();
  readonly #onLoneBatch: (() => void) | undefined;
  readonly #onBatch: ((batch: BatchTiming) => void) | undefined;
  /** The first failure of a run that waited and whose batch had no run to report it to. */
  #fusedFailure: Error | undefined;
  #provider: ExecutionProvider = "cpu";
  #closed = false;
  #failure: Error | undefined;

  private constructor(options: ModelPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new RangeError(`'workers' must be a positive integer, got ${options.workers}`);
    }
    const cores = navigator.hardwareConcurrency || 1;
    this.#threads = options.threads ?? Math.max(1, Math.floor(cores / options.workers));
    this.#onLoneBatch = options.onLoneBatch;
    this.#onBatch = options.onBatch;
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
      const open = this.#open.get(pending.worker);
      if (open && !open.timer && this.#pendingCount[pending.worker] === 0) {
        // After the reply's own continuations (which may add the run that needs the batch's results).
        open.timer = setTimeout(() => this.#flushIfIdle(pending.worker), 0);
      }
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
    this.#flush(worker);
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

  #leastBusy(): number {
    let worker = 0;
    for (let i = 1; i < this.#workers.length; i++) {
      if (this.#pendingCount[i]! < this.#pendingCount[worker]!) worker = i;
    }
    return worker;
  }

  /** The worker a stream is pinned to (chosen at first sight: the least busy). */
  workerOf(stream: string): number {
    let worker = this.#pinned.get(stream);
    if (worker === undefined) {
      worker = this.#leastBusy();
      if (this.#pinned.size >= pinnedStreamLimit) this.#pinned.delete(this.#pinned.keys().next().value!);
    } else {
      this.#pinned.delete(stream);
    }
    this.#pinned.set(stream, worker);
    return worker;
  }

  /**
   * Where a request runs: with resident feeds, on the worker holding most of their bytes (the stream's pinned
   * worker among them wins); else on the stream's worker, or the least busy one.
   */
  #place(handles: TensorHandle[], stream: string | undefined, awayFrom?: string): number {
    if (awayFrom !== undefined && this.#workers.length > 1) return this.#awayFrom(this.workerOf(awayFrom), handles);
    const pinned = stream !== undefined && this.#workers.length > 1 ? this.workerOf(stream) : undefined;
    if (!handles.length) return pinned ?? this.#leastBusy();
    const bytes = new Map<number, number>();
    for (const h of handles) bytes.set(h.worker, (bytes.get(h.worker) ?? 0) + h.bytes);
    if (pinned !== undefined && bytes.has(pinned)) return pinned;
    return [...bytes].sort((a, b) => b[1] - a[1])[0]![0];
  }

  /** Requests on `worker` not answered yet: those sent, and the runs waiting in its open batch. */
  #busy(worker: number): number {
    return this.#pendingCount[worker]! + (this.#open.get(worker)?.entries.length ?? 0);
  }

  /**
   * The least busy worker other than `home` (runs still in an open batch count: a pipelined Clockwork's S2 waits in
   * one when S3 is placed); among equally busy ones, the one holding most of `handles`' bytes.
   */
  #awayFrom(home: number, handles: TensorHandle[]): number {
    const bytes = new Map<number, number>();
    for (const h of handles) bytes.set(h.worker, (bytes.get(h.worker) ?? 0) + h.bytes);
    let best = -1;
    for (let i = 0; i < this.#workers.length; i++) {
      if (i === home) continue;
      const fewer = best < 0 || this.#busy(i) < this.#busy(best);
      const tie = best >= 0 && this.#busy(i) === this.#busy(best) && (bytes.get(i) ?? 0) > (bytes.get(best) ?? 0);
      if (fewer || tie) best = i;
    }
    return best;
  }

  /**
   * Turns stage feeds into worker feeds for `worker`: handles there go by id, handles elsewhere are fetched and
   * sent as host data (counted).
   */
  async #feedsFor(
    worker: number,
    feeds: Record<string, PoolFeed>,
    copies: { calls: number; bytes: number; count: number },
  ): Promise<Record<string, ChainFeed>> {
    const out: Record<string, ChainFeed> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      if (!(feed instanceof TensorHandle)) {
        out[name] = feed as ChainFeed;
      } else if (feed.worker === worker) {
        out[name] = { handle: feed.id };
      } else {
        const host = await this.fetch(feed);
        copies.calls++;
        copies.count++;
        copies.bytes += host.data.byteLength;
        out[name] = host;
      }
    }
    return out;
  }

  #keepSpecs(keep: RunPlacement["keep"]): Record<string, KeepSpec> | undefined {
    if (!keep || !Object.keys(keep).length) return undefined;
    const specs: Record<string, KeepSpec> = {};
    for (const [name, spec] of Object.entries(keep)) {
      specs[name] = { id: this.#nextHandle++, ...(spec.crop ? { crop: spec.crop } : {}) };
    }
    return specs;
  }

  #outputs(reply: WorkerReply & { ok: true }, worker: number): Record<string, TensorLike> {
    const outputs: Record<string, TensorLike> = { ...(reply.outputs ?? {}) };
    for (const [name, info] of Object.entries(reply.kept ?? {})) outputs[name] = handleOf(info, worker);
    return outputs;
  }

  /**
   * Runs a loaded model. Host feed buffers are copied to the worker (stages may still need them); output buffers
   * come back transferred; outputs named in `keep` stay in the worker and come back as handles.
   */
  run(
    key: string,
    feeds: Record<string, TensorLike>,
    fetches: string[],
    options: RunPlacement = {},
  ): Promise<InferenceResult> {
    return this.runChain([{ key, feeds, fetches }], options);
  }

  /**
   * Runs several loaded models back to back in one worker, later steps fed by earlier steps' outputs inside the
   * worker (on WebGPU without leaving the GPU); returns the last step's outputs. Host feeds are copied. With
   * `fuse`, a run whose fetches are all kept waits to be sent with the next runs on its worker (module doc).
   */
  async runChain(steps: PoolChainStep[], options: RunPlacement = {}): Promise<InferenceResult & { stepMs: number[] }> {
    const handles = steps.flatMap((s) => Object.values(s.feeds).filter((f) => f instanceof TensorHandle));
    const worker = this.#place(handles, options.stream, options.awayFrom);
    const copies = { calls: 0, bytes: 0, count: 0 };
    const workerSteps = [];
    for (const step of steps) {
      workerSteps.push({
        key: step.key,
        feeds: await this.#feedsFor(worker, step.feeds, copies),
        fetches: step.fetches,
      });
    }
    const keep = this.#keepSpecs(options.keep);
    const keepFeeds = this.#keepSpecs(Object.fromEntries((options.keepFeeds ?? []).map((name) => [name, {}])));
    if (keepFeeds && workerSteps.length !== 1) throw new Error("Internal error: keepFeeds needs a single run");
    const part: BatchPart = workerSteps.length === 1
      ? { op: "run", ...workerSteps[0]!, ...(keep ? { keep } : {}), ...(keepFeeds ? { keepFeeds } : {}) }
      : { op: "chain", steps: workerSteps, ...(keep ? { keep } : {}) };
    const hostFeeds = workerSteps.flatMap((step) => Object.values(step.feeds)).filter((f): f is Tensor => "data" in f);
    const traffic = {
      worker,
      bytesToWorker: feedBytes(hostFeeds),
      calls: copies.calls,
      crossCopies: copies.count,
    };
    const label = options.label ?? `model '${steps.at(-1)!.key}'`;
    const allKept = keep !== undefined && steps.at(-1)!.fetches.every((name) => name in keep);
    if (options.fuse && allKept && !this.#closed && !this.#failure) {
      // Sent later, with the runs that follow: copy host feeds now (the stage may reuse its buffers), move them then.
      const owned: Transferable[] = [];
      const detached = detachFeeds(part, owned);
      const pending = new Map<number, TensorHandle>();
      const outputs: Record<string, TensorLike> = {};
      for (const [name, spec] of Object.entries(keep)) {
        const handle = new TensorHandle(spec.id, worker);
        pending.set(spec.id, handle);
        outputs[name] = handle;
      }
      for (const [name, spec] of Object.entries(keepFeeds ?? {})) {
        const feed = (detached as { feeds: Record<string, Tensor> }).feeds[name]!;
        outputs[`@feed:${name}`] = new TensorHandle(spec.id, worker, {
          type: feed.type,
          dims: [...feed.dims],
          bytes: feed.data.byteLength,
        });
      }
      this.#append(
        worker,
        { part: detached, label, pending, ...(options.onRan ? { onRan: options.onRan } : {}) },
        owned,
      );
      return {
        outputs,
        runMs: 0,
        stepMs: [],
        startEpochMs: 0,
        bytesFromWorker: copies.bytes,
        fused: true,
        ...traffic,
      };
    }
    const transfer = options.transferFeeds ? transferables(hostFeeds) : [];
    const reply = this.#open.has(worker)
      ? await new Promise<WorkerReply & { ok: true }>((resolve, reject) => {
        this.#append(worker, { part, label, resolve, reject }, transfer);
        this.#flush(worker);
      })
      : await this.#call(worker, { ...part, id: 0 } as WorkerRequest, transfer);
    const outputs = this.#outputs(reply, worker);
    return {
      outputs,
      runMs: reply.runMs ?? 0,
      stepMs: reply.stepMs ?? [],
      startEpochMs: reply.startEpochMs ?? 0,
      bytesFromWorker: feedBytes(Object.values(outputs)) + copies.bytes,
      ...traffic,
      calls: 1 + copies.calls,
    };
  }

  /** Adds a run to `worker`'s open batch (opening one, sent at the end of this task if nothing sends it sooner). */
  #append(worker: number, entry: BatchEntry, transfer: Transferable[]): void {
    const batch = this.#open.get(worker) ??
      { entries: [], transfer: [], timer: setTimeout(() => this.#flushIfIdle(worker), 0) };
    this.#open.set(worker, batch);
    batch.entries.push(entry);
    batch.transfer.push(...transfer);
    if (batch.entries.length >= batchLimit) this.#flush(worker, true);
  }

  /**
   * The end of the task that opened a batch: sends it if its worker is idle. A busy worker could not start it
   * anyway, so it stays open for more runs (the next stage of the same frame, often) until the worker answers.
   */
  #flushIfIdle(worker: number): void {
    const batch = this.#open.get(worker);
    if (!batch) return;
    batch.timer = undefined;
    if (this.#pendingCount[worker]! === 0) this.#flush(worker, true);
  }

  /** Sends `worker`'s open batch, if any, as one call; `lone`: no run in it waits for data (counted apart). */
  #flush(worker: number, lone = false): void {
    const batch = this.#open.get(worker);
    if (!batch) return;
    this.#open.delete(worker);
    clearTimeout(batch.timer);
    const { entries } = batch;
    if (lone && !entries.some((e) => e.resolve)) this.#onLoneBatch?.();
    const reply = this.#call(worker, { op: "batch", id: 0, parts: entries.map((e) => e.part) }, batch.transfer);
    reply.then(
      (answer) => this.#settleBatch(worker, entries, answer.parts ?? []),
      (error: Error) => {
        for (const entry of entries) {
          entry.reject?.(error);
          for (const handle of entry.pending?.values() ?? []) handle.fail(error);
        }
      },
    );
  }

  /** Hands each run of an answered batch its outcome; a failed waiting run fails the run that sent the batch. */
  #settleBatch(worker: number, entries: BatchEntry[], parts: PartReply[]): void {
    let firstFailure: Error | undefined;
    const runs: RunTiming[] = [];
    entries.forEach((entry, i) => {
      const part = parts[i] ?? { ok: false as const, error: "no reply for this part of the fused call" };
      if (!part.ok) {
        if (entry.pending) {
          const failure = new FusedRunError(`${entry.label}: ${part.error}`);
          firstFailure ??= failure;
          for (const handle of entry.pending.values()) handle.fail(failure);
        }
        entry.reject?.(firstFailure ?? new Error(part.error));
        return;
      }
      const timing: RunTiming = {
        runMs: part.runMs ?? 0,
        stepMs: part.stepMs ?? [],
        startEpochMs: part.startEpochMs ?? 0,
        worker,
      };
      runs.push(timing);
      if (entry.pending) {
        for (const info of Object.values(part.kept ?? {})) entry.pending.get(info.id)?.settle(info);
        entry.onRan?.(timing);
      } else if (firstFailure) {
        entry.reject?.(firstFailure);
      } else {
        entry.resolve?.(part as WorkerReply & { ok: true });
      }
    });
    if (firstFailure && !entries.some((e) => e.resolve)) this.#fusedFailure ??= firstFailure;
    if (entries.length > 1 && runs.length === entries.length) {
      this.#onBatch?.({ worker, labels: entries.map((e) => e.label), runs });
    }
  }

  /**
   * The failure of a run that waited in a fused call that no other run was there to report (it made only
   * stage state); the engine reports it when the stream ends.
   */
  get fusedFailure(): Error | undefined {
    return this.#fusedFailure;
  }

  /** Sends every open batch now and waits until the workers answered everything sent so far (end of stream). */
  async drain(): Promise<void> {
    if (this.#closed || this.#failure) return;
    await Promise.all(this.#workers.map((_, i) => this.#call(i, { op: "resident", id: 0 })));
  }

  /** Makes a host tensor resident on `worker` (or the stream's worker); the copy is the caller's to count. */
  async put(tensor: Tensor, options: { worker?: number; stream?: string } = {}): Promise<TensorHandle> {
    const worker = options.worker ?? this.#place([], options.stream);
    const handle = this.#nextHandle++;
    const reply = await this.#call(worker, { op: "put", id: 0, tensor, handle });
    return handleOf(reply.kept!.tensor!, worker);
  }

  /** Copies a resident tensor's data back to the main thread (it stays resident). */
  async fetch(handle: TensorHandle): Promise<Tensor> {
    const reply = await this.#call(handle.worker, { op: "fetch", id: 0, handle: handle.id });
    return reply.outputs!.tensor!;
  }

  /** Drops resident tensors in their workers (fire and forget; after every request already posted there). */
  free(handles: Iterable<TensorHandle>): void {
    if (this.#closed || this.#failure) return;
    const byWorker = new Map<number, number[]>();
    for (const h of handles) byWorker.set(h.worker, [...(byWorker.get(h.worker) ?? []), h.id]);
    for (const [worker, ids] of byWorker) {
      this.#flush(worker);
      this.#workers[worker]!.postMessage({ op: "free", id: 0, handles: ids } satisfies WorkerRequest);
    }
  }

  /** Tensors each worker holds resident, and their bytes (tests, leak checks). */
  async resident(): Promise<{ count: number; bytes: number }[]> {
    return await Promise.all(this.#workers.map(async (_, i) => {
      const reply = await this.#call(i, { op: "resident", id: 0 });
      return { count: reply.count ?? 0, bytes: reply.bytes ?? 0 };
    }));
  }

  /** Stops every worker; pending requests fail. Safe to call twice. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const closed = new Error("model pool closed");
    for (const batch of this.#open.values()) {
      clearTimeout(batch.timer);
      for (const entry of batch.entries) entry.reject?.(closed);
    }
    this.#open.clear();
    this.#fail(closed);
    for (const worker of this.#workers) worker.terminate();
    return Promise.resolve();
  }
}

/** A copy of `part` whose host feeds own fresh buffers (collected in `buffers`, to be moved to the worker). */
function detachFeeds(part: BatchPart, buffers: Transferable[]): BatchPart {
  const detach = (feeds: Record<string, ChainFeed>): Record<string, ChainFeed> =>
    Object.fromEntries(
      Object.entries(feeds).map(([name, feed]) => {
        if (!("data" in feed)) return [name, feed];
        const data = feed.data.slice() as Tensor["data"];
        buffers.push(data.buffer as ArrayBuffer);
        return [name, { type: feed.type, dims: [...feed.dims], data }];
      }),
    );
  return part.op === "run"
    ? { ...part, feeds: detach(part.feeds) }
    : { ...part, steps: part.steps.map((step) => ({ ...step, feeds: detach(step.feeds) })) };
}

function handleOf(info: ResidentInfo, worker: number): TensorHandle {
  return new TensorHandle(info.id, worker, info);
}

/** The gist of an onnxruntime error: its first line, without the C++ source location and assertion. */
function firstLine(error: unknown): string {
  const line = String((error as Error)?.message ?? error).split("\n")[0]!.trim();
  const failed = line.lastIndexOf("Failed to");
  return failed > 0 ? line.slice(failed) : line;
}
