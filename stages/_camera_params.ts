/**
 * The camera parameters of the `boxes` stage, as graph files set them, and the camera they resolve to per frame
 * size (see `_camera.ts` for the geometry and its error model).
 *
 * @module
 */
import { dashCamDefaults } from "./_camera.ts";

/** Camera parameters: each optional; unset ones come from the source's camera, else a dash-cam's. */
export const cameraParams = {
  camera_height_m: {
    type: "number",
    min: 0.05,
    max: 100,
    doc: `camera height above the road, m (default: the source's camera, else ${dashCamDefaults.heightM})`,
  },
  hfov_deg: {
    type: "number",
    min: 1,
    max: 170,
    doc: `horizontal field of view, degrees (default: the source's, else ${dashCamDefaults.hfovDeg}); or focal_px`,
  },
  focal_px: {
    type: "number",
    min: 1,
    doc: "focal length in pixels of the frames as they arrive (instead of hfov_deg)",
  },
  horizon: {
    type: "number",
    min: -1,
    max: 2,
    doc: "horizon row as a fraction of the height (default: the source's, else from pitch_deg)",
  },
  pitch_deg: {
    type: "number",
    min: -45,
    max: 45,
    doc: `camera pitch, degrees down (instead of horizon; default ${dashCamDefaults.pitchDeg}: level)`,
  },
  auto_horizon: {
    type: "boolean",
    default: false,
    doc: "follow the road's vanishing point (the most common estimate of the last 60 frames); else the set horizon",
  },
} as const;
