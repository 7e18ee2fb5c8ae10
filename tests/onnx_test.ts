import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { buildModel, float, floatTensor, int, node } from "../engine/onnx/builder.ts";
import { extendModel, readModelSignature } from "../engine/onnx/inspect.ts";
import { ProtoWriter, readFields } from "../engine/onnx/protobuf.ts";

Deno.test("ProtoWriter/readFields round-trip varints (also negative int64), floats and nested messages", () => {
  const bytes = new ProtoWriter().int(1, 300).int(2, -5).float(3, 1.5).message(4, (m) => m.string(1, "hi")).finish();
  const fields = [...readFields(bytes)];
  assert.deepEqual(fields.map((f) => f.field), [1, 2, 3, 4]);
  assert.equal(fields[0]!.varint, 300n);
  assert.equal(BigInt.asIntN(64, fields[1]!.varint), -5n);
  assert.equal(new DataView(fields[2]!.bytes.slice().buffer).getFloat32(0, true), 1.5);
  assert.equal(new TextDecoder().decode([...readFields(fields[3]!.bytes)][0]!.bytes), "hi");
});

Deno.test("buildModel makes a model onnxruntime runs, and readModelSignature reads it back", async () => {
  const bytes = buildModel({
    inputs: [{ name: "x", type: "float32", shape: [1, "N"] }],
    outputs: [{ name: "y", type: "float32", shape: [1, "N"] }],
    initializers: [floatTensor("two", [1], [2])],
    nodes: [node("Mul", ["x", "two"], ["y"]), node("LeakyRelu", ["y"], ["unused"], { alpha: float(0.1) })],
  });
  assert.deepEqual(readModelSignature(bytes), {
    inputs: [{ name: "x", type: "float32", shape: [1, "N"] }],
    outputs: [{ name: "y", type: "float32", shape: [1, "N"] }],
    opsets: { "": 17 },
  });
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ x: new ort.Tensor("float32", Float32Array.from([1, -3]), [1, 2]) });
  assert.deepEqual([...(out.y!.data as Float32Array)], [2, -6]);
  await session.release();
});

Deno.test("extendModel appends nodes and outputs that onnxruntime merges into the graph", async () => {
  const bytes = buildModel({
    inputs: [{ name: "scores", type: "float32", shape: [1, 3, 1, 2] }],
    outputs: [{ name: "same", type: "float32", shape: [1, 3, 1, 2] }],
    nodes: [node("Identity", ["scores"], ["same"])],
  });
  const extended = extendModel(bytes, {
    nodes: [node("ArgMax", ["same"], ["labels"], { axis: int(1), keepdims: int(0) })],
    outputs: [{ name: "labels", type: "int64", shape: [1, 1, 2] }],
  });
  assert.deepEqual(readModelSignature(extended).outputs.map((o) => o.name), ["same", "labels"]);
  const session = await ort.InferenceSession.create(extended);
  const scores = Float32Array.from([0, 5, /* c1 */ 9, 1, /* c2 */ 1, 7]);
  const out = await session.run({ scores: new ort.Tensor("float32", scores, [1, 3, 1, 2]) });
  assert.deepEqual([...(out.labels!.data as BigInt64Array)], [1n, 2n]);
  await session.release();
});

Deno.test("readModelSignature rejects bytes that are not a model", () => {
  assert.throws(() => readModelSignature(new TextEncoder().encode("hello")), SyntaxError);
});
