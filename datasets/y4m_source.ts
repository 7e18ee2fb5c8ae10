/**
 * The `y4m` and `raw` sources: YUV4MPEG2 (size and rate in its header) or raw rgb24 frames (size given),
 * from a file or standard input (`-`). This is how `ffmpeg ... -f yuv4mpegpipe - | deno task run ...`
 * feeds Segflow. Reads are exact and pulled per frame: a slow graph stalls the writer through the pipe.
 *
 * @module
 */
import { InputError, UsageError } from "../engine/errors.ts";
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
      headerLine = await reader.readLine();
    } catch {
      throw new InputError(`${name}: not a YUV4MPEG2 stream (no header line)`);
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

/** Parses `WxH`. */
export function parseSize(text: string): { width: number; height: number } {
  const match = /^(\d+)x(\d+)$/.exec(text);
  if (!match || !Number(match[1]) || !Number(match[2])) {
    throw new UsageError(`'--size' must be WIDTHxHEIGHT, got '${text}'`);
  }
  return { width: Number(match[1]), height: Number(match[2]) };
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
  async open(p): Promise<FrameSource> {
    const { width, height } = parseSize(p.size);
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
