/**
 * Plain tensors exchanged between stages, workers and onnxruntime: an element type, dimensions and a
 * typed array. Plain data so they cross to workers by transfer, without copying.
 *
 * @module
 */
import type { TensorType } from "./onnx/builder.ts";

export type { TensorType };

/** The typed array holding a tensor's elements. */
export type TensorData =
  | Float32Array
  | Uint8Array
  | Int8Array
  | Int32Array
  | BigInt64Array
  | Uint16Array;

/** A dense tensor in row-major order. */
export interface Tensor {
  type: TensorType;
  dims: number[];
  data: TensorData;
}

/** Values a frame slot can hold. */
export type SlotValue = Tensor | number | boolean | string | SlotRecord;

/** Structured slot values (decisions, boxes, per-region records). */
export interface SlotRecord {
  [key: string]: unknown;
}

/** Number of elements implied by `dims`. */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** True when `value` is a {@linkcode Tensor}. */
export function isTensor(value: unknown): value is Tensor {
  return typeof value === "object" && value !== null && "dims" in value && "data" in value &&
    ArrayBuffer.isView((value as Tensor).data);
}

/**
 * Creates a tensor, checking that the data length matches the dimensions.
 *
 * @throws {RangeError} when `data.length` differs from the product of `dims`.
 */
export function tensor(type: TensorType, dims: number[], data: TensorData): Tensor {
  const expected = elementCount(dims);
  if (data.length !== expected) {
    throw new RangeError(`Tensor of shape [${dims}] needs ${expected} elements, got ${data.length}`);
  }
  return { type, dims, data };
}

/** Buffers to transfer (not copy) when posting tensors to a worker; shared or partial views are skipped. */
export function transferables(tensors: Iterable<Tensor>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of tensors) {
    const buffer = t.data.buffer;
    if (buffer instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === buffer.byteLength) {
      buffers.add(buffer);
    }
  }
  return [...buffers];
}
