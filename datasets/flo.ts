/**
 * Middlebury `.flo` optical-flow files: the tag "PIEH" (float32 202021.25), int32 width, int32 height,
 * then float32 (u, v) per pixel, row-major, little-endian. Values above 1e9 mark unknown flow.
 *
 * @module
 */

const tag = 202021.25;

/** Flow components whose magnitude exceeds this mark unknown flow (Middlebury's convention). */
export const unknownFlowThreshold = 1e9;

/** True when a `.flo` pixel's (u, v) is a known flow: both finite and at most {@linkcode unknownFlowThreshold}. */
export function isKnownFlow(u: number, v: number): boolean {
  return Math.abs(u) <= unknownFlowThreshold && Math.abs(v) <= unknownFlowThreshold;
}

/** Encodes interleaved (u, v) flow of `width x height` pixels. */
export function encodeFlo(flow: Float32Array, width: number, height: number): Uint8Array {
  if (flow.length !== width * height * 2) {
    throw new RangeError(`flow of ${width}x${height} needs ${width * height * 2} values, got ${flow.length}`);
  }
  const out = new Uint8Array(12 + flow.length * 4);
  const view = new DataView(out.buffer);
  view.setFloat32(0, tag, true);
  view.setInt32(4, width, true);
  view.setInt32(8, height, true);
  for (let i = 0; i < flow.length; i++) view.setFloat32(12 + 4 * i, flow[i]!, true);
  return out;
}

/**
 * Decodes a `.flo` file.
 *
 * @throws {SyntaxError} for a wrong tag, an implausible size or truncated data.
 */
export function decodeFlo(bytes: Uint8Array): { width: number; height: number; flow: Float32Array } {
  if (bytes.length < 12) throw new SyntaxError("not a .flo file (shorter than its header)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getFloat32(0, true) !== tag) throw new SyntaxError("not a .flo file (missing 'PIEH' tag)");
  const width = view.getInt32(4, true);
  const height = view.getInt32(8, true);
  if (width <= 0 || height <= 0 || width > 100_000 || height > 100_000) {
    throw new SyntaxError(`.flo file has an implausible size ${width}x${height}`);
  }
  const count = width * height * 2;
  if (bytes.length < 12 + count * 4) {
    throw new SyntaxError(`.flo file is truncated (${bytes.length - 12} of ${count * 4} data bytes)`);
  }
  const flow = new Float32Array(count);
  for (let i = 0; i < count; i++) flow[i] = view.getFloat32(12 + 4 * i, true);
  return { width, height, flow };
}
