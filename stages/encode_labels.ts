/**
 * The `labels-png` sink: writes each frame's label map as an indexed PNG (pixel = class id, palette from
 * the model card or CamVid's), one file per frame, named after the source item or the frame index.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";
import { encodeIndexedPng } from "../datasets/png.ts";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { frameStem } from "./_output.ts";

/** The `labels-png` sink kind. */
export const labelsPng = defineStage({
  kind: "labels-png",
  role: "sink",
  doc: "Write label maps as indexed PNG files (one per frame; pixel value = class id)",
  params: {
    dir: { type: "string", default: "out/labels", doc: "output folder" },
    model: { type: "model", doc: "model whose card gives the palette (default: the source's classes, else CamVid's)" },
  },
  inputs: [{ name: "labels", doc: "class id per pixel (uint8 [1,H,W] or [H,W])", type: "tensor" }],
  outputs: [],
  output: { param: "dir", accepts: (target) => target !== "-" && !/\.[A-Za-z0-9]{2,5}$/.test(target) },
  async create(ctx) {
    const palette = (ctx.params.model ? ctx.card(ctx.params.model).classes : undefined)?.palette ??
      ctx.source.classes?.palette ?? camvidClasses.palette;
    await Deno.mkdir(ctx.params.dir, { recursive: true });
    return perFrame(ctx, async (frame) => {
      const labels = readSlot<Tensor>(frame, ctx.inputs.labels!);
      const [height, width] = labels.dims.slice(-2) as [number, number];
      if (!(labels.data instanceof Uint8Array)) {
        throw new TypeError(`slot '${ctx.inputs.labels}' must hold uint8 labels`);
      }
      const png = encodeIndexedPng(labels.data, width, height, palette);
      await Deno.writeFile(join(ctx.params.dir, `${frameStem(frame)}.png`), png);
    });
  },
});
