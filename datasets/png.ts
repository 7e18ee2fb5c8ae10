/**
 * PNG encoding for label maps (8-bit indexed, with a palette) and RGB images, using zlib from Node's
 * standard library. Decoding real datasets uses `sharp` (see the image-folder sources).
 *
 * @module
 */
import { deflateSync } from "node:zlib";

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
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
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
