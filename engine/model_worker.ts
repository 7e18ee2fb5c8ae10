/**
 * The model worker: owns onnxruntime sessions and runs them off the main thread, because
 * `session.run()` blocks its thread for the whole inference. One session per model per worker, created
 * once; requests run one after another in arrival order. Output buffers are transferred, not copied.
 *
 * Resident tensors: a run or chain may `keep` named outputs of its last step in this worker under ids the pool
 * chose (optionally cropped to a grid by a Slice session, so nothing comes back for the crop); the reply carries
 * their metadata, not their data. Later feeds `{ handle: id }` use them in place. `put` makes a host tensor
 * resident, `fetch` copies one back, `free` drops ids (no reply), `resident` counts what is held (tests).
 *
 * Protocol (see `model_pool.ts`): `probe`, `load`, `run`, `chain`, `put`, `fetch`, `free`, `resident`; each but
 * `free` answered with the same `id`. A chain runs
 * several sessions back to back, feeding earlier outputs to later steps inside the worker: on the CPU that saves
 * the round trips through the main thread; on WebGPU, whose sessions are created with
 * `preferredOutputLocation: "gpu-buffer"`, the intermediate tensors never leave the GPU. Only the last step's
 * outputs are downloaded and sent back.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as ort from "onnxruntime-node";
import type { Tensor } from "./tensor.ts";
import { probeModel } from "./providers.ts";
import { hostData, sessionOptions } from "./session_options.ts";
import { buildModel, int64Tensor, node } from "./onnx/builder.ts";

/** A feed of a chained step: a host tensor, output `name` of an earlier step of the same chain, or a resident id. */
export type ChainFeed = Tensor | { from: { step: number; name: string } } | { handle: number };

/** An output to keep resident: the id the pool chose, and optionally the grid [rows, cols] to crop it to. */
export interface KeepSpec {
  id: number;
  crop?: [number, number];
}

/** What a reply says about a tensor it kept resident. */
export interface ResidentInfo {
  id: number;
  type: Tensor["type"];
  dims: number[];
  bytes: number;
}

/** One model run of a chain: its feeds and the outputs later steps (or the caller, for the last) need. */
export interface ChainStep {
  key: string;
  feeds: Record<string, ChainFeed>;
  fetches: string[];
}

/** Messages from the pool to a worker. */
export type WorkerRequest =
  | { op: "probe"; id: number; ep: string }
  | { op: "load"; id: number; key: string; model: Uint8Array; ep: string; threads: number }
  | {
    op: "run";
    id: number;
    key: string;
    feeds: Record<string, ChainFeed>;
    fetches: string[];
    keep?: Record<string, KeepSpec>;
    /** Host feeds to keep resident too (the reply names them `@feed:<name>` under `kept`). */
    keepFeeds?: Record<string, KeepSpec>;
  }
  | { op: "chain"; id: number; steps: ChainStep[]; keep?: Record<string, KeepSpec> }
  | { op: "batch"; id: number; parts: BatchPart[] }
  | { op: "put"; id: number; tensor: Tensor; handle: number }
  | { op: "fetch"; id: number; handle: number }
  | { op: "free"; id: number; handles: number[] }
  | { op: "resident"; id: number };

/**
 * One run or chain of a fused batch (a `run`/`chain` request without its id). Parts run in order; a part fed by a
 * kept output of an earlier part that failed fails with that part's error.
 */
export type BatchPart =
  | Omit<Extract<WorkerRequest, { op: "run" }>, "id">
  | Omit<Extract<WorkerRequest, { op: "chain" }>, "id">;

/** What a worker says about one part of a batch. */
export type PartReply = (WorkerReply & { ok: true }) | { ok: false; error: string };

/** Messages from a worker to the pool. */
export type WorkerReply =
  | {
    id: number;
    ok: true;
    outputs?: Record<string, Tensor>;
    runMs?: number;
    startEpochMs?: number;
    /** Chains: milliseconds inside each step's `session.run`. */
    stepMs?: number[];
    /** Outputs kept resident (by fetch name). */
    kept?: Record<string, ResidentInfo>;
    /** `resident`: tensors held and their bytes. */
    count?: number;
    bytes?: number;
    /** `batch`: one reply per part, in order. */
    parts?: PartReply[];
  }
  | { id: number; ok: false; error: string };

const sessions = new Map<string, ort.InferenceSession>();
/** Tensors kept for the main thread, by the id the pool gave them. */
const resident = new Map<number, ort.Tensor>();
let residentBytes = 0;
let loadedWith: { ep: string; threads: number } = { ep: "cpu", threads: 1 };

