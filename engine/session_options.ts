/**
 * How the model workers configure onnxruntime sessions, and how they bring outputs back to host memory. Pure
 * functions, so the GPU code path's logic is tested on machines without a GPU.
 *
 * @module
 */
import type * as ort from "onnxruntime-node";

/**
 * Session options for execution provider `ep` with `threads` intra-op threads. On WebGPU every output stays in a
 * GPU buffer (`preferredOutputLocation: "gpu-buffer"`), so a chain of sessions in one worker passes tensors on
 * without copying through host memory; outputs that leave the worker are downloaded by {@linkcode hostData}.
 */
export function sessionOptions(ep: string, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ep === "cpu" ? ["cpu"] : [ep, "cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    ...(ep === "webgpu" ? { preferredOutputLocation: "gpu-buffer" as const } : {}),
    // Idle pool threads sleep instead of spinning: on a few cores, spinning steals the CPU that decoding,
    // encoding and the other workers need between runs.
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  };
}

/** The parts of an onnxruntime tensor that {@linkcode hostData} reads. */
export interface DeviceAwareTensor {
  location?: string;
  data?: unknown;
  getData?: (releaseData?: boolean) => Promise<unknown>;
}

/**
 * A tensor's data in host memory: CPU tensors as they are; GPU-resident ones (`gpu-buffer`, `ml-tensor`, ...)
 * downloaded with `getData(true)`, which also releases the device buffer.
 */
export async function hostData(tensor: DeviceAwareTensor): Promise<unknown> {
  if (tensor.location === undefined || tensor.location === "cpu" || tensor.location === "cpu-pinned") {
    return tensor.data;
  }
  if (!tensor.getData) throw new Error(`cannot download a tensor from '${tensor.location}'`);
  return await tensor.getData(true);
}
