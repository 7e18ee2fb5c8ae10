/**
 * Which colours a sink paints labels with: the named model's classes, else the source's, else CamVid's.
 *
 * @module
 */
import type { StageContext } from "../engine/stage.ts";
import type { ParamSchema } from "../engine/params.ts";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { paletteTable } from "./_render.ts";

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
