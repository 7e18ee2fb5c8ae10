/**
 * Runs an engine-built ONNX graph once in an onnxruntime-node session on the main thread (the tests and the
 * bench of the per-pixel graphs; the stages run the same bytes in the worker pool).
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import type { Tensor } from "../engine/tensor.ts";

/** Runs `graph` on `feeds` and returns every output as an engine tensor; the session is released afterwards. */
export async function runOnce(graph: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await ort.InferenceSession.create(graph);
  try {
    const out = await session.run(ortFeeds(feeds));
    return Object.fromEntries(
      Object.entries(out).map((
        [name, t],
      ) => [name, { type: t.type as Tensor["type"], dims: [...t.dims], data: t.data as Tensor["data"] }]),
    );
  } finally {
    await session.release();
  }
}

/** Engine tensors as onnxruntime tensors. */
export function ortFeeds(feeds: Record<string, Tensor>): Record<string, ort.Tensor> {
  return Object.fromEntries(
    Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor(t.type, t.data as Float32Array, t.dims)]),
  );
}
