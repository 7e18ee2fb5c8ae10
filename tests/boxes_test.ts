import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { findBoxes, groundDistance, type ObjectBox } from "../stages/boxes.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

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

Deno.test("boxes stage: a synthetic car gets the formula's distance; tiny and huge components are skipped", async () => {
  const width = 200, height = 100;
  const labels = new Uint8Array(width * height).fill(ROAD);
  const paint = (x0: number, y0: number, x1: number, y1: number, id: number) => {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) labels[y * width + x] = id;
  };
  paint(20, 50, 49, 79, CAR); // 30x30 car, bottom row 79
  paint(150, 10, 152, 12, PEDESTRIAN); // 9 pixels: below min_area
  const { probe, registry } = testSetup();
  const found: ObjectBox[][] = [];
  probe.functions.set("labels", (frame) => {
    const data = frame.index === 0 ? labels : new Uint8Array(width * height).fill(CAR); // frame 1: all car (huge)
    frame.slots.set("labels", { type: "uint8", dims: [1, height, width], data });
  });
  probe.functions.set("keep", (frame) => void found.push((frame.slots.get("boxes") as { boxes: ObjectBox[] }).boxes));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 2, width: ${width}, height: ${height} }
stages:
  - { id: labels, kind: call, fn: labels, out: { value: labels } }
  - { id: boxes, kind: boxes, min_area: 50, camera_height_m: 1.5, focal_px: 180, horizon: 0.4, in: { labels: labels } }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
  );
  await runGraph(graph);
  assert.equal(found[0]!.length, 1, "only the car: the 9-pixel pedestrian is below min_area");
  const car = found[0]![0]!;
  assert.deepEqual([car.x0, car.y0, car.x1, car.y1, car.className], [20, 50, 49, 79, "Car"]);
  // Bottom edge at y = 80 (below the last row), horizon at 0.4 x 100 = 40: 180 * 1.5 / 40 = 6.75 m.
  assert.equal(car.distance_m, Math.round(((180 * 1.5) / 40) * 10) / 10);
  assert.equal(car.label, "car 6.8 m");
  assert.deepEqual(found[1], [], "a component larger than half the frame both ways is skipped");
});
