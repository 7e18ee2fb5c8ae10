/**
 * YUV4MPEG2 (`ffmpeg -f yuv4mpegpipe`): parsing and writing, with the colour conversions. The header
 * carries size and frame rate, which makes it the pipe format between ffmpeg and Segflow.
 * Colours: BT.601, limited range unless the header says `XCOLORRANGE=FULL` (ffmpeg's default for
 * `rgb24 -> yuv420p`).
 *
 * @module
 */

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
 * Parses a `YUV4MPEG2 ...` header line.
 *
 * @throws {SyntaxError} for a line that is not a y4m header or an unsupported colour space.
 */
export function parseY4mHeader(line: string): Y4mHeader {
  const words = line.trim().split(" ");
  if (words[0] !== "YUV4MPEG2") throw new SyntaxError("not a YUV4MPEG2 stream (expected 'YUV4MPEG2' header)");
  const header: Y4mHeader = { width: 0, height: 0, fps: 25, chroma: "420", fullRange: false };
  for (const word of words.slice(1)) {
    const value = word.slice(1);
    switch (word[0]) {
      case "W":
        header.width = Number(value);
        break;
      case "H":
        header.height = Number(value);
        break;
      case "F": {
        const [num, den] = value.split(":").map(Number);
        if (num && den) header.fps = num / den;
        break;
      }
      case "I":
        if (value !== "p" && value !== "?") throw new SyntaxError(`interlaced y4m ('I${value}') is not supported`);
        break;
      case "C":
        if (value.startsWith("420")) header.chroma = "420";
        else if (value.startsWith("444") && !value.includes("alpha")) header.chroma = "444";
        else if (value === "mono") header.chroma = "mono";
        else throw new SyntaxError(`y4m colour space 'C${value}' is not supported (use 420, 444 or mono, 8-bit)`);
        if (/p1[0-6]/.test(value)) throw new SyntaxError(`y4m colour space 'C${value}' is not 8-bit`);
        break;
      case "X":
        if (value === "COLORRANGE=FULL") header.fullRange = true;
        break;
    }
  }
  if (!(header.width > 0 && header.height > 0)) throw new SyntaxError("y4m header has no valid W and H");
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

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Converts one y4m frame's planes to interleaved RGB. */
export function yuvToRgb(planes: Uint8Array, h: Y4mHeader): Uint8Array {
  const { width, height } = h;
  const rgb = new Uint8Array(width * height * 3);
  const luma = width * height;
  const cw = h.chroma === "420" ? Math.ceil(width / 2) : width;
  const ch = h.chroma === "420" ? Math.ceil(height / 2) : height;
  const uOffset = luma;
  const vOffset = luma + cw * ch;
  // BT.601 coefficients; limited range maps Y 16..235 and C 16..240 to full scale.
  const ys = h.fullRange ? 1 : 255 / 219;
  const cs = h.fullRange ? 1 : 255 / 224;
  const y0 = h.fullRange ? 0 : 16;
  for (let y = 0; y < height; y++) {
    const crow = (h.chroma === "420" ? y >> 1 : y) * cw;
    for (let x = 0; x < width; x++) {
      const Y = (planes[y * width + x]! - y0) * ys;
      let r = Y, g = Y, b = Y;
      if (h.chroma !== "mono") {
        const c = crow + (h.chroma === "420" ? x >> 1 : x);
        const U = (planes[uOffset + c]! - 128) * cs;
        const V = (planes[vOffset + c]! - 128) * cs;
        r = Y + 1.402 * V;
        g = Y - 0.344136 * U - 0.714136 * V;
        b = Y + 1.772 * U;
      }
      const p = 3 * (y * width + x);
      rgb[p] = clamp(Math.round(r));
      rgb[p + 1] = clamp(Math.round(g));
      rgb[p + 2] = clamp(Math.round(b));
    }
  }
  return rgb;
}

/** Converts interleaved RGB to limited-range BT.601 4:2:0 planes (chroma averaged over 2x2 blocks). */
export function rgbToYuv420(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const out = new Uint8Array(width * height + 2 * cw * ch);
  const uOffset = width * height;
  const vOffset = uOffset + cw * ch;
  for (let p = 0, i = 0; p < width * height; p++, i += 3) {
    const r = rgb[i]!, g = rgb[i + 1]!, b = rgb[i + 2]!;
    out[p] = (16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256 + 0.5) | 0;
  }
  for (let cy = 0; cy < ch; cy++) {
    for (let cx = 0; cx < cw; cx++) {
      let r = 0, g = 0, b = 0, n = 0;
      for (let dy = 0; dy < 2; dy++) {
        const y = 2 * cy + dy;
        if (y >= height) continue;
        for (let dx = 0; dx < 2; dx++) {
          const x = 2 * cx + dx;
          if (x >= width) continue;
          const i = 3 * (y * width + x);
          r += rgb[i]!;
          g += rgb[i + 1]!;
          b += rgb[i + 2]!;
          n++;
        }
      }
      r /= n;
      g /= n;
      b /= n;
      const c = cy * cw + cx;
      out[uOffset + c] = (128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256 + 0.5) | 0;
      out[vOffset + c] = (128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256 + 0.5) | 0;
    }
  }
  return out;
}
