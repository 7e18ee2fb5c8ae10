/**
 * The `video` source: any file ffmpeg reads, decoded to RGB frame by frame through a pipe. Only the frames
 * being read are in memory; a stalled graph stalls ffmpeg through the pipe. A damaged or truncated file
 * (ffmpeg complains, or fewer frames than the container declares) fails after its good frames, naming
 * the last good one; with `allow_partial` that is a warning.
 *
 * @module
 */
import { basename } from "node:path";
import { InputError } from "../engine/errors.ts";
import { defineSource } from "../engine/source.ts";
import type { FrameInit } from "../engine/frame.ts";
import { ByteReader } from "./byte_reader.ts";
import { assertFrameSize } from "../engine/frame_limits.ts";
import { spawnDecoder } from "./ffmpeg.ts";
import { probeVideo } from "./ffmpeg_probe.ts";
import { damageReport, DecodeWatch } from "./decode_watch.ts";

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
    allow_partial: {
      type: "boolean",
      default: false,
      doc: "a damaged or truncated video gives a warning and the frames ffmpeg could decode (--allow-partial)",
    },
  },
  input: {
    param: "path",
    accepts: (path) => videoExtensions.some((ext) => path.toLowerCase().endsWith(ext)),
    layout: `video: a file ending in ${videoExtensions.join(", ")}`,
  },
  async open(p) {
    const info = await probeVideo(p.path);
    assertFrameSize(p.path, info.width, info.height);
    const fps = p.fps ?? info.fps;
    const child = await spawnDecoder(p.path);
    let good = 0;
    const watch = new DecodeWatch(child.stderr, p.path, info.format, () => good);
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
      await watch.done;
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
        let failure: string | undefined;
        const read = async () => {
          const data = await reader.read(frameBytes);
          if (data && data.length < frameBytes) {
            failure = `its last frame is cut short (${data.length} of ${frameBytes} bytes)`;
            return null;
          }
          return data;
        };
        const ended = async () => {
          const status = await child.status;
          await watch.done;
          if (!status.success && !closed) failure ??= `exit code ${status.code}`;
        };
        // A frame is delivered once the next one has been read (or the decoder has exited), so that
        // ffmpeg's complaint about it has had time to arrive: concealed frames are not passed on as good.
        let next = await read();
        if (next === null) await ended();
        while (next !== null) {
          const data = next;
          next = await read();
          if (next === null) await ended();
          if (watch.codecComplained && !p.allow_partial) break;
          // Counted before the yield: a complaint arriving while this frame is out places the damage after it.
          const index = good++;
          yield { index, timestamp: index / fps, image: { width: info.width, height: info.height, data } };
        }
        const report = damageReport(p.path, good, info.frames, watch, failure);
        if (report === undefined) return;
        if (!p.allow_partial) throw new InputError(report);
        console.error(`warning: ${report}; kept the frames ffmpeg decoded (--allow-partial)`);
      },
      close,
    };
  },
});