function byteSize(tensor: ort.Tensor): number {
  const perElement: Record<string, number> = { float32: 4, int32: 4, int64: 8, uint8: 1, int8: 1, uint16: 2, bool: 1 };
  return tensor.size * (perElement[tensor.type] ?? 4);
}

function keepResident(handle: number, tensor: ort.Tensor): ResidentInfo {
  if (resident.has(handle)) throw new Error(`Internal error: resident tensor id ${handle} is taken`);
  resident.set(handle, tensor);
  const bytes = byteSize(tensor);
  residentBytes += bytes;
  return { id: handle, type: tensor.type as Tensor["type"], dims: [...tensor.dims], bytes };
}

/** Ids a failed batch part should have kept, with its error: a later part fed by one fails with the same error. */
const failedIds = new Map<number, string>();

function residentTensor(handle: number): ort.Tensor {
  const tensor = resident.get(handle);
  const failed = failedIds.get(handle);
  if (!tensor && failed !== undefined) throw new Error(failed);
  if (!tensor) throw new Error(`Internal error: no resident tensor ${handle} in this worker (freed too early?)`);
  return tensor;
}

/** Slice [.., :rows, :cols] of a float32 NCHW map, built once per worker (runs on the session's provider). */
let cropSession: Promise<ort.InferenceSession> | undefined;
function cropModel(): Uint8Array {
  return buildModel({
    name: "segflow-crop",
    inputs: [
      { name: "x", type: "float32", shape: ["N", "C", "h", "w"] },
      { name: "ends", type: "int64", shape: [2] },
    ],
    outputs: [{ name: "y", type: "float32", shape: ["N", "C", "r", "c"] }],
    initializers: [int64Tensor("starts", [2], [0, 0]), int64Tensor("axes", [2], [2, 3])],
    nodes: [node("Slice", ["x", "starts", "ends", "axes"], ["y"])],
  });
}

async function crop(tensor: ort.Tensor, rows: number, cols: number): Promise<ort.Tensor> {
  const [h, w] = tensor.dims.slice(-2) as [number, number];
  if (h === rows && w === cols) return tensor;
  if (tensor.type !== "float32" || tensor.dims.length !== 4) {
    throw new Error(`Internal error: resident crop needs a float32 NCHW map, got ${tensor.type} [${tensor.dims}]`);
  }
  cropSession ??= ort.InferenceSession.create(cropModel(), sessionOptions(loadedWith.ep, loadedWith.threads));
  const session = await cropSession;
  const ends = new ort.Tensor("int64", BigInt64Array.of(BigInt(rows), BigInt(cols)), [2]);
  const { y } = await session.run({ x: tensor, ends }, ["y"]);
  disposeDevice(tensor);
  return y!;
}
// onnxruntime prints its own multi-line errors on stderr; the engine reports failures itself, in one line.
ort.env.logLevel = "fatal";

async function handle(request: WorkerRequest): Promise<[WorkerReply, Transferable[]]> {
  const id = request.id;
  if (request.op === "probe") {
    const session = await ort.InferenceSession.create(probeModel(), {
      executionProviders: [request.ep],
      logSeverityLevel: 4,
    });
    await session.release();
    return [{ id, ok: true }, []];
  }
  if (request.op === "put") {
    const t = request.tensor;
    const info = keepResident(request.handle, new ort.Tensor(t.type, t.data as ort.Tensor.DataType, t.dims));
    return [{ id, ok: true, kept: { tensor: info } }, []];
  }
  if (request.op === "fetch") {
    const value = residentTensor(request.handle);
    const data = ((await hostData(value)) as Tensor["data"]).slice() as Tensor["data"];
    const outputs = { tensor: { type: value.type as Tensor["type"], dims: [...value.dims], data } };
    return [{ id, ok: true, outputs }, [data.buffer as ArrayBuffer]];
  }
  if (request.op === "resident") return [{ id, ok: true, count: resident.size, bytes: residentBytes }, []];
  if (request.op === "free") {
    for (const handle of request.handles) {
      failedIds.delete(handle);
      const tensor = resident.get(handle);
      if (!tensor) continue;
      resident.delete(handle);
      residentBytes -= byteSize(tensor);
      disposeDevice(tensor);
    }
    return [{ id, ok: true }, []];
  }
  if (request.op === "load") {
    loadedWith = { ep: request.ep, threads: request.threads };
    if (!sessions.has(request.key)) {
      sessions.set(
        request.key,
        await ort.InferenceSession.create(request.model, sessionOptions(request.ep, request.threads)),
      );
    }
    return [{ id, ok: true }, []];
  }
  if (request.op === "batch") return await runBatch(id, request.parts);
  return await runModels(id, request);
}

