/**
 * The camera that turns a box's bottom edge into a distance: a pinhole camera at a known height above flat
 * ground, pitched by the angle that puts the horizon where it is seen. Users set it the way they know it
 * (camera height, horizontal field of view or focal length in pixels, horizon row or pitch); a source that knows
 * its camera (the synthetic world) says so, and a dash-cam's typical values fill the rest.
 *
 * Geometry: the ray through pixel (x, y) is `((x - cx) / f, (y - cy) / f, 1)` in camera coordinates; pitched down
 * by `theta` it meets the ground (at `height_m` below) at forward distance `Z` and lateral offset `X`:
 *
 *     down = (y - cy) / f * cos(theta) + sin(theta)        (must be > 0: below the horizon)
 *     Z = h * (cos(theta) - (y - cy) / f * sin(theta)) / down,   X = h * (x - cx) / f / down
 *
 * which for a level camera is the familiar `Z = f * h / (y - horizon)`.
 *
 * Error model: with the foot row off by `sigma_y` pixels (horizon estimate, segmentation of the bottom edge) and
 * the height off by `sigma_h`, `sigma_d ~= d * sqrt((d * sigma_y / (f * h))^2 + (sigma_h / h)^2)`: the row error
 * grows with the square of the distance, so an estimate at 40 m is ~16x as uncertain as one at 10 m.
 *
 * @module
 */
import type { CameraSpec } from "../engine/source.ts";

/** A dash-cam's typical mounting and lens, for what neither the graph nor the source sets. */
export const dashCamDefaults = {
  /** Camera height above the road (m): a windscreen mount on a car (KITTI 1.65, Cityscapes 1.22). */
  heightM: 1.3,
  /** Horizontal field of view (degrees) of a rectified dash-cam image (comma.ai 65, KITTI 81, Cityscapes 49). */
  hfovDeg: 65,
  /** Camera pitch (degrees, down positive): level, so the horizon is the principal row (the centre). */
  pitchDeg: 0,
  /** Uncertainty of the camera height (m). */
  heightSigmaM: 0.05,
  /** Uncertainty of a fixed horizon row, as a fraction of the image height. */
  horizonSigma: 0.02,
  /** Uncertainty of a box's bottom row (px): where a segmentation puts the object's contact with the ground. */
  footSigmaPx: 2,
};

/** The resolved camera of a frame size. */
export interface Camera {
  width: number;
  height: number;
  focalPx: number;
  /** Principal point (the image centre). */
  cx: number;
  cy: number;
  /** Pitch, radians, down positive. */
  pitch: number;
  /** Row of the horizon (px). */
  horizonY: number;
  /**
   * Whether the horizon was given (graph, source) or estimated (`auto_horizon`), not a level dash-cam's guess:
   * only then may a box be judged by it (a person "above the horizon" of a camera on a pole is just far away).
   */
  horizonKnown: boolean;
  heightM: number;
  /** Uncertainty of the foot row (px) and of the height (m) for {@linkcode distanceSigma}. */
  rowSigmaPx: number;
  heightSigmaM: number;
}

/** What a graph may set (all optional: the source's camera, then {@linkcode dashCamDefaults}, fill the rest). */
export interface CameraSettings {
  camera_height_m?: number | undefined;
  hfov_deg?: number | undefined;
  focal_px?: number | undefined;
  /** Horizon row as a fraction of the image height. */
  horizon?: number | undefined;
  pitch_deg?: number | undefined;
}

/**
 * The camera for a `width` x `height` frame: the graph's settings first, then the source's camera, then a dash-cam's
 * defaults. A horizon row fixes the pitch; else the pitch fixes the horizon.
 *
 * @throws {RangeError} when both `hfov_deg` and `focal_px`, or both `horizon` and `pitch_deg`, are set.
 * @example
 * ```ts
 * const camera = resolveCamera({ camera_height_m: 1.5, hfov_deg: 90, horizon: 0.5 }, 1280, 720);
 * camera.focalPx; // 640
 * ```
 */
