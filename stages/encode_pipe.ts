/**
 * Stream sinks for pipes: `y4m` (colour labels or overlay as YUV4MPEG2, for `ffmpeg -f yuv4mpegpipe -i -`)
 * and `labels-raw` (raw gray8 label maps, one H x W plane per frame). Both write to a file or stdout
 * (`-`), with awaited writes: a slow reader stalls the graph. A reader that exits early (EPIPE) ends the
 * run cleanly.
 *
 * @module
 */
import { UsageError } from "../engine/errors.ts";
import type { SourceInfo } from "../engine/source.ts";
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";
import { formatY4mHeader, rgbToYuv420 } from "../datasets/y4m.ts";
import { openByteOutput } from "./_output.ts";
import { pictureParams, picturePorts, renderFrame, sinkPalette } from "./_picture.ts";

const frameMarker = new TextEncoder().encode("FRAME\n");
const readerGone = "the output's reader closed it";

/** The `y4m` sink kind. */
export const y4mSink = defineStage({
  kind: "y4m",
  role: "sink",
  doc: "Write colour labels or overlays as YUV4MPEG2 to a file or stdout",
  params: { path: { type: "string", default: "-", doc: "file, or '-' for stdout" }, ...pictureParams },
  inputs: picturePorts,
  outputs: [],
  writes: (p) => [{ param: "path", path: p.path, kind: "file" }],
  output: {
    param: "path",
    accepts: (target, format) =>
      (target === "-" && (format === undefined || format === "y4m")) || target.toLowerCase().endsWith(".y4m"),
  },
  async create(ctx) {
    oneStream(ctx.source, "a y4m stream", ctx.params.path);
    const table = sinkPalette(ctx, ctx.params.model, ctx.params.palette);
    const output = await openByteOutput(ctx.params.path, () => ctx.stop(readerGone));
    ctx.onClose(() => output.close());
    let size = "";
    return perFrame(ctx, async (frame) => {
      if (output.gone) return;
      const image = renderFrame(ctx, frame, table, ctx.params.style, ctx.params.alpha);
      if (!size) {
        size = `${image.width}x${image.height}`;
        await output.write(new TextEncoder().encode(formatY4mHeader(image.width, image.height, ctx.source.fps)));
      } else if (size !== `${image.width}x${image.height}`) {
        throw new RangeError(`frame is ${image.width}x${image.height} but the y4m stream is ${size}`);
      }
      await output.write(frameMarker);
      await output.write(rgbToYuv420(image.data, image.width, image.height));
    });
  },
});

/** The `labels-raw` sink kind. */
export const labelsRaw = defineStage({
  kind: "labels-raw",
  role: "sink",
  doc: "Write raw gray8 label maps (H x W bytes per frame) to a file or stdout",
  params: { path: { type: "string", default: "-", doc: "file, or '-' for stdout" } },
  inputs: [{ name: "labels", doc: "class id per pixel (uint8 [1,H,W])", type: "tensor", kind: "labels" }],
  outputs: [],
  writes: (p) => [{ param: "path", path: p.path, kind: "file" }],
  output: {
    param: "path",
    accepts: (target, format) => format === "labels" || /\.(gray|raw)$/i.test(target),
  },
  async create(ctx) {
    oneStream(ctx.source, "a raw label stream", ctx.params.path);
    const output = await openByteOutput(ctx.params.path, () => ctx.stop(readerGone));
    ctx.onClose(() => output.close());
    return perFrame(ctx, async (frame) => {
      const labels = readSlot<Tensor>(frame, ctx.inputs.labels!);
      await output.write(labels.data as Uint8Array);
    });
  },
});

/** A pipe holds one video: a run of several inputs must write one output per stream instead. */
function oneStream(source: SourceInfo, what: string, path: string): void {
  const count = source.streams?.length ?? 1;
  if (count <= 1) return;
  throw new UsageError(
    `${path === "-" ? "stdout" : path}: ${what} holds one video, and this run has ${count} inputs; ` +
      "write a video per stream (--output out.mp4 gives out.<stream>.mp4) or a folder",
  );
}
