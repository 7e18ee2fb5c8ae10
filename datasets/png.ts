/**
 * PNG encoding for label maps (8-bit indexed, with a palette) and RGB images, and decoding of the PNG kinds a
 * general decoder would convert (raw label ids, 16-bit samples), using zlib from Node's standard library. Decoding
 * real datasets' images uses `sharp` (see the image-folder sources).
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

/** A PNG's header fields and its compressed image data, read from the chunks. */
interface PngChunks {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  interlace: number;
  idat: Uint8Array[];
}

/**
 * Reads the chunks of a PNG: the IHDR fields and the IDAT data. The header's size is checked before anything of
 * that size is allocated or inflated.
 *
 * @throws {SyntaxError} for bytes that are not a PNG, a truncated one, or one of implausible size.
 */
function readPngChunks(bytes: Uint8Array): PngChunks {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (bytes.length < 8 || signature.some((b, i) => bytes[i] !== b)) throw new SyntaxError("not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const png: PngChunks = { width: 0, height: 0, bitDepth: 0, colourType: -1, interlace: 0, idat: [] };
  let offset = 8;
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (data.length < length) throw new SyntaxError(`truncated PNG chunk '${type}'`);
    if (type === "IHDR" && length >= 13) {
      png.width = view.getUint32(offset + 8);
      png.height = view.getUint32(offset + 12);
      [png.bitDepth, png.colourType, png.interlace] = [data[8]!, data[9]!, data[12]!];
    } else if (type === "IDAT") png.idat.push(data);
    else if (type === "IEND") break;
    offset += 12 + length;
  }
  if (!png.width || !png.height) throw new SyntaxError("PNG has no IHDR chunk");
  const problem = frameSizeProblem(png.width, png.height);
  if (problem) throw new SyntaxError(`image size ${png.width}x${png.height} is not plausible (${problem})`);
  return png;
}

/** Inflates a non-interlaced PNG's image data and undoes its row filters: `rowBytes` bytes per row. */
function pngRows(png: PngChunks, rowBytes: number, bytesPerPixel: number): Uint8Array {
  if (png.idat.length === 0) throw new SyntaxError("truncated PNG image data");
  const size = (rowBytes + 1) * png.height;
  let raw: Uint8Array;
  try {
    raw = inflateSync(concatBytes(png.idat), { maxOutputLength: size });
  } catch (error) {
    throw new SyntaxError(`corrupt PNG image data (${(error as Error).message})`);
  }
  if (raw.length < size) throw new SyntaxError("truncated PNG image data");
  return unfilter(raw, rowBytes, png.height, bytesPerPixel);
}

/** Undoes PNG's per-row filters (none, sub, up, average, Paeth) on bytes, `bytesPerPixel` apart. */
function unfilter(raw: Uint8Array, rowBytes: number, height: number, bytesPerPixel: number): Uint8Array {
  const out = new Uint8Array(rowBytes * height);
  const none = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (rowBytes + 1)]!;
    if (filter > 4) throw new SyntaxError(`corrupt PNG: unknown filter ${filter} on row ${y}`);
    const line = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    const row = out.subarray(y * rowBytes, (y + 1) * rowBytes);
    const up = y > 0 ? out.subarray((y - 1) * rowBytes, y * rowBytes) : none;
    for (let x = 0; x < rowBytes; x++) {
      const a = x >= bytesPerPixel ? row[x - bytesPerPixel]! : 0;
      const b = up[x]!;
      const c = x >= bytesPerPixel ? up[x - bytesPerPixel]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      row[x] = (line[x]! + predictor) & 0xff;
    }
  }
  return out;
}

/**
 * Decodes an 8-bit greyscale or palette PNG to its raw values (class or object ids), without applying
 * the palette. Returns `undefined` for other PNG kinds (colour, 16-bit, interlaced), which callers decode
 * with a general decoder.
 *
 * @throws {SyntaxError} for bytes that are not a PNG or a truncated/corrupt one.
 */
export function decodeIndexedPng(bytes: Uint8Array): IndexedImage | undefined {
  const png = readPngChunks(bytes);
  if (png.bitDepth !== 8 || (png.colourType !== 0 && png.colourType !== 3) || png.interlace !== 0) return undefined;
  return { width: png.width, height: png.height, data: pngRows(png, png.width, 1) };
}

/** A non-interlaced PNG's raw samples, 8 or 16 bits, `channels` per pixel, before any colour conversion. */
export interface PngSamples {
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  samples: Uint16Array;
}

const channelsOfColourType: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

/**
 * Decodes grey, grey+alpha, RGB and RGBA PNGs of bit depth 8 or 16 (filters 0-4, not interlaced) to samples,
 * without the conversion to 8 bits a general decoder makes (KITTI's 16-bit flow). Palette, low-bit-depth and
 * interlaced PNGs are rejected.
 *
 * @throws {SyntaxError} for bytes that are not a PNG, a truncated/corrupt one, or a kind it does not decode.
 */
export function decodePngSamples(bytes: Uint8Array): PngSamples {
  const png = readPngChunks(bytes);
  const { width, height, bitDepth, colourType } = png;
  const channels = channelsOfColourType[colourType];
  if (channels === undefined) {
    throw new SyntaxError(`PNG colour type ${colourType} is not supported (grey, RGB, with or without alpha only)`);
  }
  if (bitDepth !== 8 && bitDepth !== 16) throw new SyntaxError(`PNG bit depth ${bitDepth} is not supported (8, 16)`);
  if (png.interlace !== 0) throw new SyntaxError("interlaced PNGs are not supported");
  const bytesPerPixel = channels * bitDepth / 8;
  const pixels = pngRows(png, width * bytesPerPixel, bytesPerPixel);
  const samples = new Uint16Array(width * height * channels);
  if (bitDepth === 8) samples.set(pixels);
  else for (let i = 0; i < samples.length; i++) samples[i] = (pixels[2 * i]! << 8) | pixels[2 * i + 1]!;
  return { width, height, channels, bitDepth, samples };
}