export function resolveCamera(
  settings: CameraSettings,
  width: number,
  height: number,
  source?: CameraSpec,
): Camera {
  if (settings.hfov_deg !== undefined && settings.focal_px !== undefined) {
    throw new RangeError("set one of 'hfov_deg' and 'focal_px', not both");
  }
  if (settings.horizon !== undefined && settings.pitch_deg !== undefined) {
    throw new RangeError("set one of 'horizon' and 'pitch_deg', not both");
  }
  const focalPx = settings.focal_px ??
    (settings.hfov_deg !== undefined ? focalFromHfov(settings.hfov_deg, width) : undefined) ??
    (source ? source.focal * height : focalFromHfov(dashCamDefaults.hfovDeg, width));
  const cx = width / 2, cy = height / 2;
  const horizonFraction = settings.horizon ?? (settings.pitch_deg === undefined ? source?.horizon : undefined);
  const pitch = horizonFraction !== undefined
    ? Math.atan((cy - horizonFraction * height) / focalPx)
    : ((settings.pitch_deg ?? dashCamDefaults.pitchDeg) * Math.PI) / 180;
  const horizonY = cy - focalPx * Math.tan(pitch);
  const horizonKnown = horizonFraction !== undefined || settings.pitch_deg !== undefined;
  const heightM = settings.camera_height_m ?? source?.height_m ?? dashCamDefaults.heightM;
  const horizonSigmaPx = dashCamDefaults.horizonSigma * height;
  return {
    width,
    height,
    focalPx,
    cx,
    cy,
    pitch,
    horizonY,
    horizonKnown,
    heightM,
    rowSigmaPx: Math.hypot(horizonSigmaPx, dashCamDefaults.footSigmaPx),
    heightSigmaM: dashCamDefaults.heightSigmaM,
  };
}

/** Focal length in pixels of a horizontal field of view (degrees) over `width` pixels. */
export function focalFromHfov(hfovDeg: number, width: number): number {
  return width / 2 / Math.tan((hfovDeg * Math.PI) / 360);
}

/** The camera with its horizon moved to row `horizonY` (an automatic estimate), its pitch following. */
export function withHorizon(camera: Camera, horizonY: number, rowSigmaPx = camera.rowSigmaPx): Camera {
  return {
    ...camera,
    horizonY,
    horizonKnown: true,
    pitch: Math.atan((camera.cy - horizonY) / camera.focalPx),
    rowSigmaPx,
  };
}

/** Where a ground point seen at pixel (x, y) lies: forward and lateral (right positive) metres, and the range. */
export interface GroundPoint {
  forwardM: number;
  lateralM: number;
  rangeM: number;
}

/**
 * The ground point seen at pixel (x, y) (a box's bottom centre), or null when the row is at or above the horizon
 * (no ground there). `y` is the row of the contact with the ground: a box's bottom edge, `y1 + 1` for inclusive
 * bounds.
 *
 * @example `groundPoint(camera, 640, 500)` for a level 1280x720 camera at 1.5 m with f = 640: forward 6.9 m.
 */
export function groundPoint(camera: Camera, x: number, y: number): GroundPoint | null {
  const u = (x - camera.cx) / camera.focalPx, v = (y - camera.cy) / camera.focalPx;
  const cos = Math.cos(camera.pitch), sin = Math.sin(camera.pitch);
  const down = v * cos + sin;
  if (down <= 1e-6) return null;
  const forwardM = (camera.heightM * (cos - v * sin)) / down;
  const lateralM = (camera.heightM * u) / down;
  return { forwardM, lateralM, rangeM: Math.hypot(forwardM, lateralM) };
}

/**
 * One standard deviation of a distance estimate `distanceM` under the error model in the module doc: the foot row's
 * uncertainty grows with the square of the distance, the height's in proportion to it.
 */
export function distanceSigma(camera: Camera, distanceM: number): number {
  const rowTerm = (distanceM * camera.rowSigmaPx) / (camera.focalPx * camera.heightM);
  return distanceM * Math.hypot(rowTerm, camera.heightSigmaM / camera.heightM);
}

/**
 * How tall (m) an object of `boxHeightPx` standing at row `footY` is, for plausibility checks (small-angle form of
 * the same geometry: image height scales with the foot's depth below the horizon).
 */
export function objectHeightM(camera: Camera, boxHeightPx: number, footY: number): number | null {
  const below = footY - camera.horizonY;
  return below > 0 ? (boxHeightPx * camera.heightM) / below : null;
}
