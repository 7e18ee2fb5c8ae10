/**
 * What the picture sinks (overlay PNG, video, y4m) share: the colours they paint labels with (the named
 * model's classes, else the source's, else CamVid's), their parameters, and rendering a frame.
 *
 * @module
 */
import { readSlot, type StageContext } from "../engine/stage.ts";
import type { ParamSchema } from "../engine/params.ts";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { labelSize, paletteTable, renderLabels, type RenderStyle } from "./_render.ts";
import type { Frame, RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";

/** The palette lookup table for a sink. */
export function sinkPalette(ctx: StageContext<ParamSchema>, model: string | undefined): Uint8Array {
  const classes = (model ? ctx.card(model).classes : undefined) ?? ctx.source.classes ?? camvidClasses;
  return paletteTable(classes.palette);
}

/** Parameters shared by the picture sinks. */
export const pictureParams = {
  style: {
    type: "string",
    oneOf: ["overlay", "mask"],
    default: "overlay",
    doc: "labels over the frame, or colours alone",
  },
  alpha: { type: "number", min: 0, max: 1, default: 0.5, doc: "weight of the label colours in an overlay" },
  model: { type: "model", doc: "model whose card gives the palette (default: the source's classes, else CamVid's)" },
} as const;

/**
 * The picture a sink writes for a frame: its labels rendered in the sink's style over the frame, or the
 * frame itself when the sink's `labels` port is unbound.
 *
 * @throws {RangeError} when the labels do not match the frame's size.
 */
export function renderFrame(
  ctx: StageContext<ParamSchema>,
  frame: Frame,
  table: Uint8Array,
  style: string,
  alpha: number,
): RgbImage {
  const image = readSlot<RgbImage>(frame, ctx.inputs.image!);
  if (!ctx.inputs.labels) return image;
  const labels = readSlot<Tensor>(frame, ctx.inputs.labels);
  labelSize(labels, image);
  const data = renderLabels(image, labels.data as Uint8Array, table, style as RenderStyle, alpha);
  return { width: image.width, height: image.height, data };
}
