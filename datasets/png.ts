/**
 * PNG encoding for label maps (8-bit indexed, with a palette) and RGB images, using zlib from Node's
 * standard library. Decoding real datasets uses `sharp` (see the image-folder sources).
 *
 * @module
 */
import { deflateSync, inflateSync } from "node:zlib";
import { concatBytes } from "../engine/bytes.ts";
import { frameSizeProblem } from "../engine/frame_limits.ts";

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function encode(
  width: number,
  height: number,
  colorType: 2 | 3,
  channels: number,
  pixels: Uint8Array,
  extra: Uint8Array[],
): Uint8Array {
  if (pixels.length !== width * height * channels) {
    throw new RangeError(
      `PNG of ${width}x${height}x${channels} needs ${width * height * channels} bytes, got ${pixels.length}`,
    );
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8;
  header[9] = colorType;
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const parts = [
    Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", header),
    ...extra,
    chunk("IDAT", deflateSync(raw, { level: 3 })),
    chunk("IEND", new Uint8Array(0)),
  ];
  return concatBytes(parts);
}

/**
 * Encodes a label map as an 8-bit indexed PNG: pixel values stay the class ids, viewers show the palette.
 *
 * @example
 * ```ts
 * await Deno.writeFile("labels.png", encodeIndexedPng(labels, 480, 360, camvidClasses.palette));
 * ```
 */
export function encodeIndexedPng(
  labels: Uint8Array,
  width: number,
  height: number,
  palette: readonly (readonly number[])[],
): Uint8Array {
  const colours = new Uint8Array(256 * 3);
  palette.forEach((rgb, i) => colours.set(rgb.slice(0, 3), i * 3));
  return encode(width, height, 3, 1, labels, [chunk("PLTE", colours)]);
}

/** Encodes an interleaved RGB image as a PNG. */
export function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  return encode(width, height, 2, 3, rgb, []);
}

/** An 8-bit single-channel image: class ids, object ids or grey levels. */
export interface IndexedImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * Decodes an 8-bit greyscale or palette PNG to its raw values (class or object ids), without applying
 * the palette. Returns `undefined` for other PNG kinds (colour, 16-bit, interlaced), which callers decode
 * with a general decoder.
 *
 * @throws {SyntaxError} for bytes that are not a PNG or a truncated/corrupt one.
 */
export function decodeIndexedPng(bytes: Uint8Array): IndexedImage | undefined {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (bytes.length < 8 || signature.some((b, i) => bytes[i] !== b)) throw new SyntaxError("not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 8;
  let width = 0, height = 0, bitDepth = 0, colorType = 0, interlace = 0;
  const idat: Uint8Array[] = [];
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (data.length < length) throw new SyntaxError(`truncated PNG chunk '${type}'`);
    if (type === "IHDR") {
      const h = new DataView(data.buffer, data.byteOffset, data.byteLength);
      width = h.getUint32(0);
      height = h.getUint32(4);
      bitDepth = data[8]!;
      colorType = data[9]!;
      interlace = data[12]!;
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    offset += 12 + length;
  }
  if (!width || !height) throw new SyntaxError("PNG has no IHDR chunk");
  // The header's size is checked before anything of that size is allocated or inflated.
  const problem = frameSizeProblem(width, height);
  if (problem) throw new SyntaxError(`image size ${width}x${height} is not plausible (${problem})`);
  if (bitDepth !== 8 || (colorType !== 0 && colorType !== 3) || interlace !== 0) return undefined;
  let raw: Uint8Array;
  try {
    raw = inflateSync(concatBytes(idat), { maxOutputLength: (width + 1) * height });
  } catch (error) {
    throw new SyntaxError(`corrupt PNG image data (${(error as Error).message})`);
  }
  if (raw.length < (width + 1) * height) throw new SyntaxError("truncated PNG image data");
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (width + 1)]!;
    const line = raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1));
    const row = out.subarray(y * width, (y + 1) * width);
    const up = y > 0 ? out.subarray((y - 1) * width, y * width) : undefined;
    for (let x = 0; x < width; x++) {
      const a = x > 0 ? row[x - 1]! : 0;
      const b = up ? up[x]! : 0;
      const c = up && x > 0 ? up[x - 1]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new SyntaxError(`corrupt PNG: unknown filter ${filter} on row ${y}`);
      row[x] = (line[x]! + predictor) & 0xff;
    }
  }
  return { width, height, data: out };
}
