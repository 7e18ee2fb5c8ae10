/**
 * The `video` source: any file ffmpeg reads, decoded to RGB frame by frame through a pipe. Only the frame
 * being read is in memory; a stalled graph stalls ffmpeg through the pipe.
 *
 * @module
 */
import { basename } from "node:path";
import { InputError } from "../engine/errors.ts";
import { defineSource } from "../engine/source.ts";
import type { FrameInit } from "../engine/frame.ts";
import { ByteReader } from "./byte_reader.ts";
import { collectStderr, probeVideo, spawnDecoder } from "./ffmpeg.ts";

/** Extensions `--input` reads as video. */
export const videoExtensions = [
  ".mp4",
  ".avi",
  ".mkv",
  ".mov",
  ".webm",
  ".m4v",
  ".mpg",
  ".mpeg",
  ".wmv",
  ".flv",
  ".ts",
  ".mts",
  ".gif",
  ".ogv",
];

/** The `video` source kind. */
export const videoSource = defineSource({
  kind: "video",
  doc: "A video file (any format ffmpeg reads), streamed frame by frame",
  params: {
    path: { type: "string", required: true, doc: "video file" },
    fps: { type: "number", min: 0.1, doc: "override the frame rate the file states" },
  },
  input: {
    param: "path",
    accepts: (path) => videoExtensions.some((ext) => path.toLowerCase().endsWith(ext)),
    layout: `video: a file ending in ${videoExtensions.join(", ")}`,
  },
  async open(p) {
    const info = await probeVideo(p.path);
    const fps = p.fps ?? info.fps;
    const child = spawnDecoder(p.path);
    const stderr = collectStderr(child);
    const reader = new ByteReader(child.stdout);
    const frameBytes = info.width * info.height * 3;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await reader.cancel();
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await child.status;
      await stderr;
    };
    return {
      info: {
        name: basename(p.path),
        width: info.width,
        height: info.height,
        fps,
        ...(info.frames ? { frames: info.frames } : {}),
        live: false,
      },
      async *frames(): AsyncGenerator<FrameInit> {
        for (let index = 0;; index++) {
          const data = await reader.read(frameBytes);
          if (data === null) break;
          if (data.length < frameBytes) {
            throw new InputError(`${p.path}: frame ${index} is truncated (${data.length} of ${frameBytes} bytes)`);
          }
          yield { index, timestamp: index / fps, image: { width: info.width, height: info.height, data } };
        }
        const status = await child.status;
        if (!status.success && !closed) {
          const why = (await stderr).split("\n").at(-1) ?? `exit code ${status.code}`;
          throw new InputError(`${p.path}: ffmpeg failed while decoding (${why})`);
        }
      },
      close,
    };
  },
});
