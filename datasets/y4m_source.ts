/**
 * The `y4m` and `raw` sources: YUV4MPEG2 (size and rate in its header) or raw rgb24 frames (size given),
 * from a file or standard input (`-`). This is how `ffmpeg ... -f yuv4mpegpipe - | deno task run ...`
 * feeds Segflow. Reads are exact and pulled per frame: a slow graph stalls the writer through the pipe.
 *
 * @module
 */
import { InputError, UsageError } from "../engine/errors.ts";
import { assertFrameSize } from "../engine/frame_limits.ts";
import { defineSource, type FrameSource } from "../engine/source.ts";
import type { FrameInit } from "../engine/frame.ts";
import { ByteReader } from "./byte_reader.ts";
import { parseY4mHeader, y4mFrameSize, yuvToRgb } from "./y4m.ts";

async function openStream(path: string): Promise<{ stream: ReadableStream<Uint8Array>; name: string; close(): void }> {
  if (path === "-") return { stream: Deno.stdin.readable, name: "stdin", close() {} };
  try {
    const file = await Deno.open(path, { read: true });
    return { stream: file.readable, name: path, close: () => {} };
  } catch (error) {
    throw new InputError(`${path}: cannot open (${(error as Error).message})`);
  }
}

/** A y4m header line longer than this is corrupt (ffmpeg's are under 100 bytes). */
const maxHeaderBytes = 4096;

/** The `y4m` source kind. */
export const y4mSource = defineSource({
  kind: "y4m",
  doc: "YUV4MPEG2 frames from a file or stdin ('-'), e.g. from 'ffmpeg -f yuv4mpegpipe -'",
  params: { path: { type: "string", default: "-", doc: "file, or '-' for stdin" } },
  input: {
    param: "path",
    accepts: (path) => path === "-" || path.toLowerCase().endsWith(".y4m"),
    layout: "y4m: '-' (stdin) or a .y4m file",
  },
  async open(p): Promise<FrameSource> {
    const { stream, name } = await openStream(p.path);
    const reader = new ByteReader(stream);
    let headerLine: string | null;
    try {
      headerLine = await reader.readLine(maxHeaderBytes);
    } catch {
      throw new InputError(`${name}: not a YUV4MPEG2 stream (no header line within ${maxHeaderBytes} bytes)`);
    }
    if (headerLine === null) throw new InputError(`${name}: empty input (expected a YUV4MPEG2 stream)`);
    let header;
    try {
      header = parseY4mHeader(headerLine);
    } catch (error) {
      throw new InputError(`${name}: ${(error as Error).message}`);
    }
    const frameBytes = y4mFrameSize(header);
    return {
      info: { name, width: header.width, height: header.height, fps: header.fps, live: false },
      async *frames(): AsyncGenerator<FrameInit> {
        for (let index = 0;; index++) {
          const marker = await reader.readLine(1024).catch(() => "");
          if (marker === null) return;
          if (!marker.startsWith("FRAME")) {
            throw new InputError(`${name}: frame ${index} does not start with 'FRAME' (corrupt or truncated stream)`);
          }
          const planes = await reader.read(frameBytes);
          if (planes === null || planes.length < frameBytes) {
            throw new InputError(
              `${name}: frame ${index} is truncated (${planes?.length ?? 0} of ${frameBytes} bytes)`,
            );
          }
          const image = { width: header.width, height: header.height, data: yuvToRgb(planes, header) };
          yield { index, timestamp: index / header.fps, image };
        }
      },
      close: () => reader.cancel(),
    };
  },
});

/**
 * Parses `WxH` and checks that it is a plausible frame size.
 *
 * @param where names the source in the message (`stdin`, a file).
 * @throws {UsageError} for text that is not `WIDTHxHEIGHT`; {@linkcode InputError} for an implausible size.
 */
export function parseSize(text: string, where = "--size"): { width: number; height: number } {
  const match = /^\s*([-+]?[\d.]+)\s*[xX]\s*([-+]?[\d.]+)\s*$/.exec(text);
  if (!match) throw new UsageError(`'--size' must be WIDTHxHEIGHT, got '${text.slice(0, 40)}'`);
  const side = (digits: string) => (/^\d{1,9}$/.test(digits) ? Number(digits) : NaN);
  const width = side(match[1]!), height = side(match[2]!);
  assertFrameSize(where, width, height, `${match[1]}x${match[2]}`);
  return { width, height };
}

function streamName(path: string): string {
  return path === "-" ? "stdin" : path;
}

/** The `raw` source kind. */
export const rawSource = defineSource({
  kind: "raw",
  doc: "Raw rgb24 frames of a given size from a file or stdin ('-')",
  params: {
    path: { type: "string", default: "-", doc: "file, or '-' for stdin" },
    size: { type: "string", required: true, doc: "frame size, WIDTHxHEIGHT" },
    fps: { type: "number", min: 0.1, default: 25, doc: "frame rate" },
  },
  check(p) {
    parseSize(p.size, streamName(p.path));
  },
  async open(p): Promise<FrameSource> {
    const { width, height } = parseSize(p.size, streamName(p.path));
    const { stream, name } = await openStream(p.path);
    const reader = new ByteReader(stream);
    const frameBytes = width * height * 3;
    return {
      info: { name, width, height, fps: p.fps, live: false },
      async *frames(): AsyncGenerator<FrameInit> {
        for (let index = 0;; index++) {
          const data = await reader.read(frameBytes);
          if (data === null) return;
          if (data.length < frameBytes) {
            throw new InputError(`${name}: frame ${index} is truncated (${data.length} of ${frameBytes} bytes)`);
          }
          yield { index, timestamp: index / p.fps, image: { width, height, data } };
        }
      },
      close: () => reader.cancel(),
    };
  },
});
