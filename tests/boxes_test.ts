import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { type Camera, groundPoint, resolveCamera } from "../stages/_camera.ts";
import { type BoxesRecord, findBoxes, groundDistance } from "../stages/boxes.ts";
import { graphError, graphFrom, testSetup } from "./_helpers.ts";

const CAR = 8, PEDESTRIAN = 9, ROAD = 3;

Deno.test("groundDistance is the flat-ground pinhole formula f * h / (y_bottom - horizon)", () => {
  assert.equal(groundDistance(300, 200, 400, 1.5), (400 * 1.5) / 100);
  assert.equal(groundDistance(200, 200, 400, 1.5), null, "bottom on the horizon: no distance");
  assert.equal(groundDistance(150, 200, 400, 1.5), null, "bottom above the horizon: no distance");
});

Deno.test("findBoxes: 8-connected components per class, with bounds and areas", () => {
  const width = 6, height = 4;
  const labels = new Uint8Array(width * height).fill(ROAD);
  // A diagonal pair (8-connected) of car pixels and a separate pedestrian column.
  labels[0 * width + 0] = CAR;
  labels[1 * width + 1] = CAR;
  for (let y = 0; y < 4; y++) labels[y * width + 4] = PEDESTRIAN;
  const boxes = findBoxes(labels, width, height, new Set([CAR, PEDESTRIAN]));
  assert.deepEqual(
    boxes.sort((a, b) => a.classId - b.classId),
    [
      { classId: CAR, x0: 0, y0: 0, x1: 1, y1: 1, area: 2 },
      { classId: PEDESTRIAN, x0: 4, y0: 0, x1: 4, y1: 3, area: 4 },
    ],
  );
});

/** A label map of `width` x `height` filled with `fill`, and a painter of inclusive rectangles on it. */
function canvas(width: number, height: number, fill = ROAD) {
  const labels = new Uint8Array(width * height).fill(fill);
  const paint = (x0: number, y0: number, x1: number, y1: number, id: number) => {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) labels[y * width + x] = id;
  };
  return { labels, paint };
}

/**
 * Runs a `boxes` stage with the YAML `params` on `frames.length` fake frames whose label maps are `frames`, and
 * returns each frame's record.
 */
