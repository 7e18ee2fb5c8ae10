/**
 * Object boxes as stages pass them in frame records: what the `boxes` stage finds, the `track` stage extends,
 * picture sinks draw and the `jsonl` sink writes; with each box's distance and label, and the plausibility checks
 * that drop boxes which cannot be what their class says.
 *
 * @module
 */
import type { SlotRecord } from "../engine/tensor.ts";
import { type Camera, distanceSigma, groundPoint, objectHeightM } from "./_camera.ts";
import type { InstanceBox } from "./_instances.ts";
import { objectPrior } from "./_object_classes.ts";

/** One detected object (inclusive pixel bounds). */
export interface ObjectBox {
  classId: number;
  className: string;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  area: number;
  /** 0.1..1: how sure the box is an object, from its size ({@linkcode sizeConfidence}): near `min_area` unsure. */
  confidence: number;
  /** Estimated ground range to the box's bottom centre (m), or null (not a ground class, or above the horizon). */
  distance_m: number | null;
  /** One standard deviation of `distance_m` under the camera's error model. */
  distance_sigma_m: number | null;
  /** Sideways offset of the bottom centre (m, right positive), or null with the distance. */
  lateral_m: number | null;
  /** The box touches the frame's edge: the object may extend beyond it (a cut-off bottom makes the distance a bound). */
  truncated: boolean;
  /** Text to draw: "<class> <d> m". */
  label: string;
}

/** What the `boxes` stage writes: the boxes and the camera that gave their distances. */
export interface BoxesRecord extends SlotRecord {
  boxes: ObjectBox[];
  camera: Camera;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * How sure a component of `area` pixels is an object, from its size alone: 0.1 at `minArea` (the least the
 * `boxes` stage keeps), rising with the square root of the excess to 1 at four times `minArea`. With the
 * tracker's defaults, components under ~1.6 x `minArea` (below 0.5) only extend tracks, and those of ~1.9 x
 * (0.6) and more may start them.
 *
 * @example
 * ```ts
 * sizeConfidence(100, 100); // => 0.1
 * sizeConfidence(400, 100); // => 1
 * ```
 */
export function sizeConfidence(area: number, minArea: number): number {
  const excess = Math.max(0, area / minArea - 1) / 3;
  return Math.round((0.1 + 0.9 * Math.min(1, Math.sqrt(excess))) * 100) / 100;
}

/** A box's record: its distance from the camera (ground classes only) and its label text. */
export function describeBox(box: InstanceBox, className: string, camera: Camera, minArea: number): ObjectBox {
  const ground = objectPrior(className).ground;
  const point = ground ? groundPoint(camera, (box.x0 + box.x1 + 1) / 2, box.y1 + 1) : null;
  const distance = point ? round1(point.rangeM) : null;
  const truncated = box.x0 === 0 || box.y0 === 0 || box.x1 === camera.width - 1 || box.y1 === camera.height - 1;
  return {
    ...box,
    className,
    confidence: sizeConfidence(box.area, minArea),
    distance_m: distance,
    distance_sigma_m: point ? round1(distanceSigma(camera, point.rangeM)) : null,
    lateral_m: point ? round1(point.lateralM) : null,
    truncated,
    label: distance === null ? className.toLowerCase() : `${className.toLowerCase()} ${distance.toFixed(1)} m`,
  };
}

/**
 * Whether a box can be what its class says, seen by `camera`: its shape (a pedestrian no wider than tall, a pole
 * thin) always; where the camera's horizon is known (set, the source's, or estimated from the road), also a ground
 * object's foot below the horizon and its real height in its class's range. A guessed horizon judges nothing: a
 * person above a level dash-cam's horizon is only far away if the camera looks down from a pole.
 */
export function plausibleBox(box: InstanceBox, className: string, camera: Camera): boolean {
  const prior = objectPrior(className);
  const w = box.x1 - box.x0 + 1, h = box.y1 - box.y0 + 1;
  if (w > prior.maxAspect * h) return false;
  if (!prior.ground || !camera.horizonKnown) return true;
  const foot = box.y1 + 1;
  if (foot <= camera.horizonY) return false;
  const cut = box.y0 === 0 || box.y1 === camera.height - 1;
  const realHeight = objectHeightM(camera, h, foot);
  return cut || realHeight === null || (realHeight >= prior.heightM[0] && realHeight <= prior.heightM[1]);
}
