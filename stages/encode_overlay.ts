/**
 * The `overlay-png` sink: each frame's labels painted over the frame (or as a colour mask) as an RGB PNG.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage, perFrame } from "../engine/stage.ts";
import sharp from "sharp";
import { frameStem } from "./_output.ts";
import { writeFileAtomic } from "../engine/atomic_write.ts";
import { pictureParams, picturePorts, renderFrame, sinkPalette } from "./_picture.ts";

/** The `overlay-png` sink kind. */
export const overlayPng = defineStage({
  kind: "overlay-png",
  role: "sink",
  doc: "Write labels over each frame (or colour masks) as RGB PNG files",
  params: { dir: { type: "string", default: "out/overlay", doc: "output folder" }, ...pictureParams },
  inputs: picturePorts,
  outputs: [],
  // A graph's overlay sink is its primary output: `--output out.mp4` (or `-`) puts the matching sink in its place,
  // keeping its style. Folders given to --output still mean label maps (labels-png), so it accepts none itself.
  output: { param: "dir", accepts: () => false },
  writes: (p) => [{ param: "dir", path: p.dir, kind: "folder" }],
  async create(ctx) {
    const table = sinkPalette(ctx, ctx.params.model, ctx.params.palette);
    await Deno.mkdir(ctx.params.dir, { recursive: true });
    return perFrame(ctx, async (frame) => {
      const image = renderFrame(ctx, frame, table, ctx.params.style, ctx.params.alpha);
      // sharp compresses on libuv's thread pool, so the main thread stays free for the graph.
      const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
        .png({ compressionLevel: 3 })
        .toBuffer();
      await writeFileAtomic(join(ctx.params.dir, `${frameStem(frame)}.png`), png);
    }, { concurrency: 2 });
  },
});
