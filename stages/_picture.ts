/**
 * What the picture sinks (overlay PNG, video, y4m) share: the colours they paint labels with (the named
 * model's classes, else the source's, else CamVid's), their parameters, and rendering a frame.
 *
 * @module
 */
import { type PortDecl, readSlot, type StageContext } from "../engine/stage.ts";
import type { ParamSchema } from "../engine/params.ts";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { drawBoxes, type DrawnBox, labelSize, paletteTable, renderLabels, type RenderStyle } from "./_render.ts";
import { classesPresent, drawLegend, type LegendEntry, legendRect } from "./_legend.ts";
import type { Frame, RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { ClassInfo } from "../engine/model_card.ts";

/**
 * The colours a sink paints labels with: the DAVIS palette for object ids (`palette: davis`), else the named
 * model's classes, else the source's, else CamVid's.
 */
export function sinkColours(
  ctx: StageContext<ParamSchema>,
  model: string | undefined,
  palette: string = "classes",
): [number, number, number][] {
  if (palette === "davis") return davisPalette(256);
  return sinkClasses(ctx, model).palette;
}

/** The classes a sink names and paints: the named model's, else the source's, else CamVid's. */
function sinkClasses(ctx: StageContext<ParamSchema>, model: string | undefined): ClassInfo {
  return (model ? ctx.card(model).classes : undefined) ?? ctx.source.classes ?? camvidClasses;
}

/**
 * The legend rows for the ids present in `labels`, coloured from `table`: class names from the same classes
 * as the sink's palette (see {@linkcode sinkColours}), or `object 1`, `object 2`, ... for `palette: davis`
 * (0, the background, left out). Void ids (beyond the classes, or the classes' `ignore`) are left out.
 *
 * @example
 * ```ts
 * sinkLegend(ctx, Uint8Array.of(3, 8, 8, 11), table); // [{ name: "Road", colour: [128, 64, 128] }, { name: "Car", ... }]
 * ```
 */
export function sinkLegend(
  ctx: StageContext<ParamSchema>,
  labels: Uint8Array,
  table: Uint8Array,
  model?: string,
  palette: string = "classes",
): LegendEntry[] {
  const colour = (id: number) => [...table.subarray(3 * id, 3 * id + 3)];
  if (palette === "davis") {
    return classesPresent(labels, 256).filter((id) => id > 0).map((id) => ({
      name: `object ${id}`,
      colour: colour(id),
    }));
  }
  const classes = sinkClasses(ctx, model);
  return classesPresent(labels, classes.palette.length).filter((id) => id !== classes.ignore)
    .map((id) => ({ name: classes.names[id] ?? `class ${id}`, colour: colour(id) }));
}

/** The palette lookup table for a sink (see {@linkcode sinkColours}). */
export function sinkPalette(ctx: StageContext<ParamSchema>, model: string | undefined, palette?: string): Uint8Array {
  return paletteTable(sinkColours(ctx, model, palette));
}

/** The parameters that choose a sink's colours. */
export const paletteParams = {
  model: { type: "model", doc: "model whose card gives the palette (default: the source's classes, else CamVid's)" },
  palette: {
    type: "string",
    oneOf: ["classes", "davis"],
    default: "classes",
    doc: "class colours (card or source), or the DAVIS palette for object ids",
  },
} as const;

/**
 * The DAVIS / PASCAL VOC palette: colour of object id i from the bits of i (0 black, 1 [128,0,0], 2 [0,128,0],
 * 3 [128,128,0], ...), as DAVIS 2017 annotations use it.
 */
export function davisPalette(count: number): [number, number, number][] {
  return Array.from({ length: count }, (_, i) => {
    let r = 0, g = 0, b = 0, c = i;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    return [r, g, b];
  });
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
  legend: {
    type: "boolean",
    default: true,
    doc: "draw a legend of the classes in the frame (top right, overlay style only: masks stay pure colours)",
  },
  trails: { type: "boolean", default: true, doc: "draw the boxes' trails (past positions of tracked objects)" },
  ...paletteParams,
} as const;

/**
 * The picture a sink writes for a frame: its labels rendered in the sink's style over the frame, or the
 * frame itself when the sink's `labels` port is unbound; then the boxes, their trails (param `trails`) and
 * their labels, and in the overlay style a legend of the classes present (param `legend`), which box labels
 * keep clear of. Reads `legend`, `trails`, `model` and `palette` from `ctx.params` (see
 * {@linkcode pictureParams}).
 *
 * @example
 * ```ts
 * const image = renderFrame(ctx, frame, sinkPalette(ctx, ctx.params.model, ctx.params.palette), "overlay", 0.5);
 * ```
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
  const boxes = ctx.inputs.boxes ? readSlot<{ boxes: DrawnBox[] }>(frame, ctx.inputs.boxes).boxes : [];
  if (!ctx.inputs.labels && boxes.length === 0) return image;
  const { width, height } = image;
  let data: Uint8Array, legend: LegendEntry[] = [];
  if (ctx.inputs.labels) {
    const labels = readSlot<Tensor>(frame, ctx.inputs.labels);
    labelSize(labels, image);
    data = renderLabels(image, labels.data as Uint8Array, table, style as RenderStyle, alpha);
    if (style === "overlay" && ctx.params.legend !== false) {
      const { model, palette } = ctx.params;
      legend = sinkLegend(ctx, labels.data as Uint8Array, table, model as string | undefined, palette as string);
    }
  } else data = image.data.slice();
  const reserved = legendRect(width, height, legend);
  drawBoxes(data, width, height, boxes, table, {
    reserved: reserved ? [reserved] : [],
    trails: ctx.params.trails !== false,
  });
  drawLegend(data, width, height, legend);
  return { width, height, data };
}

/** Input ports of the picture sinks: labels and boxes are optional (unbound: the frame as it is). */
export const picturePorts: PortDecl[] = [
  {
    name: "labels",
    doc: "class id per pixel (uint8 [1,H,W]); unbound: the frame is written as it is",
    type: "tensor",
    kind: "labels",
    optional: true,
  },
  { name: "image", doc: "the frame", type: "image" },
  { name: "boxes", doc: "object boxes to draw (from a 'boxes' stage)", type: "record", optional: true },
];
