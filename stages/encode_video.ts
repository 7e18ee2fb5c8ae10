/**
 * The `video` sink: an overlay (or colour mask) video through ffmpeg (mp4/mkv/mov: H.264; webm: VP9).
 * The encoder starts at the first frame; the file is finalised when the stream ends, when the run fails
 * and on Ctrl-C (ffmpeg runs in its own process group, so the terminal's SIGINT does not cut it short:
 * Segflow closes its input and waits for it to write the trailer).
 *
 * @module
 */
import { dirname } from "node:path";
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
    const path = ctx.params.path;
    await Deno.mkdir(dirname(path), { recursive: true });
    // ffmpeg writes a hidden temporary file (same extension, so the same format) renamed into place once it
    // exits cleanly: a crash or a failed encode never leaves a truncated video at 'path'.
    const temp = tempPathFor(path, { keepExtension: true });
    trackTemp(temp);
    type Encoder = {
      child: Deno.ChildProcess;
      writer: WritableStreamDefaultWriter<Uint8Array>;
      stderr: Promise<string>;
    };
    let encoder: Encoder | undefined;
    // Set before the first await, so frames handled at once never start two encoders.
    let starting: Promise<Encoder> | undefined;
    let size = "";
    const failure = async (what: string) => {
      const reason = (await encoder?.stderr)?.split("\n").at(-1) || what;
      return new InputError(`${path}: ffmpeg could not write the video (${reason})`);
    };
    ctx.onClose(async () => {
      encoder = await starting?.catch(() => undefined);
      if (!encoder) {
        // No frame reached the sink (or ffmpeg could not start): no temporary file was written.
        untrackTemp(temp);
        return;
      }
      await encoder.writer.close().catch(() => {});
      const status = await encoder.child.status;
      untrackTemp(temp);
      if (!status.success) {
        await Deno.remove(temp).catch(() => {});
        throw await failure(`exit code ${status.code}`);
      }
      await Deno.rename(temp, path);
    });
    return perFrame(ctx, async (frame) => {
      const image = renderFrame(ctx, frame, table, ctx.params.style, ctx.params.alpha);
      if (!starting) {
        size = `${image.width}x${image.height}`;
        starting = spawnEncoder(temp, image.width, image.height, ctx.params.fps ?? ctx.source.fps).then((child) => ({
          child,
          writer: child.stdin.getWriter(),
          stderr: collectStderr(child),
        }));
      } else if (size !== `${image.width}x${image.height}`) {
        throw new RangeError(`frame is ${image.width}x${image.height} but the video is ${size}`);
      }
      encoder = await starting;
      try {
        await encoder.writer.write(image.data);
      } catch {
        throw await failure("its input closed");
      }
    });
  },
});
