/**
 * YUV4MPEG2 (`ffmpeg -f yuv4mpegpipe`): parsing and writing, with the colour conversions. The header
 * carries size and frame rate, which makes it the pipe format between ffmpeg and Segflow.
 * Colours: BT.601, limited range unless the header says `XCOLORRANGE=FULL` (ffmpeg's default for
 * `rgb24 -> yuv420p`).
 *
 * @module
 */
import { frameSizeProblem } from "../engine/frame_limits.ts";

/** What a y4m stream header says. */
export interface Y4mHeader {
  width: number;
  height: number;
  fps: number;
  /** `420` (any 4:2:0 siting), `444` or `mono`. */
  chroma: "420" | "444" | "mono";
  fullRange: boolean;
}

/**
 * Parses a `YUV4MPEG2 ...` header line. The frame size must be plausible ({@linkcode frameSizeProblem}),
 * so a corrupt header fails here rather than in an allocation.
 *
 * @throws {SyntaxError} for a line that is not a y4m header, a missing or implausible size, a bad frame rate or
 * an unsupported colour space.
 */
export function parseY4mHeader(line: string): Y4mHeader {
  const words = line.trim().split(" ").filter((word) => word !== "");
  if (words[0] !== "YUV4MPEG2") throw new SyntaxError("not a YUV4MPEG2 stream (expected 'YUV4MPEG2' header)");
  const header: Y4mHeader = { width: 0, height: 0, fps: 25, chroma: "420", fullRange: false };
  let width: string | undefined;
  let height: string | undefined;
  const seen = new Set<string>();
  for (const word of words.slice(1)) {
    const value = word.slice(1);
    if ("WHFIC".includes(word[0]!)) {
      if (seen.has(word[0]!)) throw new SyntaxError(`y4m header gives '${word[0]}' twice ('${word.slice(0, 40)}')`);
      seen.add(word[0]!);
    }
    switch (word[0]) {
      case "W":
        width = value;
        break;
      case "H":
        height = value;
        break;
      case "F": {
        const match = /^(\d+):(\d+)$/.exec(value);
        if (!match) throw new SyntaxError(`y4m frame rate 'F${value.slice(0, 40)}' is not 'F<num>:<den>'`);
        const num = Number(match[1]), den = Number(match[2]);
        // ffmpeg writes F0:0 for an unknown rate; keep the default then.
        if (num > 0 && den > 0) header.fps = num / den;
        else if (num !== 0 || den !== 0) throw new SyntaxError(`y4m frame rate 'F${value}' is not positive`);
        break;
      }
      case "I":
        if (value !== "p" && value !== "?") throw new SyntaxError(`interlaced y4m ('I${value}') is not supported`);
        break;
      case "C":
        if (value.startsWith("420")) header.chroma = "420";
        else if (value.startsWith("444") && !value.includes("alpha")) header.chroma = "444";
        else if (value === "mono") header.chroma = "mono";
        else {throw new SyntaxError(
            `y4m colour space 'C${value}' is not supported (use 420, 444 or mono, 8-bit: ffmpeg -pix_fmt yuv420p)`,
          );}
        if (/p1[0-6]/.test(value)) throw new SyntaxError(`y4m colour space 'C${value}' is not 8-bit`);
        break;
      case "X":
        if (value === "COLORRANGE=FULL") header.fullRange = true;
        break;
    }
  }
  if (width === undefined || height === undefined) {
    const missing = [width === undefined ? "W (width)" : "", height === undefined ? "H (height)" : ""];
    throw new SyntaxError(
      `y4m header has no ${missing.filter(Boolean).join(" and ")}; expected e.g. 'YUV4MPEG2 W640 H480 F25:1'`,
    );
  }
  // Only plain digits are sizes: Number() would also read '1e5', '0x10' or ' '.
  header.width = /^\d{1,9}$/.test(width) ? Number(width) : NaN;
  header.height = /^\d{1,9}$/.test(height) ? Number(height) : NaN;
  const problem = frameSizeProblem(header.width, header.height);
  if (problem) {
    throw new SyntaxError(`frame size ${width.slice(0, 20)}x${height.slice(0, 20)} is not plausible (${problem})`);
  }
  return header;
}

/** Bytes of one frame's planes. */
export function y4mFrameSize(h: Pick<Y4mHeader, "width" | "height" | "chroma">): number {
  const luma = h.width * h.height;
  if (h.chroma === "mono") return luma;
  if (h.chroma === "444") return luma * 3;
  return luma + 2 * Math.ceil(h.width / 2) * Math.ceil(h.height / 2);
}

/** The header line (with its newline) for writing y4m. */
export function formatY4mHeader(width: number, height: number, fps: number): string {
  const [num, den] = fpsFraction(fps);
  return `YUV4MPEG2 W${width} H${height} F${num}:${den} Ip A1:1 C420jpeg XYSCSS=420JPEG\n`;
}

