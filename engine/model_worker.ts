/**
 * The model worker: owns onnxruntime sessions and runs them off the main thread, because
 * `session.run()` blocks its thread for the whole inference. One session per model per worker, created
 * once; requests run one after another in arrival order. Output buffers are transferred, not copied.
 *
 * Protocol (see `model_pool.ts`): `probe`, `load`, `run`, `chain`; each answered with the same `id`. A chain runs
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

/** A feed of a chained step: a host tensor, or output `name` of an earlier step of the same chain. */
export type ChainFeed = Tensor | { from: { step: number; name: string } };

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
  | { op: "run"; id: number; key: string; feeds: Record<string, Tensor>; fetches: string[] }
  | { op: "chain"; id: number; steps: ChainStep[] };

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
  }
  | { id: number; ok: false; error: string };

const sessions = new Map<string, ort.InferenceSession>();
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
  if (request.op === "load") {
    if (!sessions.has(request.key)) {
      sessions.set(
        request.key,
        await ort.InferenceSession.create(request.model, sessionOptions(request.ep, request.threads)),
      );
    }
    return [{ id, ok: true }, []];
  }
  const steps: ChainStep[] = request.op === "chain"
    ? request.steps
    : [{ key: request.key, feeds: request.feeds, fetches: request.fetches }];
  const results: Record<string, ort.Tensor>[] = [];
  const stepMs: number[] = [];
  const start = performance.now();
  for (const step of steps) {
    const session = sessions.get(step.key);
    if (!session) throw new Error(`model '${step.key}' is not loaded in this worker`);
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(step.feeds)) {
      if ("from" in feed) {
        // An earlier step's output, passed on as it is: on a GPU provider it stays in device memory.
        const earlier = results[feed.from.step]?.[feed.from.name];
        if (!earlier) {
          throw new Error(`chain step '${step.key}': no output '${feed.from.name}' of step ${feed.from.step}`);
        }
        feeds[name] = earlier;
      } else {
        feeds[name] = new ort.Tensor(feed.type, feed.data as ort.Tensor.DataType, feed.dims);
      }
    }
    const stepStart = performance.now();
    results.push(await session.run(feeds, step.fetches));
    stepMs.push(performance.now() - stepStart);
  }
  const runMs = stepMs.reduce((a, b) => a + b, 0);
  const outputs: Record<string, Tensor> = {};
  const transfer: Transferable[] = [];
  for (const name of steps.at(-1)!.fetches) {
    const value = results.at(-1)![name]!;
    let data = (await hostData(value)) as Tensor["data"];
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice() as Tensor["data"];
    transfer.push(data.buffer as ArrayBuffer);
    outputs[name] = { type: value.type as Tensor["type"], dims: [...value.dims], data };
  }
  for (const result of results) for (const t of Object.values(result)) disposeDevice(t);
  return [{ id, ok: true, outputs, runMs, stepMs, startEpochMs: performance.timeOrigin + start }, transfer];
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
      self.postMessage(reply, transfer);
    } catch (error) {
      self.postMessage({ id: request.id, ok: false, error: (error as Error).message ?? String(error) });
    }
  });
};
