/**
 * The synthetic world's camera. The world is laid out on screen rows (`scene.ts`), but its geometry is that of a
 * level pinhole camera over flat ground: the horizon is the row the zoom centres on (`layout.horizon`), and every
 * object's image height is proportional to its foot's depth below the horizon, as perspective makes it. With a
 * camera 2 m up and a focal length of 3 image heights (25 degrees across a 4:3 frame, a long dash-cam lens),
 * pedestrians and cyclists are 1.7 m tall and cars 1.2 m, standing 10-30 m away; the zoom that breathes through
 * each clip (2-6%) is the camera's, so an estimate that assumes the unzoomed focal length is off by as much.
 *
 * @module
 */
import type { CameraSpec } from "../../engine/source.ts";
import type { TrueObject } from "../../engine/frame.ts";
import { layout } from "./scene.ts";

/** The world's camera, as sources declare theirs. */
export const syntheticCamera: CameraSpec = { height_m: 2.0, focal: 3.0, horizon: layout.horizon };

/**
 * The true ground range (m) of an object whose foot is at world row `foot` (screen row at zoom 1) and whose bottom
 * centre is seen `offsetX` pixels right of the image centre at zoom `zoom`, in a frame `height` rows high.
 */
export function trueRange(foot: number, offsetX: number, zoom: number, height: number): number {
  const focal = syntheticCamera.focal * height;
  const forward = (focal * syntheticCamera.height_m) / (foot - layout.horizon * height);
  const lateral = (offsetX / (zoom * focal)) * forward;
  return Math.hypot(forward, lateral);
}

/** A drawn object's truth record: its whole box (inclusive, unclipped) and range. */
export function trueObject(
  id: number,
  classId: number,
  box: { x0: number; y0: number; x1: number; y1: number },
  foot: number,
  zoom: number,
  width: number,
  height: number,
): TrueObject {
  const x0 = Math.floor(box.x0), x1 = Math.ceil(box.x1) - 1, y0 = Math.floor(box.y0), y1 = Math.ceil(box.y1) - 1;
  const distance = trueRange(foot, (box.x0 + box.x1) / 2 - width / 2, zoom, height);
  return { id, classId, x0, y0, x1, y1, distance_m: Math.round(distance * 1000) / 1000 };
}