function fpsFraction(fps: number): [number, number] {
  if (Number.isInteger(fps)) return [fps, 1];
  for (const den of [1001, 1000, 100]) {
    const num = Math.round(fps * den);
    if (Math.abs(num / den - fps) < 1e-6) return [num, den];
  }
  return [Math.round(fps * 1000), 1000];
}

/** Per-byte lookup tables for YUV -> RGB (BT.601), in the stream's range. */
function yuvTables(fullRange: boolean) {
  const y = new Float64Array(256);
  const rv = new Float64Array(256);
  const gu = new Float64Array(256);
  const gv = new Float64Array(256);
  const bu = new Float64Array(256);
  // Limited range maps Y 16..235 and C 16..240 to full scale.
  const ys = fullRange ? 1 : 255 / 219;
  const cs = fullRange ? 1 : 255 / 224;
  for (let i = 0; i < 256; i++) {
    const c = (i - 128) * cs;
    y[i] = (i - (fullRange ? 0 : 16)) * ys;
    rv[i] = 1.402 * c;
    gu[i] = -0.344136 * c;
    gv[i] = -0.714136 * c;
    bu[i] = 1.772 * c;
  }
  return { y, rv, gu, gv, bu };
}

const tables = { full: yuvTables(true), limited: yuvTables(false) };

/** Converts one y4m frame's planes to interleaved RGB. */
export function yuvToRgb(planes: Uint8Array, h: Y4mHeader): Uint8Array {
  const { width, height } = h;
  // Stores into a clamped array round and clamp to 0..255 natively.
  const rgb = new Uint8ClampedArray(width * height * 3);
  const t = h.fullRange ? tables.full : tables.limited;
  const luma = width * height;
  if (h.chroma === "mono") {
    for (let p = 0, i = 0; p < luma; p++, i += 3) rgb[i] = rgb[i + 1] = rgb[i + 2] = t.y[planes[p]!]!;
    return new Uint8Array(rgb.buffer);
  }
  const subsampled = h.chroma === "420";
  const cw = subsampled ? Math.ceil(width / 2) : width;
  const ch = subsampled ? Math.ceil(height / 2) : height;
  const uOffset = luma;
  const vOffset = luma + cw * ch;
  for (let y = 0; y < height; y++) {
    const crow = (subsampled ? y >> 1 : y) * cw;
    let i = 3 * y * width;
    for (let x = 0; x < width; x++, i += 3) {
      const c = crow + (subsampled ? x >> 1 : x);
      const u = planes[uOffset + c]!;
      const v = planes[vOffset + c]!;
      const Y = t.y[planes[y * width + x]!]!;
      rgb[i] = Y + t.rv[v]!;
      rgb[i + 1] = Y + t.gu[u]! + t.gv[v]!;
      rgb[i + 2] = Y + t.bu[u]!;
    }
  }
  return new Uint8Array(rgb.buffer);
}

/** Converts interleaved RGB to limited-range BT.601 4:2:0 planes (chroma averaged over 2x2 blocks). */
export function rgbToYuv420(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const out = new Uint8Array(width * height + 2 * cw * ch);
  const uOffset = width * height;
  const vOffset = uOffset + cw * ch;
  for (let p = 0, i = 0; p < width * height; p++, i += 3) {
    out[p] = (16.5 + (65.738 * rgb[i]! + 129.057 * rgb[i + 1]! + 25.064 * rgb[i + 2]!) / 256) | 0;
  }
  for (let cy = 0; cy < ch; cy++) {
    const y0 = 2 * cy;
    const y1 = Math.min(y0 + 1, height - 1);
    for (let cx = 0; cx < cw; cx++) {
      const x0 = 2 * cx;
      const x1 = Math.min(x0 + 1, width - 1);
      // Blocks on an odd-sized edge repeat their last row or column.
      const a = 3 * (y0 * width + x0), b = 3 * (y0 * width + x1), c = 3 * (y1 * width + x0), d = 3 * (y1 * width + x1);
      const r = (rgb[a]! + rgb[b]! + rgb[c]! + rgb[d]!) / 4;
      const g = (rgb[a + 1]! + rgb[b + 1]! + rgb[c + 1]! + rgb[d + 1]!) / 4;
      const bl = (rgb[a + 2]! + rgb[b + 2]! + rgb[c + 2]! + rgb[d + 2]!) / 4;
      const k = cy * cw + cx;
      out[uOffset + k] = (128.5 + (-37.945 * r - 74.494 * g + 112.439 * bl) / 256) | 0;
      out[vOffset + k] = (128.5 + (112.439 * r - 94.154 * g - 18.285 * bl) / 256) | 0;
    }
  }
  return out;
}
