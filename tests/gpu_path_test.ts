/**
 * The GPU code path's logic, tested on the CPU: WebGPU sessions keep outputs in GPU buffers, outputs leaving a
 * worker are downloaded (and their device buffers released), and a chain of sessions in one worker feeds later
 * steps with earlier outputs without a round trip through the main thread.
 */
import assert from "node:assert/strict";
import { ModelPool } from "../engine/model_pool.ts";
import { parseProvider } from "../engine/providers.ts";
import { buildModel, floatTensor, node } from "../engine/onnx/builder.ts";
import { hostData, sessionOptions } from "../engine/session_options.ts";

Deno.test("sessionOptions: WebGPU sessions keep every output in a GPU buffer; CPU and CUDA sessions do not", () => {
  assert.equal(sessionOptions("webgpu", 2).preferredOutputLocation, "gpu-buffer");
  assert.deepEqual(sessionOptions("webgpu", 2).executionProviders, ["webgpu", "cpu"]);
  assert.equal(sessionOptions("cpu", 2).preferredOutputLocation, undefined);
  assert.equal(sessionOptions("cuda", 1).preferredOutputLocation, undefined);
  assert.equal(sessionOptions("cpu", 3).intraOpNumThreads, 3);
});

Deno.test("hostData: CPU tensors as they are; GPU-resident ones downloaded with getData(release = true)", async () => {
  const data = Float32Array.of(1, 2, 3);
  assert.equal(await hostData({ location: "cpu", data }), data);
  const released: boolean[] = [];
  const gpu = {
    location: "gpu-buffer",
    getData: (release?: boolean) => (released.push(!!release), Promise.resolve(data)),
  };
  assert.equal(await hostData(gpu), data);
  assert.deepEqual(released, [true]);
  await assert.rejects(() => hostData({ location: "texture" }), /cannot download a tensor from 'texture'/);
});

/** y = x * factor + shift on a [1, 4] float tensor. */
function affineModel(factor: number, shift: number): Uint8Array {
  return buildModel({
    inputs: [{ name: "x", type: "float32", shape: [1, 4] }],
    outputs: [{ name: "y", type: "float32", shape: [1, 4] }],
    initializers: [floatTensor("factor", [1], [factor]), floatTensor("shift", [1], [shift])],
    nodes: [node("Mul", ["x", "factor"], ["scaled"]), node("Add", ["scaled", "shift"], ["y"])],
  });
}

Deno.test("ModelPool.runChain: later steps take earlier outputs inside the worker; same result as separate runs", async () => {
  const pool = await ModelPool.start({ workers: 1, provider: parseProvider("cpu") });
  try {
    await pool.load("double", affineModel(2, 0));
    await pool.load("plus-one", affineModel(1, 1));
    const x = { type: "float32" as const, dims: [1, 4], data: Float32Array.of(1, 2, 3, 4) };
    const chained = await pool.runChain([
      { key: "double", feeds: { x }, fetches: ["y"] },
      { key: "plus-one", feeds: { x: { from: { step: 0, name: "y" } } }, fetches: ["y"] },
    ]);
    assert.deepEqual([...chained.outputs.y!.data as Float32Array], [3, 5, 7, 9]);
    assert.equal(chained.stepMs.length, 2);
    const first = await pool.run("double", { x }, ["y"]);
    const second = await pool.run("plus-one", { x: first.outputs.y! }, ["y"]);
    assert.deepEqual([...second.outputs.y!.data as Float32Array], [...chained.outputs.y!.data as Float32Array]);
    await assert.rejects(
      () => pool.runChain([{ key: "double", feeds: { x: { from: { step: 3, name: "y" } } }, fetches: ["y"] }]),
      /no output 'y' of step 3/,
    );
  } finally {
    await pool.close();
  }
});
