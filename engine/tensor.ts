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

/** What a worker says about a tensor once it holds it. */
export interface HandleShape {
  type: TensorType;
  dims: number[];
  bytes: number;
}

/**
 * A tensor kept resident in a model worker: the main thread holds its id, worker, element type, dimensions and
 * byte size, never its data. Feeding it to a model run in the same worker uses it in place; reading `.data` is an
 * internal error (the engine hands handles only to ports declared `resident`, see `engine/resident.ts`).
 *
 * A handle can be made before its run has happened (a fused call, see `engine/model_pool.ts`): it is *pending*
 * until the worker answers, and its type and dimensions are known only then. Feeding a pending handle to another
 * run is fine (the runs are fused); reading its shape on the main thread is an internal error.
 */
export class TensorHandle {
  #shape: HandleShape | undefined;
  #failure: Error | undefined;
  #ready: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(readonly id: number, readonly worker: number, shape?: HandleShape) {
    this.#shape = shape;
  }

  /** False until the run that makes it has answered. */
  get ready(): boolean {
    return this.#shape !== undefined;
  }

  /** Fills in a pending handle's shape (the pool, when its fused call answers). */
  settle(shape: HandleShape): void {
    this.#shape = shape;
    this.#ready?.resolve();
  }

  /** A pending handle's run failed (the pool): {@linkcode whenReady} rejects with `error`. */
  fail(error: Error): void {
    this.#failure = error;
    this.#ready?.reject(error);
  }

  /**
   * Resolves once the shape is known: for a stage that must check shapes on the main thread (it gives up fusing
   * with the runs after it: its worker sends the pending call when it is idle).
   */
  whenReady(): Promise<void> {
    if (this.#shape) return Promise.resolve();
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.#ready) {
      let resolve!: () => void, reject!: (error: Error) => void;
      const promise = new Promise<void>((res, rej) => [resolve, reject] = [res, rej]);
      this.#ready = { promise, resolve, reject };
    }
    return this.#ready.promise;
  }

  #known(what: string): HandleShape {
    if (!this.#shape) {
      throw new Error(
        `Internal error: the ${what} of resident tensor ${this.id} was read before the fused call making it ran; ` +
          "derive shapes inside the ONNX graph, or from the frame",
      );
    }
    return this.#shape;
  }

  get type(): TensorType {
    return this.#known("type").type;
  }

  get dims(): number[] {
    return this.#known("dimensions").dims;
  }

  /** Bytes it takes in the worker (0 while pending). */
  get bytes(): number {
    return this.#shape?.bytes ?? 0;
  }

  /** Never host data: a stage that reads it was handed a slot the engine kept in a worker. */
  get data(): never {
    throw new Error(
      `Internal error: tensor ${this.id} [${
        this.#shape?.dims ?? "pending"
      }] is resident in model worker ${this.worker} ` +
        "and was read as host data; only ports declared 'resident' may receive worker-resident tensors",
    );
  }

  /** What JSON writers (the jsonl sink) show for it: its shape, no data. */
  toJSON(): { type?: TensorType; dims?: number[]; resident: true } {
    return { ...(this.#shape ? { type: this.#shape.type, dims: this.#shape.dims } : {}), resident: true };
  }
}

/** A host tensor or a worker-resident one. */
export type TensorLike = Tensor | TensorHandle;

/** True when `value` is a {@linkcode TensorHandle}. */
export function isHandle(value: unknown): value is TensorHandle {
  return value instanceof TensorHandle;
}

/** Values a frame slot can hold. */
export type SlotValue = Tensor | TensorHandle | number | boolean | string | SlotRecord;

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
  if (value instanceof TensorHandle) return false;
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
