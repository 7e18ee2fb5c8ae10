import assert from "node:assert/strict";
import { estimateRoadHorizon, type HorizonEstimate, HorizonTrack } from "../stages/_road_horizon.ts";

const SKY = 0, BUILDING = 1, ROAD = 3, PAVEMENT = 4, CAR = 8;
const width = 640, height = 360;
const roads = new Set([ROAD]);

/**
 * A straight road seen ahead: its borders meet at (`vanishX`, `vanishY`) and spread `spread` px per row below
 * it; drawn from row `top` to the bottom, clipped by the frame's sides; buildings above, pavement beside it.
 */
function perspectiveRoad(vanishY: number, { top = 170, spread = 2, vanishX = 320 } = {}): Uint8Array {
  const labels = new Uint8Array(width * height).fill(SKY);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    if (y < top) {
      labels.fill(BUILDING, row + 0, row + 200);
      labels.fill(BUILDING, row + 440, row + width);
      continue;
    }
    labels.fill(PAVEMENT, row, row + width);
    const left = vanishX - spread * (y - vanishY), right = vanishX + spread * (y - vanishY);
    for (let x = Math.max(0, Math.ceil(left)); x <= Math.min(width - 1, Math.floor(right)); x++) {
      labels[row + x] = ROAD;
    }
  }
  return labels;
}

function paint(labels: Uint8Array, x0: number, y0: number, x1: number, y1: number, id: number) {
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) labels[y * width + x] = id;
}

function assertNear(estimate: HorizonEstimate | null, expected: number, tolerance: number) {
  assert.ok(estimate, "an estimate");
  assert.ok(
    Math.abs(estimate.horizonY - expected) <= tolerance,
    `horizon ${estimate.horizonY}, expected ${expected} +- ${tolerance}`,
  );
}

Deno.test("estimateRoadHorizon: a road's converging borders meet at the horizon row", () => {
  const labels = perspectiveRoad(150);
  // The sides leave the frame below row 310: those rows are not border rows.
  assert.equal(labels[359 * width + 0], ROAD);
  assert.equal(labels[359 * width + width - 1], ROAD);
  const estimate = estimateRoadHorizon(labels, width, height, roads);
  assertNear(estimate, 150, 3);
  assert.ok(estimate!.rows >= 2 * 130 && estimate!.rows <= 2 * 142, `${estimate!.rows} border rows`);
});

Deno.test("estimateRoadHorizon: follows the vanishing point off-centre and at other rows", () => {
  assertNear(estimateRoadHorizon(perspectiveRoad(120, { vanishX: 280, spread: 1.6 }), width, height, roads), 120, 3);
  assertNear(estimateRoadHorizon(perspectiveRoad(180, { top: 195, spread: 2.5 }), width, height, roads), 180, 3);
});

Deno.test("estimateRoadHorizon: cars biting into the road's edges do not move it far", () => {
  const labels = perspectiveRoad(150);
  // A car over the left border (rows 220-249) and one over the right border lower down (rows 260-294): a fifth
  // of each border's rows.
  const leftAt = (y: number) => 320 - 2 * (y - 150), rightAt = (y: number) => 320 + 2 * (y - 150);
  paint(labels, leftAt(249) - 30, 220, leftAt(220) + 40, 249, CAR);
  paint(labels, rightAt(260) - 40, 260, Math.min(width - 1, rightAt(294) + 30), 294, CAR);
  assert.equal(labels[235 * width + leftAt(235) + 10], CAR, "the left car covers road pixels");
  assert.equal(labels[290 * width + rightAt(290) - 10], CAR, "and so does the right one");
  assertNear(estimateRoadHorizon(labels, width, height, roads), 150, 6);
});

Deno.test("estimateRoadHorizon: a road seen side-on (a band across the frame) gives no horizon", () => {
  // The synthetic world: the road is every pixel below 70% of the height, across the whole width.
  const band = new Uint8Array(width * height).fill(BUILDING);
  band.fill(PAVEMENT, Math.round(0.62 * height) * width);
  band.fill(ROAD, Math.round(0.7 * height) * width);
  assert.equal(estimateRoadHorizon(band, width, height, roads), null);
  // A band whose ends are inside the frame: vertical borders, which do not converge.
  const inside = new Uint8Array(width * height).fill(BUILDING);
  paint(inside, 20, 252, 619, 359, ROAD);
  assert.equal(estimateRoadHorizon(inside, width, height, roads), null);
});

Deno.test("estimateRoadHorizon: no road (or no road class) gives no horizon", () => {
  const labels = new Uint8Array(width * height).fill(BUILDING);
  assert.equal(estimateRoadHorizon(labels, width, height, roads), null);
  assert.equal(estimateRoadHorizon(perspectiveRoad(150), width, height, new Set()), null);
  // Borders that diverge upwards (a road widening away from the camera) are no road seen ahead.
  const flipped = perspectiveRoad(150);
  flipped.reverse();
  assert.equal(estimateRoadHorizon(flipped, width, height, roads), null);
});

const at = (horizonY: number): HorizonEstimate => ({ horizonY, rows: 100 });

Deno.test("HorizonTrack: nothing until `minimum` frames gave an estimate, frames without one do not count", () => {
  const track = new HorizonTrack(height, 15, 3);
  assert.equal(track.current(), null);
  track.add(at(150));
  track.add(null);
  track.add(at(152));
  track.add(null);
  assert.equal(track.current(), null, "two estimates");
  track.add(at(148));
  assert.deepEqual(track.current()?.horizonY, 150, "three: their median");
});

Deno.test("HorizonTrack: the middle of the estimates, not pulled by a few stray frames", () => {
  const track = new HorizonTrack(height, 15, 3);
  for (const y of [150, 151, 149, 152, 40, 150, 148, 300, 151]) track.add(at(y));
  const current = track.current()!;
  assert.equal(current.horizonY, 150);
  assert.ok(current.spread > 0 && current.spread < 3, `spread ${current.spread}`);
});

Deno.test("HorizonTrack: its window is bounded: old estimates are forgotten", () => {
  const track = new HorizonTrack(height, 5, 3);
  for (let i = 0; i < 20; i++) track.add(at(100));
  for (let i = 0; i < 5; i++) track.add(at(200 + (i % 2)));
  // Twenty frames agreed on 100, but only the last 5 (200, 201, 200, 201, 200) are remembered.
  assert.equal(track.current()!.horizonY, 200);
});

Deno.test("HorizonTrack: spread is the scaled median absolute deviation of the agreeing estimates", () => {
  const still = new HorizonTrack(height, 15, 3);
  for (let i = 0; i < 6; i++) still.add(at(150));
  assert.equal(still.current()!.spread, 0, "identical estimates: no spread");
  const shaky = new HorizonTrack(height, 15, 3);
  for (const y of [146, 148, 150, 152, 154]) shaky.add(at(y));
  // Median 150, absolute deviations 0, 2, 2, 4, 4: their median 2.
  assert.deepEqual(shaky.current(), { horizonY: 150, spread: 1.4826 * 2 });
});