/**
 * Runs the parts of a fused batch in order, as if each had been its own request, and answers them in one reply.
 * A failed part does not stop the others: the ids it should have kept are marked failed, so only the parts fed by
 * them fail (with its message).
 */
async function runBatch(id: number, parts: BatchPart[]): Promise<[WorkerReply, Transferable[]]> {
  const replies: PartReply[] = [];
  const transfer: Transferable[] = [];
  for (const part of parts) {
    try {
      const [reply, moved] = await runModels(0, { ...part, id: 0 } as Extract<WorkerRequest, { op: "run" | "chain" }>);
      replies.push(reply as WorkerReply & { ok: true });
      transfer.push(...moved);
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      for (const spec of Object.values({ ...part.keep, ...("keepFeeds" in part ? part.keepFeeds : {}) })) {
        if (!resident.has(spec.id)) failedIds.set(spec.id, message);
      }
      replies.push({ ok: false, error: message });
    }
  }
  return [{ id, ok: true, parts: replies }, transfer];
}

/** Runs one model (`run`) or several back to back (`chain`). */
async function runModels(
  id: number,
  request: Extract<WorkerRequest, { op: "run" | "chain" }>,
): Promise<[WorkerReply, Transferable[]]> {
  const steps: ChainStep[] = request.op === "chain"
    ? request.steps
    : [{ key: request.key, feeds: request.feeds, fetches: request.fetches }];
  const keep = request.keep ?? {};
  const keepFeeds = request.op === "run" ? request.keepFeeds ?? {} : {};
  const kept: Record<string, ResidentInfo> = {};
  const results: Record<string, ort.Tensor>[] = [];
  const stepMs: number[] = [];
  const start = performance.now();
  for (const step of steps) {
    const session = sessions.get(step.key);
    if (!session) throw new Error(`model '${step.key}' is not loaded in this worker`);
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(step.feeds)) {
      if ("handle" in feed) {
        feeds[name] = residentTensor(feed.handle);
      } else if ("from" in feed) {
        // An earlier step's output, passed on as it is: on a GPU provider it stays in device memory.
        const earlier = results[feed.from.step]?.[feed.from.name];
        if (!earlier) {
          throw new Error(`chain step '${step.key}': no output '${feed.from.name}' of step ${feed.from.step}`);
        }
        feeds[name] = earlier;
      } else {
        feeds[name] = new ort.Tensor(feed.type, feed.data as ort.Tensor.DataType, feed.dims);
        const spec = keepFeeds[name];
        if (spec) kept[`@feed:${name}`] = keepResident(spec.id, feeds[name]!);
      }
    }
    const stepStart = performance.now();
    results.push(await session.run(feeds, step.fetches));
    stepMs.push(performance.now() - stepStart);
  }
  const runMs = stepMs.reduce((a, b) => a + b, 0);
  const outputs: Record<string, Tensor> = {};
  const keptTensors = new Set<ort.Tensor>();
  const transfer: Transferable[] = [];
  for (const name of steps.at(-1)!.fetches) {
    const value = results.at(-1)![name]!;
    const spec = keep[name];
    if (spec) {
      keptTensors.add(value);
      const cropped = spec.crop ? await crop(value, spec.crop[0], spec.crop[1]) : value;
      keptTensors.add(cropped);
      kept[name] = keepResident(spec.id, cropped);
      continue;
    }
    let data = (await hostData(value)) as Tensor["data"];
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice() as Tensor["data"];
    transfer.push(data.buffer as ArrayBuffer);
    outputs[name] = { type: value.type as Tensor["type"], dims: [...value.dims], data };
  }
  // Resident feeds and kept outputs live on; every other intermediate is released.
  const held = new Set(resident.values());
  for (const result of results) {
    for (const t of Object.values(result)) if (!keptTensors.has(t) && !held.has(t)) disposeDevice(t);
  }
  const reply: WorkerReply = { id, ok: true, outputs, runMs, stepMs, startEpochMs: performance.timeOrigin + start };
  if (Object.keys(kept).length) reply.kept = kept;
  return [reply, transfer];
}

/** Frees a device-resident tensor (GPU buffer) once its chain is done; host tensors are left to the GC. */
function disposeDevice(tensor: ort.Tensor): void {
  if (tensor.location !== "cpu" && tensor.location !== "cpu-pinned") tensor.dispose();
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  queue = queue.then(async () => {
    try {
      const [reply, transfer] = await handle(request);
      if (request.op !== "free") self.postMessage(reply, transfer);
    } catch (error) {
      self.postMessage({ id: request.id, ok: false, error: (error as Error).message ?? String(error) });
    }
  });
};
