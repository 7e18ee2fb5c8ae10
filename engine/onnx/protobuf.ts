/**
 * A minimal protocol-buffers wire-format writer and reader: just what is needed to build small ONNX
 * graphs at run time (warp, argmax, resize heads) and to read a model file's inputs and outputs without
 * loading onnxruntime. Field numbers are the caller's business.
 *
 * @module
 */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** Wire types of the protobuf encoding. */
export const WireType = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

/** Appends protobuf fields to a growing byte buffer. */
export class ProtoWriter {
  #chunks: Uint8Array[] = [];
  #length = 0;

  /** Total bytes written so far. */
  get length(): number {
    return this.#length;
  }

  #push(bytes: Uint8Array): void {
    this.#chunks.push(bytes);
    this.#length += bytes.length;
  }

  #varint(value: bigint | number): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.#push(Uint8Array.from(out));
  }

  #tag(field: number, wire: number): void {
    this.#varint((field << 3) | wire);
  }

  /** Writes an integer field (int32, int64, enum, bool) as a varint. */
  int(field: number, value: number | bigint): this {
    this.#tag(field, WireType.varint);
    this.#varint(value);
    return this;
  }

  /** Writes a float32 field. */
  float(field: number, value: number): this {
    this.#tag(field, WireType.fixed32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.#push(bytes);
    return this;
  }

  /** Writes a length-delimited field from raw bytes. */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WireType.bytes);
    this.#varint(value.length);
    this.#push(value);
    return this;
  }

  /** Writes a UTF-8 string field. */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** Writes an embedded message field. */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /** Writes a packed repeated varint field. */
  packedInts(field: number, values: ArrayLike<number | bigint>): this {
    const inner = new ProtoWriter();
    for (let i = 0; i < values.length; i++) inner.#varint(values[i]!);
    return this.bytes(field, inner.finish());
  }

  /** Returns the bytes written, as one array. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** One decoded field: its number, wire type and value (bigint for varints, bytes for the rest). */
export interface ProtoField {
  field: number;
  wire: number;
  varint: bigint;
  bytes: Uint8Array;
  /** Byte range of the whole field (tag included) in the message. */
  start: number;
  end: number;
}

/**
 * Iterates over the fields of one protobuf message.
 *
 * @throws {SyntaxError} when the bytes are not valid protobuf.
 */
export function* readFields(buf: Uint8Array): Generator<ProtoField> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new SyntaxError("Truncated protobuf varint");
      const byte = buf[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const start = pos;
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    let value = 0n;
    let bytes: Uint8Array = new Uint8Array(0);
    if (wire === WireType.varint) value = varint();
    else if (wire === WireType.fixed64) bytes = buf.subarray(pos, pos += 8);
    else if (wire === WireType.fixed32) bytes = buf.subarray(pos, pos += 4);
    else if (wire === WireType.bytes) {
      const length = Number(varint());
      bytes = buf.subarray(pos, pos += length);
    } else throw new SyntaxError(`Unsupported protobuf wire type ${wire}`);
    if (pos > buf.length) throw new SyntaxError("Truncated protobuf field");
    yield { field, wire, varint: value, bytes, start, end: pos };
  }
}

/** Decodes a UTF-8 string field value. */
export function decodeString(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}