async function runBoxes(
  frames: Uint8Array[],
  width: number,
  height: number,
  params: string,
): Promise<BoxesRecord[]> {
  const { probe, registry } = testSetup();
  const records: BoxesRecord[] = [];
  probe.functions.set("labels", (frame) => {
    frame.slots.set("labels", { type: "uint8", dims: [1, height, width], data: frames[frame.index]! });
  });
  probe.functions.set("keep", (frame) => void records.push(frame.slots.get("boxes") as BoxesRecord));
  const graph = await graphFrom(
    `source: { kind: fake, frames: ${frames.length}, width: ${width}, height: ${height} }
stages:
  - { id: labels, kind: call, fn: labels, out: { value: labels } }
  - { id: boxes, kind: boxes, ${params}, in: { labels: labels } }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
  );
  await runGraph(graph);
  return records;
}

Deno.test("boxes stage: a synthetic car gets the pitched camera's distance; tiny and huge components are skipped", async () => {
  const width = 200, height = 100;
  const { labels, paint } = canvas(width, height);
  paint(20, 50, 49, 79, CAR); // 30x30 car, bottom row 79
  paint(150, 10, 152, 12, PEDESTRIAN); // 9 pixels: below min_area
  const records = await runBoxes(
    [labels, new Uint8Array(width * height).fill(CAR)], // frame 1: all car (huge)
    width,
    height,
    "min_area: 50, camera_height_m: 1.5, focal_px: 180, horizon: 0.4",
  );
  const found = records.map((r) => r.boxes);
  assert.equal(found[0]!.length, 1, "only the car: the 9-pixel pedestrian is below min_area");
  const car = found[0]![0]!;
  assert.deepEqual([car.x0, car.y0, car.x1, car.y1, car.className], [20, 50, 49, 79, "Car"]);
  // The bottom centre: column (20 + 49 + 1) / 2 = 35, the contact with the ground below the last row, y = 80.
  const camera = resolveCamera({ camera_height_m: 1.5, focal_px: 180, horizon: 0.4 }, width, height);
  const point = groundPoint(camera, 35, 80)!;
  assert.equal(car.distance_m, Math.round(point.rangeM * 10) / 10);
  assert.equal(car.lateral_m, Math.round(point.lateralM * 10) / 10);
  assert.ok(car.lateral_m! < 0, "left of the centre column");
  // Ahead, about what a level camera gives (horizon at 0.4 x 100 = 40: 180 * 1.5 / 40 = 6.75 m): the pitch
  // that puts the horizon there changes it little.
  assert.ok(Math.abs(point.forwardM - 6.75) / 6.75 < 0.05, `forward ${point.forwardM} m`);
  assert.equal(car.label, `car ${car.distance_m!.toFixed(1)} m`);
  assert.equal(typeof car.distance_sigma_m, "number");
  assert.ok(car.distance_sigma_m! > 0 && car.distance_sigma_m! < car.distance_m!);
  assert.ok(car.confidence > 0 && car.confidence <= 1, `confidence ${car.confidence}`);
  assert.equal(car.truncated, false);
  assert.deepEqual(records[0]!.camera, camera, "the record carries the camera that gave the distances");
  assert.deepEqual(found[1], [], "a component larger than half the frame both ways is skipped");
});

const camera320 = "camera_height_m: 1.5, focal_px: 300, horizon: 0.4"; // 320x240: horizon row 96

Deno.test("boxes stage: a car whose bottom is above the horizon is dropped, unless plausible is false", async () => {
  const width = 320, height = 240;
  const { labels, paint } = canvas(width, height);
  paint(40, 50, 99, 80, CAR); // foot at row 81, above the horizon (96)
  paint(180, 130, 259, 179, CAR); // foot at row 180: 1.5 m * 50 / 84 = 0.9 m tall
  const [checked] = await runBoxes([labels], width, height, `min_area: 50, ${camera320}`);
  assert.deepEqual(checked!.boxes.map((b) => [b.x0, b.y1]), [[180, 179]]);
  const [all] = await runBoxes([labels], width, height, `min_area: 50, plausible: false, ${camera320}`);
  const sky = all!.boxes.find((b) => b.x0 === 40);
  assert.ok(sky, "kept without the checks");
  assert.equal(sky.distance_m, null, "no ground there: no distance");
  assert.equal(sky.lateral_m, null);
  assert.equal(sky.distance_sigma_m, null);
  assert.equal(sky.label, "car");
  assert.equal(all!.boxes.length, 2);
});

Deno.test("boxes stage: with no horizon given (the dash-cam's guess), a car high in the frame is kept", async () => {
  const width = 320, height = 240;
  const { labels, paint } = canvas(width, height);
  paint(40, 50, 99, 80, CAR); // above the default level horizon (row 120): far away, for a camera on a pole
  const [guessed] = await runBoxes([labels], width, height, "min_area: 50, camera_height_m: 4");
  assert.equal(guessed!.camera.horizonKnown, false);
  assert.deepEqual(guessed!.boxes.map((b) => [b.x0, b.distance_m]), [[40, null]], "kept, with no distance");
  const [set] = await runBoxes([labels], width, height, "min_area: 50, camera_height_m: 4, pitch_deg: 0");
  assert.equal(set!.camera.horizonKnown, true);
  assert.deepEqual(set!.boxes, [], "a horizon the user set judges it");
});

Deno.test("boxes stage: a pedestrian box wider than tall is dropped", async () => {
  const width = 320, height = 240;
  const { labels, paint } = canvas(width, height);
  paint(30, 160, 89, 199, PEDESTRIAN); // 60 wide, 40 tall
  paint(200, 100, 229, 199, PEDESTRIAN); // 30 wide, 100 tall: 1.5 m * 100 / 104 = 1.4 m
  const [record] = await runBoxes([labels], width, height, `min_area: 50, ${camera320}`);
  assert.deepEqual(record!.boxes.map((b) => [b.className, b.x0, b.y0, b.x1, b.y1]), [[
    "Pedestrian",
    200,
    100,
    229,
    199,
  ]]);
});

Deno.test("boxes stage: two touching cars at different depths are two boxes; with split: false one", async () => {
  const width = 320, height = 240;
  const { labels, paint } = canvas(width, height);
  paint(40, 120, 119, 169, CAR); // the farther car, foot at row 170
  paint(120, 125, 219, 199, CAR); // the nearer one, touching it, foot 30 rows lower
  const [split] = await runBoxes([labels], width, height, `min_area: 50, ${camera320}`);
  const boxes = split!.boxes.slice().sort((a, b) => a.x0 - b.x0);
  assert.equal(boxes.length, 2, JSON.stringify(boxes));
  // Cut where the bottom steps, to within a bin of the outline (180 columns in 64 bins: under 3 columns).
  assert.ok(Math.abs(boxes[0]!.x1 - 119) <= 2 && Math.abs(boxes[1]!.x0 - 120) <= 2, JSON.stringify(boxes));
  assert.deepEqual([boxes[0]!.x0, boxes[0]!.y0, boxes[0]!.y1, boxes[1]!.x1, boxes[1]!.y1], [40, 120, 169, 219, 199]);
  assert.equal(boxes[0]!.area + boxes[1]!.area, 80 * 50 + 100 * 75, "every pixel in one of them");
  assert.ok(boxes[1]!.distance_m! < boxes[0]!.distance_m!, "the lower foot is nearer");
  const [whole] = await runBoxes([labels], width, height, `min_area: 50, split: false, ${camera320}`);
  assert.deepEqual(whole!.boxes.map((b) => [b.x0, b.y0, b.x1, b.y1]), [[40, 120, 219, 199]]);
});

Deno.test("boxes stage: auto_horizon moves the camera's horizon to the road's vanishing point", async () => {
  const width = 640, height = 360, vanishY = 150;
  // A straight road ahead from row 170 down, its borders meeting at (320, 150), clipped by the frame's sides.
  const { labels } = canvas(width, height, 4);
  for (let y = 170; y < height; y++) {
    const half = 2 * (y - vanishY);
    for (let x = Math.max(0, 320 - half); x <= Math.min(width - 1, 320 + half); x++) labels[y * width + x] = ROAD;
  }
  const frames = Array.from({ length: 8 }, () => labels);
  const records = await runBoxes(
    frames,
    width,
    height,
    "auto_horizon: true, camera_height_m: 1.5, hfov_deg: 70, horizon: 0.5",
  );
  const horizons = records.map((r) => r.camera.horizonY);
  assert.equal(horizons[0], 180, "the set horizon until the road has been seen on a few frames");
  const moved = horizons.findIndex((y) => y !== 180);
  assert.ok(moved >= 2, `moved on frame ${moved}: one or two frames are not enough (${horizons})`);
  for (const [i, y] of horizons.entries()) {
    if (i >= moved) assert.ok(Math.abs(y - vanishY) <= 3, `frame ${i}: horizon ${y}`);
  }
  const last: Camera = records[records.length - 1]!.camera;
  assert.ok(Math.abs(last.pitch - Math.atan((last.cy - last.horizonY) / last.focalPx)) < 1e-12, "pitch follows");
  const fixed = await runBoxes(frames, width, height, "camera_height_m: 1.5, hfov_deg: 70, horizon: 0.5");
  assert.ok(fixed.every((r) => r.camera.horizonY === 180), "without auto_horizon the horizon stays put");
});

Deno.test("boxes stage: both hfov_deg and focal_px, or both horizon and pitch_deg, are load errors", async () => {
  const graph = (params: string) =>
    `source: { kind: fake, frames: 1, width: 64, height: 48 }
stages:
  - { id: labels, kind: call, fn: labels, out: { value: labels } }
  - { id: boxes, kind: boxes, ${params}, in: { labels: labels } }
`;
  const focal = await graphError(graph("hfov_deg: 60, focal_px: 300"));
  assert.match(
    focal.message,
    /^test\.yaml:4:\d+: stage 'boxes': 'hfov_deg' and 'focal_px' both set: give one \(the focal length follows/,
  );
  const pitch = await graphError(graph("horizon: 0.4, pitch_deg: 2"));
  assert.match(
    pitch.message,
    /^test\.yaml:4:\d+: stage 'boxes': 'horizon' and 'pitch_deg' both set: give one \(the horizon row follows/,
  );
});
