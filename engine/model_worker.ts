/**
 * The model worker: owns onnxruntime sessions and runs them off the main thread, because
 * `session.run()` blocks its thread for the whole inference. One session per model per worker, created
 * once; requests run one after another in arrival order. Output buffers are transferred, not copied.
 *
 * Protocol (see `model_pool.ts`): `probe`, `load`, `run`; each answered with the same `id`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as ort from "onnxruntime-node";
import type { Tensor } from "./tensor.ts";
import { probeModel } from "./providers.ts";

/** Messages from the pool to a worker. */
export type WorkerRequest =
  | { op: "probe"; id: number; ep: string }
  | { op: "load"; id: number; key: string; model: Uint8Array; ep: string; threads: number }
  | { op: "run"; id: number; key: string; feeds: Record<string, Tensor>; fetches: string[] };

/** Messages from a worker to the pool. */
export type WorkerReply =
  | { id: number; ok: true; outputs?: Record<string, Tensor>; runMs?: number; startEpochMs?: number }
  | { id: number; ok: false; error: string };

const sessions = new Map<string, ort.InferenceSession>();
// onnxruntime prints its own multi-line errors on stderr; the engine reports failures itself, in one line.
ort.env.logLevel = "fatal";

function sessionOptions(ep: string, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ep === "cpu" ? ["cpu"] : [ep, "cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    // Idle pool threads sleep instead of spinning: on a few cores, spinning steals the CPU that decoding,
    // encoding and the other workers need between runs.
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  };
}

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
  if (request.op === "load") {
    if (!sessions.has(request.key)) {
      sessions.set(
        request.key,
        await ort.InferenceSession.create(request.model, sessionOptions(request.ep, request.threads)),
      );
    }
    return [{ id, ok: true }, []];
  }
  const session = sessions.get(request.key);
  if (!session) throw new Error(`model '${request.key}' is not loaded in this worker`);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(request.feeds)) {
    feeds[name] = new ort.Tensor(t.type, t.data as ort.Tensor.DataType, t.dims);
  }
  const start = performance.now();
  const results = await session.run(feeds, request.fetches);
  const runMs = performance.now() - start;
  const outputs: Record<string, Tensor> = {};
  const transfer: Transferable[] = [];
  for (const name of request.fetches) {
    const value = results[name]!;
    let data = value.data as Tensor["data"];
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice() as Tensor["data"];
    transfer.push(data.buffer as ArrayBuffer);
    outputs[name] = { type: value.type as Tensor["type"], dims: [...value.dims], data };
  }
  return [{ id, ok: true, outputs, runMs, startEpochMs: performance.timeOrigin + start }, transfer];
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  queue = queue.then(async () => {
    try {
      const [reply, transfer] = await handle(request);
      self.postMessage(reply, transfer);
    } catch (error) {
      self.postMessage({ id: request.id, ok: false, error: (error as Error).message ?? String(error) });
    }
  });
};
