/**
 * The `video` sink: an overlay (or colour mask) video through ffmpeg (mp4/mkv/mov: H.264; webm: VP9).
 * The encoder starts at the first frame; the file is finalised when the stream ends, when the run fails
 * and on Ctrl-C (ffmpeg runs in its own process group, so the terminal's SIGINT does not cut it short:
 * Segflow closes its input and waits for it to write the trailer). A run of several inputs writes one video
 * per stream ({@linkcode streamPath}).
 *
 * @module
 */
import { dirname, extname } from "node:path";
import { defineStage, perFrame } from "../engine/stage.ts";
import { InputError } from "../engine/errors.ts";
import { tempPathFor, trackTemp, untrackTemp } from "../engine/atomic_write.ts";
import { collectStderr, spawnEncoder } from "../datasets/ffmpeg.ts";
import { pictureParams, picturePorts, renderFrame, sinkPalette } from "./_picture.ts";

/** Extensions the video sink writes. */
export const videoOutputExtensions = [".mp4", ".mkv", ".mov", ".m4v", ".webm", ".avi"];

/** The `video` sink kind. */
export const videoSink = defineStage({
  kind: "video",
  role: "sink",
  doc: "Write an overlay or colour-mask video with ffmpeg; finalised at the end and on Ctrl-C",
  params: {
    path: { type: "string", default: "out/video.mp4", doc: "output video file" },
    fps: { type: "number", min: 0.1, doc: "frame rate (default: the source's)" },
    ...pictureParams,
  },
  inputs: picturePorts,
  outputs: [],
  output: {
    param: "path",
    accepts: (target) => videoOutputExtensions.some((ext) => target.toLowerCase().endsWith(ext)),
  },
  writes: (p) => [{ param: "path", path: p.path, kind: "file" }],
  async create(ctx) {
    const table = sinkPalette(ctx, ctx.params.model, ctx.params.palette);
    const streams = ctx.source.streams;
    const perStream = ctx.params.path.includes("{stream}") || (streams !== undefined && streams.length > 1);
    await Deno.mkdir(dirname(ctx.params.path), { recursive: true });
    // One encoder per stream being written. The sequences of one listed input (a dataset: `<input>/<sequence>`)
    // come one after another, so a frame of its next sequence finishes the previous one: at most one ffmpeg per
    // such input at a time. Other streams (a worker's, a single input's) keep theirs to the end.
    const encoders = new Map<string, VideoFile>();
    const usedPaths = new Set<string>();
    const inputOf = (stream: string) => streams?.find((s) => !s.live && stream.startsWith(`${s.name}/`))?.name;
    ctx.onClose(async () => {
      const errors: unknown[] = [];
      for (const file of encoders.values()) await file.finish().catch((error) => errors.push(error));
      if (errors.length) throw errors[0];
    });
    return perFrame(ctx, async (frame) => {
      const image = renderFrame(ctx, frame, table, ctx.params.style, ctx.params.alpha);
      const key = perStream ? frame.stream : "";
      let file = encoders.get(key);
      if (!file) {
        if (perStream) {
          const input = inputOf(key);
          for (const [stream, open] of [...encoders]) {
            if (input === undefined || inputOf(stream) !== input) continue;
            encoders.delete(stream);
            await open.finish();
          }
        }
        // Two streams whose names differ only in '/' vs '_' get two files.
        let path = perStream ? streamPath(ctx.params.path, key) : ctx.params.path;
        for (let n = 2; usedPaths.has(path); n++) path = streamPath(ctx.params.path, `${key}_${n}`);
        usedPaths.add(path);
        const fps = ctx.params.fps ?? streams?.find((s) => s.name === frame.stream)?.fps ?? ctx.source.fps;
        encoders.set(key, file = new VideoFile(path, image.width, image.height, fps));
      }
      await file.write(image.width, image.height, image.data);
    });
  },
});

/**
 * The file of one stream when a run has several (or `path` has `{stream}`): `{stream}` replaced by the stream's
 * name, else the name put before the extension (`out.mp4` -> `out.cam1.mp4`); `/` in a name becomes `_`.
 *
 * @example
 * ```ts
 * streamPath("out/video.mp4", "cam1"); // => "out/video.cam1.mp4"
 * streamPath("out/{stream}.mp4", "davis/bear"); // => "out/davis_bear.mp4"
 * ```
 */
export function streamPath(path: string, stream: string): string {
  const name = stream.replace(/[\\/]/g, "_");
  if (path.includes("{stream}")) return path.replaceAll("{stream}", name);
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}.${name}${ext}`;
}

/**
 * One video being written: ffmpeg started at the first frame on a hidden temporary file (same extension, so the
 * same format), renamed into place once it exits cleanly, so a crash or a failed encode never leaves a truncated
 * video at `path`.
 */
class VideoFile {
  readonly #temp: string;
  readonly #size: string;
  readonly #starting: Promise<Encoder>;

  constructor(readonly path: string, width: number, height: number, fps: number) {
    this.#temp = tempPathFor(path, { keepExtension: true });
    trackTemp(this.#temp);
    this.#size = `${width}x${height}`;
    this.#starting = spawnEncoder(this.#temp, width, height, fps).then((child) => ({
      child,
      writer: child.stdin.getWriter(),
      stderr: collectStderr(child),
    }));
  }

  async write(width: number, height: number, data: Uint8Array): Promise<void> {
    if (this.#size !== `${width}x${height}`) {
      throw new RangeError(`frame is ${width}x${height} but the video ${this.path} is ${this.#size}`);
    }
    const encoder = await this.#starting;
    try {
      await encoder.writer.write(data);
    } catch {
      throw await this.#failure(encoder, "its input closed");
    }
  }

  /** Closes ffmpeg's input, waits for the trailer, and moves the file into place. */
  async finish(): Promise<void> {
    const encoder = await this.#starting.catch(() => undefined);
    untrackTemp(this.#temp);
    if (!encoder) return; // ffmpeg could not start: no temporary file was written
    await encoder.writer.close().catch(() => {});
    const status = await encoder.child.status;
    if (!status.success) {
      await Deno.remove(this.#temp).catch(() => {});
      throw await this.#failure(encoder, `exit code ${status.code}`);
    }
    await Deno.rename(this.#temp, this.path);
  }

  async #failure(encoder: Encoder, what: string): Promise<InputError> {
    const reason = (await encoder.stderr).split("\n").at(-1) || what;
    return new InputError(`${this.path}: ffmpeg could not write the video (${reason})`);
  }
}

interface Encoder {
  child: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  stderr: Promise<string>;
}
