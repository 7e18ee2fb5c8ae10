import assert from "node:assert/strict";
import {
  type Camera,
  dashCamDefaults,
  distanceSigma,
  focalFromHfov,
  groundPoint,
  objectHeightM,
  resolveCamera,
  withHorizon,
} from "../stages/_camera.ts";
import type { CameraSpec } from "../engine/source.ts";

const degrees = (d: number) => (d * Math.PI) / 180;

function assertClose(actual: number, expected: number, tolerance: number, message?: string) {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${message ?? "value"}: expected ${expected} +- ${tolerance}, got ${actual}`,
  );
}

function assertRelative(actual: number, expected: number, relative: number, message?: string) {
  assertClose(actual, expected, relative * Math.abs(expected), message);
}

/** The pixel a ground point (forward `z`, lateral `x`, right positive) projects to: pinhole, pitched down by `pitch`. */
function project(camera: Camera, z: number, x: number, pitch: number): [number, number] {
  // Level frame: X right, Y down, Z forward; the ground is Y = h. Pitching the camera down by `pitch` rotates
  // the point up by the same angle in camera coordinates.
  const y = camera.heightM;
  const yc = y * Math.cos(pitch) - z * Math.sin(pitch);
  const zc = y * Math.sin(pitch) + z * Math.cos(pitch);
  return [camera.cx + (camera.focalPx * x) / zc, camera.cy + (camera.focalPx * yc) / zc];
}

const source: CameraSpec = { height_m: 2, focal: 1.2, horizon: 0.45 };

Deno.test("focalFromHfov: a 90-degree field of view over 1280 px is a 640 px focal length", () => {
  assertClose(focalFromHfov(90, 1280), 640, 1e-9);
  assertClose(focalFromHfov(60, 1000), 500 / Math.tan(degrees(30)), 1e-9);
});

Deno.test("resolveCamera: without settings or a source, a dash-cam's defaults (level, horizon at the centre)", () => {
  const camera = resolveCamera({}, 1280, 720);
  assertClose(camera.focalPx, focalFromHfov(dashCamDefaults.hfovDeg, 1280), 1e-9);
  assert.equal(camera.heightM, dashCamDefaults.heightM);
  assert.equal(camera.pitch, 0);
  assert.equal(camera.horizonY, 360);
  assert.deepEqual([camera.cx, camera.cy, camera.width, camera.height], [640, 360, 1280, 720]);
  assert.equal(camera.heightSigmaM, dashCamDefaults.heightSigmaM);
  assertClose(camera.rowSigmaPx, Math.hypot(dashCamDefaults.horizonSigma * 720, dashCamDefaults.footSigmaPx), 1e-9);
});

Deno.test("resolveCamera: the source's camera fills what the graph does not set", () => {
  const camera = resolveCamera({}, 640, 360, source);
  assertClose(camera.focalPx, 1.2 * 360, 1e-9, "focal is a fraction of the height");
  assert.equal(camera.heightM, 2);
  assertClose(camera.horizonY, 0.45 * 360, 1e-9);
  assertClose(camera.pitch, Math.atan((180 - 162) / 432), 1e-12);
});

Deno.test("resolveCamera: graph settings take precedence over the source's camera", () => {
  const camera = resolveCamera({ camera_height_m: 1.5, hfov_deg: 90, horizon: 0.5 }, 640, 360, source);
  assertClose(camera.focalPx, 320, 1e-9);
  assert.equal(camera.heightM, 1.5);
  assertClose(camera.horizonY, 180, 1e-9);
  assertClose(camera.pitch, 0, 1e-12);

  const focal = resolveCamera({ focal_px: 500 }, 640, 360, source);
  assert.equal(focal.focalPx, 500, "focal_px beats the source's focal");
  assert.equal(focal.heightM, 2, "the height still comes from the source");
  assertClose(focal.horizonY, 162, 1e-9, "and so does the horizon");

  // A graph pitch replaces the source's horizon, not only the default pitch.
  const pitched = resolveCamera({ pitch_deg: 5 }, 640, 360, source);
  assertClose(pitched.pitch, degrees(5), 1e-12);
  assertClose(pitched.horizonY, 180 - 432 * Math.tan(degrees(5)), 1e-9);
});

Deno.test("resolveCamera: a horizon fraction sets the pitch, and the pitch gives back that horizon row", () => {
  for (const fraction of [0.3, 0.5, 0.62]) {
    const camera = resolveCamera({ horizon: fraction, hfov_deg: 70 }, 1280, 720);
    assertClose(camera.horizonY, fraction * 720, 1e-9, `horizon ${fraction}`);
    assertClose(camera.pitch, Math.atan((360 - fraction * 720) / camera.focalPx), 1e-12);
    // The same pitch, set in degrees, lands the horizon on the same row.
    const same = resolveCamera({ pitch_deg: (camera.pitch * 180) / Math.PI, hfov_deg: 70 }, 1280, 720);
    assertClose(same.horizonY, fraction * 720, 1e-9);
  }
});

Deno.test("resolveCamera: pitch_deg puts the horizon at cy - f tan(pitch)", () => {
  const camera = resolveCamera({ pitch_deg: 3, focal_px: 800 }, 1280, 720);
  assertClose(camera.pitch, degrees(3), 1e-12);
  assertClose(camera.horizonY, 360 - 800 * Math.tan(degrees(3)), 1e-9);
  const up = resolveCamera({ pitch_deg: -2, focal_px: 800 }, 1280, 720);
  assert.ok(up.horizonY > 360, "a camera pitched up sees the horizon below the centre");
});

Deno.test("resolveCamera: both hfov_deg and focal_px, or both horizon and pitch_deg, are a RangeError", () => {
  assert.throws(() => resolveCamera({ hfov_deg: 60, focal_px: 500 }, 640, 360), {
    name: "RangeError",
    message: "set one of 'hfov_deg' and 'focal_px', not both",
  });
  assert.throws(() => resolveCamera({ horizon: 0.4, pitch_deg: 2 }, 640, 360), {
    name: "RangeError",
    message: "set one of 'horizon' and 'pitch_deg', not both",
  });
});

Deno.test("groundPoint: a level camera sees f * h / (y - cy) ahead, nothing sideways at the centre column", () => {
  const camera = resolveCamera({ camera_height_m: 1.5, focal_px: 640, pitch_deg: 0 }, 1280, 720);
  for (const y of [361, 400, 500, 719]) {
    const point = groundPoint(camera, 640, y)!;
    assertClose(point.forwardM, (640 * 1.5) / (y - 360), 1e-9, `row ${y}`);
    assertClose(point.lateralM, 0, 1e-12);
    assertClose(point.rangeM, point.forwardM, 1e-12);
  }
  // Off the centre column: the lateral offset is h * (x - cx) / (y - cy), the range their hypotenuse.
  const right = groundPoint(camera, 840, 500)!;
  assertClose(right.forwardM, (640 * 1.5) / 140, 1e-9);
  assertClose(right.lateralM, (1.5 * 200) / 140, 1e-9);
  assertClose(right.rangeM, Math.hypot(right.forwardM, right.lateralM), 1e-12);
  assert.ok(groundPoint(camera, 440, 500)!.lateralM < 0, "left of centre is negative");
});

Deno.test("groundPoint: null at and above the horizon", () => {
  const level = resolveCamera({ focal_px: 640, pitch_deg: 0 }, 1280, 720);
  assert.equal(groundPoint(level, 640, 360), null);
  assert.equal(groundPoint(level, 640, 200), null);
  const pitched = resolveCamera({ focal_px: 640, horizon: 0.4 }, 1280, 720);
  assert.equal(groundPoint(pitched, 100, pitched.horizonY), null);
  assert.equal(groundPoint(pitched, 100, pitched.horizonY - 10), null);
  assert.notEqual(groundPoint(pitched, 100, pitched.horizonY + 2), null);
});

Deno.test("groundPoint: for a pitched camera it inverts the pinhole projection of a ground point", () => {
  for (const pitchDeg of [2, 6, -3]) {
    const camera = resolveCamera({ camera_height_m: 1.4, focal_px: 900, pitch_deg: pitchDeg }, 1280, 720);
    const pitch = degrees(pitchDeg);
    for (const [z, x] of [[5, 0], [8, -2.5], [20, 3], [45, -6]] as const) {
      const [px, py] = project(camera, z, x, pitch);
      const point = groundPoint(camera, px, py);
      assert.ok(point, `pitch ${pitchDeg}: ground point (${z}, ${x}) at (${px}, ${py}) is below the horizon`);
      assertRelative(point.forwardM, z, 1e-6, `pitch ${pitchDeg}: forward of (${z}, ${x})`);
      if (x === 0) assertClose(point.lateralM, 0, 1e-9);
      else assertRelative(point.lateralM, x, 1e-6, `pitch ${pitchDeg}: lateral of (${z}, ${x})`);
      assertRelative(point.rangeM, Math.hypot(z, x), 1e-6);
    }
  }
});

Deno.test("distanceSigma: the row term grows with the square of the distance", () => {
  const camera = resolveCamera({}, 1280, 720);
  const near = distanceSigma(camera, 10), far = distanceSigma(camera, 40);
  const ratio = far / near;
  assert.ok(ratio > 10 && ratio < 16, `sigma(40) / sigma(10) = ${ratio}`);
  // Without the height's uncertainty it is exactly quadratic.
  const rowOnly = { ...camera, heightSigmaM: 0 };
  assertClose(distanceSigma(rowOnly, 40) / distanceSigma(rowOnly, 10), 16, 1e-9);
  // Without the row's, exactly proportional.
  const heightOnly = { ...camera, rowSigmaPx: 0 };
  assertClose(distanceSigma(heightOnly, 40) / distanceSigma(heightOnly, 10), 4, 1e-9);
  assertClose(distanceSigma(heightOnly, 10), (10 * camera.heightSigmaM) / camera.heightM, 1e-12);
});

Deno.test("objectHeightM: image height scales with the foot's depth below the horizon", () => {
  const camera = resolveCamera({ camera_height_m: 1.5, focal_px: 640, pitch_deg: 0 }, 1280, 720);
  assertClose(objectHeightM(camera, 100, 460)!, 1.5, 1e-12, "as tall in pixels as the foot is below the horizon");
  assertClose(objectHeightM(camera, 50, 460)!, 0.75, 1e-12);
  assertClose(objectHeightM(camera, 100, 410)!, 3, 1e-12);
  assert.equal(objectHeightM(camera, 100, 360), null, "foot on the horizon");
  assert.equal(objectHeightM(camera, 100, 300), null, "foot above the horizon");
});

Deno.test("withHorizon: moves the horizon row, the pitch follows, and the ground geometry with it", () => {
  const camera = resolveCamera({ camera_height_m: 1.5, focal_px: 640, pitch_deg: 0 }, 1280, 720);
  const moved = withHorizon(camera, 300);
  assert.equal(moved.horizonY, 300);
  assertClose(moved.pitch, Math.atan(60 / 640), 1e-12);
  assertClose(moved.cy - moved.focalPx * Math.tan(moved.pitch), 300, 1e-9, "pitch and horizon agree");
  assert.equal(moved.rowSigmaPx, camera.rowSigmaPx, "the row uncertainty is kept unless given");
  assert.equal(withHorizon(camera, 300, 3).rowSigmaPx, 3);
  // The same camera as one resolved with that horizon.
  const resolved = resolveCamera({ camera_height_m: 1.5, focal_px: 640, horizon: 300 / 720 }, 1280, 720);
  assertClose(moved.pitch, resolved.pitch, 1e-12);
  assert.equal(groundPoint(moved, 640, 300), null, "the new horizon row sees no ground");
  assert.notEqual(groundPoint(moved, 640, 330), null, "rows below it (above the old horizon) do");
  assert.equal(groundPoint(camera, 640, 330), null);
  assert.deepEqual(groundPoint(moved, 700, 500), groundPoint(resolved, 700, 500));
  assert.equal(camera.horizonY, 360, "the original camera is unchanged");
});
