/**
 * The `labels-png` sink: writes each frame's label map as an indexed PNG (pixel = class id, palette from
 * the model card or CamVid's), one file per frame, named after the source item or the frame index.
 *
 * @module
 */
import { paletteParams, sinkColours } from "./_picture.ts";
import { join } from "node:path";
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Frame } from "../engine/frame.ts";
import { encodeIndexedPng } from "../datasets/png.ts";
import { frameStem } from "./_output.ts";
import { writeFileAtomic } from "../engine/atomic_write.ts";

/** The `labels-png` sink kind. */
export const labelsPng = defineStage({
  kind: "labels-png",
  role: "sink",
  doc: "Write label maps as indexed PNG files (one per frame; pixel value = class id)",
  params: {
    dir: { type: "string", default: "out/labels", doc: "output folder" },
    layout: {
      type: "string",
      oneOf: ["flat", "davis"],
      default: "flat",
      doc: "flat: <dir>/<frame>.png; davis: <dir>/<sequence>/<00000>.png (DAVIS Annotations layout)",
    },
    ...paletteParams,
  },
  inputs: [{ name: "labels", doc: "class id per pixel (uint8 [1,H,W] or [H,W])", type: "tensor", kind: "labels" }],
  outputs: [],
  output: { param: "dir", accepts: (target) => target !== "-" && !/\.[A-Za-z0-9]{2,5}$/.test(target) },
  writes: (p) => [{ param: "dir", path: p.dir, kind: "folder" }],
  async create(ctx) {
    const palette = sinkColours(ctx, ctx.params.model, ctx.params.palette);
    await Deno.mkdir(ctx.params.dir, { recursive: true });
    const made = new Set<string>();
    const outputPath = async (frame: Frame): Promise<string> => {
      if (ctx.params.layout === "flat") return join(ctx.params.dir, `${frameStem(frame)}.png`);
      const folder = join(ctx.params.dir, frame.sequence ?? frame.stream);
      if (!made.has(folder)) {
        await Deno.mkdir(folder, { recursive: true });
        made.add(folder);
      }
      const stem = frame.name
        ? frame.name.replace(/\.[^.]*$/, "").split("/").pop()!
        : String(frame.index).padStart(5, "0");
      return join(folder, `${stem}.png`);
    };
    return perFrame(ctx, async (frame) => {
      const labels = readSlot<Tensor>(frame, ctx.inputs.labels!);
      const [height, width] = labels.dims.slice(-2) as [number, number];
      if (!(labels.data instanceof Uint8Array)) {
        throw new TypeError(`slot '${ctx.inputs.labels}' must hold uint8 labels`);
      }
      const png = encodeIndexedPng(labels.data, width, height, palette);
      await writeFileAtomic(await outputPath(frame), png);
    });
  },
});
