/**
 * The `boxes` stage: object boxes with a distance estimate, from a label map. Connected components of the chosen
 * classes are split where two objects touch (a step in the bottom edge: depth order; a dip between two peaks of
 * the top edge: two heads, two roofs), poles keep to their shafts, and boxes that cannot be the object their class
 * says are dropped: a car or pedestrian whose bottom is above the horizon, one too tall or too small for its class
 * at its distance, a pedestrian wider than tall (`_object_classes.ts`).
 *
 * Each ground object gets a distance from a calibrated flat-ground pinhole camera (`_camera.ts`): camera height,
 * field of view (or focal length) and horizon (or pitch), from the graph, else the source's camera, else a
 * dash-cam's typical values; `auto_horizon` follows the road's vanishing point. It is an estimate: its one-sigma
 * error (`distance_sigma_m`) grows with the square of the distance.
 *
 * Writes `{boxes: [...], camera}` (see `ObjectBox` in `_objects.ts`) for the `track` stage, picture sinks and `jsonl`.
 *
 * @module
 */
import { defineStage, readSlot } from "../engine/stage.ts";
import { perStream } from "../engine/stage_state.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type Camera, resolveCamera, withHorizon } from "./_camera.ts";
import { cameraParams } from "./_camera_params.ts";
import { components, type InstanceBox, splitComponent } from "./_instances.ts";
import { objectPrior } from "./_object_classes.ts";
import { estimateRoadHorizon, HorizonTrack } from "./_road_horizon.ts";
import { type BoxesRecord, describeBox, type ObjectBox, plausibleBox } from "./_objects.ts";

export type { BoxesRecord, ObjectBox };

/** Flat-ground pinhole distance of a level camera; null when the bottom edge is at or above the horizon. */
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
 * Connected components (8-neighbour) of the pixels whose label is in `classes`, as boxes (no splitting).
 *
 * @example `findBoxes(labels, 480, 360, new Set([8]))`: one `{classId, x0, y0, x1, y1, area}` per car blob.
 */
export function findBoxes(
  labels: Uint8Array,
  width: number,
  height: number,
  classes: ReadonlySet<number>,
): InstanceBox[] {
  return components(labels, width, height, classes).map(({ classId, x0, y0, x1, y1, area }) => ({
    classId,
    x0,
    y0,
    x1,
    y1,
    area,
  }));
}

/** The `boxes` stage kind. */
export const boxes = defineStage({
  kind: "boxes",
  role: "stage",
  doc: "Object boxes from a label map (touching objects split, implausible ones dropped) with calibrated distances",
  params: {
    classes: {
      type: "strings",
      default: ["Pole", "Car", "Pedestrian", "Bicyclist"],
      doc: "class names to box (from the model card's or the source's classes)",
    },
    model: { type: "model", doc: "model whose card names the classes (default: the source's, else CamVid's)" },
    min_area: { type: "integer", min: 1, default: 150, doc: "skip components smaller than this (pixels)" },
    split: { type: "boolean", default: true, doc: "split touching objects of a class by depth order and outline" },
    plausible: { type: "boolean", default: true, doc: "drop boxes implausible for their class (above the horizon...)" },
    ...cameraParams,
  },
  inputs: [{ name: "labels", doc: "class id per pixel (uint8 [1,H,W])", type: "tensor", kind: "labels" }],
  outputs: [{ name: "boxes", doc: "{boxes: [...], camera} for track, sinks and jsonl", type: "record" }],
  types(p, env) {
    const names = p.model ? env.model(p.model).classes?.names : undefined;
    const missing = names && p.classes.find((name) => !names.some((n) => n.toLowerCase() === name.toLowerCase()));
    if (missing === undefined) return {};
    const message = `'classes': model '${env.model(p.model!).name}' has no class '${missing}' (its classes are ` +
      `${names!.join(", ")})`;
    return { needs: [{ at: "classes", message }] };
  },
  validate(p) {
    if (p.hfov_deg !== undefined && p.focal_px !== undefined) {
      throw new TypeError("'hfov_deg' and 'focal_px' both set: give one (the focal length follows from the other)");
    }
    if (p.horizon !== undefined && p.pitch_deg !== undefined) {
      throw new TypeError("'horizon' and 'pitch_deg' both set: give one (the horizon row follows from the pitch)");
    }
  },
  state: { initial: () => ({ horizon: undefined as HorizonTrack | undefined }) },
  async create(ctx) {
    const { camvidClasses } = await import("../datasets/camvid_classes.ts");
    const names = ((ctx.params.model ? ctx.card(ctx.params.model).classes : undefined) ?? ctx.source.classes ??
      camvidClasses).names;
    const idOf = (name: string) => names.findIndex((n) => n.toLowerCase() === name.toLowerCase());
    const wanted = new Set<number>();
    for (const name of ctx.params.classes) {
      const id = idOf(name);
      if (id < 0) throw new TypeError(`'classes': no class '${name}' (classes are ${names.join(", ")})`);
      wanted.add(id);
    }
    const roadIds = new Set(["road"].map(idOf).filter((id) => id >= 0));
    const fragmented = new Set([...wanted].filter((id) => objectPrior(names[id] ?? "").fragmented));
    if (ctx.params.auto_horizon && roadIds.size === 0) {
      ctx.warn(`stage '${ctx.id}': 'auto_horizon' needs a 'road' class; keeping the set horizon`);
    }
    const cameras = new Map<string, Camera>();
    return perStream(ctx, (frame, state) => {
      const labels = readSlot<Tensor>(frame, ctx.inputs.labels!);
      const [height, width] = labels.dims.slice(-2) as [number, number];
      const data = labels.data as Uint8Array;
      const size = `${width}x${height}`;
      let camera = cameras.get(size);
      if (!camera) cameras.set(size, camera = resolveCamera(ctx.params, width, height, ctx.source.camera));
      if (ctx.params.auto_horizon && roadIds.size) {
        state.horizon ??= new HorizonTrack(height);
        state.horizon.add(estimateRoadHorizon(data, width, height, roadIds));
        const estimate = state.horizon.current();
        if (estimate) {
          camera = withHorizon(camera, estimate.horizonY, Math.hypot(Math.max(estimate.spread, 1), 2));
        }
      }
      const found: ObjectBox[] = [];
      for (const component of components(data, width, height, wanted, ctx.params.min_area, fragmented)) {
        const className = names[component.classId] ?? String(component.classId);
        const w = component.x1 - component.x0 + 1, h = component.y1 - component.y0 + 1;
        if (w > width / 2 && h > height / 2) continue;
        const pieces = ctx.params.split ? splitComponent(component, objectPrior(className)) : [component];
        for (const piece of pieces) {
          if (piece.area < ctx.params.min_area) continue;
          if (ctx.params.plausible && !plausibleBox(piece, className, camera)) continue;
          const { classId, x0, y0, x1, y1, area } = piece;
          found.push(describeBox({ classId, x0, y0, x1, y1, area }, className, camera, ctx.params.min_area));
        }
      }
      const record: BoxesRecord = { boxes: found, camera };
      frame.slots.set(ctx.outputs.boxes!, record);
    });
  },
});
