/**
 * The `overlay-png` sink: each frame's labels painted over the frame (or as a colour mask) as an RGB PNG.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { RgbImage } from "../engine/frame.ts";
import { encodeRgbPng } from "../datasets/png.ts";
import { frameStem } from "./_output.ts";
import { labelSize, renderLabels, type RenderStyle } from "./_render.ts";
import { pictureParams, sinkPalette } from "./_palette.ts";

/** The `overlay-png` sink kind. */
export const overlayPng = defineStage({
  kind: "overlay-png",
  role: "sink",
  doc: "Write labels over each frame (or colour masks) as RGB PNG files",
  params: { dir: { type: "string", default: "out/overlay", doc: "output folder" }, ...pictureParams },
  inputs: [
    { name: "labels", doc: "class id per pixel (uint8 [1,H,W])", type: "tensor" },
    { name: "image", doc: "the frame", type: "image" },
  ],
  outputs: [],
  async create(ctx) {
    const table = sinkPalette(ctx, ctx.params.model);
    await Deno.mkdir(ctx.params.dir, { recursive: true });
    return perFrame(ctx, async (frame) => {
      const labels = readSlot<Tensor>(frame, ctx.inputs.labels!);
      const image = readSlot<RgbImage>(frame, ctx.inputs.image!);
      labelSize(labels, image);
      const rgb = renderLabels(
        image,
        labels.data as Uint8Array,
        table,
        ctx.params.style as RenderStyle,
        ctx.params.alpha,
      );
      await Deno.writeFile(
        join(ctx.params.dir, `${frameStem(frame)}.png`),
        encodeRgbPng(rgb, image.width, image.height),
      );
    });
  },
});
