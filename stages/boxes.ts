/**
 * The `boxes` stage: object boxes with a distance estimate, from a label map (the CamVid DVSNet variant's
 * feature, done properly). Connected components (8-neighbour) of the chosen classes become boxes; tiny ones
 * and ones larger than half the frame on both sides are skipped. Each box gets a distance from a
 * flat-ground pinhole model using its bottom edge:
 *
 *     d = focal_px * camera_height_m / (y_bottom - horizon_y)
 *
 * an estimate that assumes the object stands on flat ground seen by a level camera; boxes whose bottom is
 * at or above the horizon get no distance. Writes a record `{boxes: [{label, class, x0, y0, x1, y1, area,
 * distance_m}]}` that picture sinks draw.
 *
 * @module
 */
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";

/** One detected object. */
export interface ObjectBox {
  classId: number;
  className: string;
  /** Inclusive pixel bounds. */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  area: number;
  /** Estimated distance in metres, or null when the box's bottom is not below the horizon. */
  distance_m: number | null;
  /** Text to draw: "<class> <d> m". */
  label: string;
}

/** Flat-ground pinhole distance; null when the bottom edge is at or above the horizon. */
export function groundDistance(
  yBottom: number,
  horizonY: number,
  focalPx: number,
  cameraHeightM: number,
): number | null {
  const below = yBottom - horizonY;
  return below > 0 ? (focalPx * cameraHeightM) / below : null;
}

/**
 * Connected components (8-neighbour) of the pixels whose label is in `classes`, as boxes. Union-find over
 * one pass, then one pass to gather bounds.
 */
export function findBoxes(labels: Uint8Array, width: number, height: number, classes: ReadonlySet<number>) {
  const wanted = new Uint8Array(256);
  for (const c of classes) wanted[c] = 1;
  const parent = new Int32Array(width * height).fill(-1);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const union = (a: number, b: number) => {
    const ra = find(a), rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const c = labels[p]!;
      if (!wanted[c]) continue;
      parent[p] = p;
      if (x > 0 && labels[p - 1] === c) union(p, p - 1);
      if (y > 0) {
        const up = p - width;
        if (labels[up] === c) union(p, up);
        if (x > 0 && labels[up - 1] === c) union(p, up - 1);
        if (x < width - 1 && labels[up + 1] === c) union(p, up + 1);
      }
    }
  }
  const boxes = new Map<number, { classId: number; x0: number; y0: number; x1: number; y1: number; area: number }>();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (parent[p] === -1) continue;
      const root = find(p);
      const box = boxes.get(root);
      if (!box) boxes.set(root, { classId: labels[p]!, x0: x, y0: y, x1: x, y1: y, area: 1 });
      else {
        if (x < box.x0) box.x0 = x;
        if (x > box.x1) box.x1 = x;
        box.y1 = y;
        box.area++;
      }
    }
  }
  return [...boxes.values()];
}

/** The `boxes` stage kind. */
export const boxes = defineStage({
  kind: "boxes",
  role: "stage",
  doc: "Object boxes (connected components of chosen classes) with flat-ground distance estimates",
  params: {
    classes: {
      type: "strings",
      default: ["Pole", "Car", "Pedestrian", "Bicyclist"],
      doc: "class names to box (from the model card's or the source's classes)",
    },
    model: { type: "model", doc: "model whose card names the classes (default: the source's, else CamVid's)" },
    min_area: { type: "integer", min: 1, default: 150, doc: "skip components smaller than this (pixels)" },
    camera_height_m: { type: "number", min: 0, default: 1.3, doc: "camera height above the ground (m)" },
    focal_px: { type: "number", min: 1, doc: "focal length in pixels (default: 0.9 x frame width)" },
    horizon: { type: "number", min: 0, max: 1, default: 0.45, doc: "horizon row as a fraction of the height" },
  },
  inputs: [{ name: "labels", doc: "class id per pixel (uint8 [1,H,W])", type: "tensor", kind: "labels" }],
  outputs: [{ name: "boxes", doc: "{boxes: [...]} for sinks to draw and jsonl to log", type: "record" }],
  types(p, env) {
    const names = p.model ? env.model(p.model).classes?.names : undefined;
    const missing = names && p.classes.find((name) => !names.some((n) => n.toLowerCase() === name.toLowerCase()));
    if (missing === undefined) return {};
    const message = `'classes': model '${env.model(p.model!).name}' has no class '${missing}' (its classes are ` +
      `${names!.join(", ")})`;
    return { needs: [{ at: "classes", message }] };
  },
  async create(ctx) {
    const { camvidClasses } = await import("../datasets/camvid_classes.ts");
    const names = ((ctx.params.model ? ctx.card(ctx.params.model).classes : undefined) ?? ctx.source.classes ??
      camvidClasses).names;
    const wanted = new Set<number>();
    for (const name of ctx.params.classes) {
      const id = names.findIndex((n) => n.toLowerCase() === name.toLowerCase());
      if (id < 0) throw new TypeError(`'classes': no class '${name}' (classes are ${names.join(", ")})`);
      wanted.add(id);
    }
    return perFrame(ctx, (frame) => {
      const labels = readSlot<Tensor>(frame, ctx.inputs.labels!);
      const [height, width] = labels.dims.slice(-2) as [number, number];
      const focal = ctx.params.focal_px ?? 0.9 * width;
      const horizonY = ctx.params.horizon * height;
      const found: ObjectBox[] = [];
      for (const b of findBoxes(labels.data as Uint8Array, width, height, wanted)) {
        const w = b.x1 - b.x0 + 1, h = b.y1 - b.y0 + 1;
        if (b.area < ctx.params.min_area || (w > width / 2 && h > height / 2)) continue;
        const distance = groundDistance(b.y1 + 1, horizonY, focal, ctx.params.camera_height_m);
        const className = names[b.classId] ?? String(b.classId);
        found.push({
          ...b,
          className,
          distance_m: distance === null ? null : Math.round(distance * 10) / 10,
          label: distance === null ? className.toLowerCase() : `${className.toLowerCase()} ${distance.toFixed(1)} m`,
        });
      }
      frame.slots.set(ctx.outputs.boxes!, { boxes: found });
    });
  },
});
