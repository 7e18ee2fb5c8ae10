/**
 * Builds small ONNX models in memory: the engine's per-pixel math (argmax, resize, warp, fuse) as real
 * ONNX graphs, so it runs on the session's execution provider with onnxruntime's optimised kernels.
 *
 * @example
 * ```ts
 * const bytes = buildModel({
 *   inputs: [{ name: "scores", type: "float32", shape: [1, "C", "H", "W"] }],
 *   outputs: [{ name: "labels", type: "int64", shape: [1, "H", "W"] }],
 *   nodes: [node("ArgMax", ["scores"], ["labels"], { axis: int(1), keepdims: int(0) })],
 * });
 * ```
 *
 * @module
 */
import { ProtoWriter } from "./protobuf.ts";

/** Element types the engine exchanges with models. */
export type TensorType = "float32" | "uint8" | "int8" | "int32" | "int64" | "bool" | "float16";

/** ONNX TensorProto.DataType codes for each element type. */
export const onnxTypeCode: Record<TensorType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
};

/** A graph input or output: a name, an element type and a shape (numbers fixed, strings symbolic). */
export interface ValueSpec {
  name: string;
  type: TensorType;
  shape: (number | string)[];
}

/** An attribute value, tagged with its ONNX attribute type. */
export type Attribute =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "string"; value: string }
  | { kind: "ints"; value: number[] }
  | { kind: "floats"; value: number[] };

/** An integer attribute. */
export const int = (value: number): Attribute => ({ kind: "int", value });
/** A float attribute. */
export const float = (value: number): Attribute => ({ kind: "float", value });
/** A string attribute. */
export const str = (value: string): Attribute => ({ kind: "string", value });
/** A list-of-integers attribute. */
export const ints = (value: number[]): Attribute => ({ kind: "ints", value });
/** A list-of-floats attribute. */
export const floats = (value: number[]): Attribute => ({ kind: "floats", value });

/** One operator node. */
export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, Attribute>;
  name?: string;
}

/** A constant tensor stored in the model. */
export interface InitializerSpec {
  name: string;
  type: TensorType;
  dims: number[];
  data: Float32Array | Uint8Array | Int32Array | BigInt64Array;
}

/** Shorthand for a {@linkcode NodeSpec}. */
export function node(
  op: string,
  inputs: string[],
  outputs: string[],
  attributes?: Record<string, Attribute>,
): NodeSpec {
  return attributes ? { op, inputs, outputs, attributes } : { op, inputs, outputs };
}

/** A float32 initializer. */
export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): InitializerSpec {
  return { name, type: "float32", dims, data: Float32Array.from(values) };
}

/** A float32 scalar (0-d) initializer. */
export function float32Scalar(name: string, value: number): InitializerSpec {
  return { name, type: "float32", dims: [], data: Float32Array.of(value) };
}

/** An int64 initializer (shapes, axes, sizes). */
export function int64Tensor(name: string, dims: number[], values: number[]): InitializerSpec {
  return { name, type: "int64", dims, data: BigInt64Array.from(values.map(BigInt)) };
}

/** What {@linkcode buildModel} needs. */
export interface ModelSpec {
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: NodeSpec[];
  initializers?: InitializerSpec[];
  /** Default-domain opset; 17 unless given. */
  opset?: number;
  name?: string;
}

const attributeTypeCode = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

/** Encodes a NodeProto. */
export function encodeNode(w: ProtoWriter, spec: NodeSpec): void {
  for (const input of spec.inputs) w.string(1, input);
  for (const output of spec.outputs) w.string(2, output);
  if (spec.name) w.string(3, spec.name);
  w.string(4, spec.op);
  for (const [name, attr] of Object.entries(spec.attributes ?? {})) {
    w.message(5, (a) => {
      a.string(1, name);
      if (attr.kind === "float") a.float(2, attr.value);
      else if (attr.kind === "int") a.int(3, attr.value);
      else if (attr.kind === "string") a.string(4, attr.value);
      else if (attr.kind === "floats") { for (const v of attr.value) a.float(7, v); }
      else for (const v of attr.value) a.int(8, v);
      a.int(20, attributeTypeCode[attr.kind]);
    });
  }
}

/** Encodes a ValueInfoProto. */
export function encodeValueInfo(w: ProtoWriter, spec: ValueSpec): void {
  w.string(1, spec.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, onnxTypeCode[spec.type]);
      tensor.message(2, (shape) => {
        for (const dim of spec.shape) {
          shape.message(1, (d) => typeof dim === "number" ? d.int(1, dim) : d.string(2, dim));
        }
      });
    }));
}

/** Encodes a TensorProto with raw little-endian data. */
export function encodeInitializer(w: ProtoWriter, spec: InitializerSpec): void {
  w.packedInts(1, spec.dims);
  w.int(2, onnxTypeCode[spec.type]);
  w.string(8, spec.name);
  w.bytes(9, new Uint8Array(spec.data.buffer, spec.data.byteOffset, spec.data.byteLength));
}

/** Encodes the body of a GraphProto (nodes, initializers, inputs, outputs). */
export function encodeGraphParts(
  w: ProtoWriter,
  parts: { nodes?: NodeSpec[]; initializers?: InitializerSpec[]; inputs?: ValueSpec[]; outputs?: ValueSpec[] },
): void {
  for (const n of parts.nodes ?? []) w.message(1, (m) => encodeNode(m, n));
  for (const t of parts.initializers ?? []) w.message(5, (m) => encodeInitializer(m, t));
  for (const v of parts.inputs ?? []) w.message(11, (m) => encodeValueInfo(m, v));
  for (const v of parts.outputs ?? []) w.message(12, (m) => encodeValueInfo(m, v));
}

/** Serialises a whole model (IR version 8) to ONNX bytes. */
export function buildModel(spec: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, 8);
  w.string(2, "segflow");
  w.message(7, (g) => {
    encodeGraphParts(g, { nodes: spec.nodes, initializers: spec.initializers ?? [] });
    g.string(2, spec.name ?? "segflow");
    encodeGraphParts(g, { inputs: spec.inputs, outputs: spec.outputs });
  });
  w.message(8, (o) => o.string(1, "").int(2, spec.opset ?? 17));
  return w.finish();
}
