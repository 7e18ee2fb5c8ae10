/**
 * Reads an ONNX model's signature (inputs, outputs, opsets) straight from its protobuf bytes, so graph
 * validation needs no inference session, and extends a model's graph with extra nodes (heads such as
 * resize + argmax) by appending protobuf fields, which protobuf merges into the existing graph.
 *
 * @module
 */
import { decodeString, ProtoWriter, readFields } from "./protobuf.ts";
import { concatBytes } from "../bytes.ts";
import {
  encodeGraphParts,
  encodeValueInfo,
  type InitializerSpec,
  type NodeSpec,
  onnxTypeCode,
  type TensorType,
  type ValueSpec,
} from "./builder.ts";

/** Inputs, outputs and operator sets of an ONNX model. */
export interface ModelSignature {
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  /** Opset version by domain ("" is the default ONNX domain). */
  opsets: Record<string, number>;
}

const typeByCode = new Map<number, TensorType>(
  Object.entries(onnxTypeCode).map(([name, code]) => [code, name as TensorType]),
);

function readValueInfo(bytes: Uint8Array): ValueSpec {
  let name = "";
  let type: TensorType | "unknown" = "unknown";
  const shape: (number | string)[] = [];
  for (const f of readFields(bytes)) {
    if (f.field === 1) name = decodeString(f.bytes);
    if (f.field !== 2) continue;
    for (const t of readFields(f.bytes)) {
      if (t.field !== 1) continue; // only tensor types
      for (const tensor of readFields(t.bytes)) {
        if (tensor.field === 1) type = typeByCode.get(Number(tensor.varint)) ?? "unknown";
        if (tensor.field !== 2) continue;
        for (const dim of readFields(tensor.bytes)) {
          if (dim.field !== 1) continue;
          let value: number | string = "?";
          for (const d of readFields(dim.bytes)) {
            if (d.field === 1) value = Number(d.varint);
            if (d.field === 2) value = decodeString(d.bytes);
          }
          shape.push(value);
        }
      }
    }
  }
  return { name, type: type as TensorType, shape };
}

/**
 * Reads the signature of an ONNX model.
 *
 * @throws {SyntaxError} when the bytes are not an ONNX model.
 */
export function readModelSignature(model: Uint8Array): ModelSignature {
  const inputs: ValueSpec[] = [];
  const outputs: ValueSpec[] = [];
  const initializerNames = new Set<string>();
  const opsets: Record<string, number> = {};
  let sawGraph = false;
  for (const f of readFields(model)) {
    if (f.field === 8) {
      let domain = "";
      let version = 0;
      for (const o of readFields(f.bytes)) {
        if (o.field === 1) domain = decodeString(o.bytes);
        if (o.field === 2) version = Number(o.varint);
      }
      opsets[domain === "ai.onnx" ? "" : domain] = version;
    }
    if (f.field !== 7) continue;
    sawGraph = true;
    for (const g of readFields(f.bytes)) {
      if (g.field === 5) {
        for (const t of readFields(g.bytes)) if (t.field === 8) initializerNames.add(decodeString(t.bytes));
      }
      if (g.field === 11) inputs.push(readValueInfo(g.bytes));
      if (g.field === 12) outputs.push(readValueInfo(g.bytes));
    }
  }
  if (!sawGraph) throw new SyntaxError("Not an ONNX model: no graph found");
  return { inputs: inputs.filter((i) => !initializerNames.has(i.name)), outputs, opsets };
}

/** Nodes, constants, inputs and outputs to add to an existing model's graph. */
export interface GraphExtension {
  nodes: NodeSpec[];
  inputs?: ValueSpec[];
  initializers?: InitializerSpec[];
  outputs: ValueSpec[];
}

/**
 * Returns a copy of `model` whose graph also computes `extension`. Existing fields are kept byte for byte;
 * the new ones are appended to the graph message, which protobuf parsers merge.
 */
export function extendModel(model: Uint8Array, extension: GraphExtension): Uint8Array {
  const extra = new ProtoWriter();
  encodeGraphParts(extra, {
    nodes: extension.nodes,
    initializers: extension.initializers ?? [],
    inputs: extension.inputs ?? [],
    outputs: extension.outputs,
  });
  const extraBytes = extra.finish();
  const parts: Uint8Array[] = [];
  for (const f of readFields(model)) {
    if (f.field !== 7) {
      parts.push(model.subarray(f.start, f.end));
      continue;
    }
    const graph = new Uint8Array(f.bytes.length + extraBytes.length);
    graph.set(f.bytes);
    graph.set(extraBytes, f.bytes.length);
    parts.push(new ProtoWriter().bytes(7, graph).finish());
  }
  return concatBytes(parts);
}

/** The symbolic name {@linkcode withBatchDimension} gives the first dimension. */
export const batchDimension = "segflow_batch";

/**
 * Returns a copy of `model` whose graph inputs and outputs declared with a first dimension of 1 take any batch
 * size (`segflow_batch`), so several frames can run as one call. Everything else is kept byte for byte; whether the
 * graph's nodes really allow a batch (no Reshape to a fixed 1, say) is for the caller to check by running it.
 */
export function withBatchDimension(model: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of readFields(model)) {
    if (f.field !== 7) {
      parts.push(model.subarray(f.start, f.end));
      continue;
    }
    const graph: Uint8Array[] = [];
    for (const g of readFields(f.bytes)) {
      const value = g.field === 11 || g.field === 12 ? readValueInfo(g.bytes) : undefined;
      // Unknown types or dims ("?") cannot be written back as they were: such values are left alone.
      if (!value || value.shape[0] !== 1 || (value.type as string) === "unknown" || value.shape.includes("?")) {
        graph.push(f.bytes.subarray(g.start, g.end));
        continue;
      }
      const shape = [batchDimension, ...value.shape.slice(1)];
      graph.push(new ProtoWriter().message(g.field, (m) => encodeValueInfo(m, { ...value, shape })).finish());
    }
    parts.push(new ProtoWriter().bytes(7, concatBytes(graph)).finish());
  }
  return concatBytes(parts);
}
