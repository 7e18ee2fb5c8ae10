import assert from "node:assert/strict";
import { type Component, components, type InstanceBox, splitComponent } from "../stages/_instances.ts";
import { objectPrior } from "../stages/_object_classes.ts";

const POLE = 2, ROAD = 3, CAR = 8, PEDESTRIAN = 9, BICYCLIST = 10;

/** A label map filled with road, and painters for it. */
function canvas(width: number, height: number) {
  const labels = new Uint8Array(width * height).fill(ROAD);
  const set = (x: number, y: number, id: number) => {
    if (x >= 0 && x < width && y >= 0 && y < height) labels[y * width + x] = id;
  };
  /** Fills inclusive bounds. */
  const rect = (x0: number, y0: number, x1: number, y1: number, id: number) => {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) set(x, y, id);
  };
  /** Fills each column x in [x0, x1] from `top(x)` to `bottom(x)`. */
  const columns = (x0: number, x1: number, top: (x: number) => number, bottom: (x: number) => number, id: number) => {
    for (let x = x0; x <= x1; x++) for (let y = Math.round(top(x)); y <= Math.round(bottom(x)); y++) set(x, y, id);
  };
  const only = (classes: number[], minArea = 1, fragmented: number[] = []) =>
    components(labels, width, height, new Set(classes), minArea, new Set(fragmented));
  return { labels, rect, columns, only };
}

/** A car seen from behind or the side: a body, a narrower cabin on it, two wheels below the body. */
function paintCar(
  paint: ReturnType<typeof canvas>,
  x0: number,
  x1: number,
  top: number,
  bottom: number,
) {
  const w = x1 - x0 + 1, h = bottom - top + 1;
  const wheel = Math.round(0.12 * h), cabin = Math.round(0.4 * h);
  paint.rect(x0 + Math.round(0.2 * w), top, x1 - Math.round(0.2 * w), top + cabin - 1, CAR);
  paint.rect(x0, top + cabin, x1, bottom - wheel, CAR);
  const wheelWidth = Math.round(0.18 * w);
  paint.rect(x0 + Math.round(0.08 * w), bottom - wheel, x0 + Math.round(0.08 * w) + wheelWidth, bottom, CAR);
  paint.rect(x1 - Math.round(0.08 * w) - wheelWidth, bottom - wheel, x1 - Math.round(0.08 * w), bottom, CAR);
}

/** A pedestrian centred on column `cx`: head, sloping shoulders, body, two legs; feet on row `foot`. */
function paintPedestrian(paint: ReturnType<typeof canvas>, cx: number, top: number, foot: number) {
  const h = foot - top + 1, head = Math.round(0.13 * h), half = Math.round(0.16 * h);
  paint.rect(cx - Math.round(0.05 * h), top, cx + Math.round(0.05 * h), top + head - 1, PEDESTRIAN);
  const shoulder = top + head, legs = top + Math.round(0.55 * h);
  // Shoulders slope down outwards: the outline between two people touching at the shoulders dips at the contact.
  paint.columns(cx - half, cx + half, (x) => shoulder + 0.5 * Math.abs(x - cx), () => legs - 1, PEDESTRIAN);
  const leg = Math.round(0.06 * h);
  paint.rect(cx - half + 1, legs, cx - half + 1 + leg, foot, PEDESTRIAN);
  paint.rect(cx + half - 1 - leg, legs, cx + half - 1, foot, PEDESTRIAN);
}

const bounds = (box: InstanceBox) => [box.x0, box.y0, box.x1, box.y1];
const byX = (boxes: InstanceBox[]) => boxes.slice().sort((a, b) => a.x0 - b.x0);

function assertBounds(actual: InstanceBox, expected: number[], tolerance: number, what: string) {
  const got = bounds(actual);
  assert.ok(
    got.every((v, i) => Math.abs(v - expected[i]!) <= tolerance),
    `${what}: expected [${expected}] within ${tolerance} px, got [${got}]`,
  );
}

/** The single component of the map's `classId` pixels. */
function single(found: Component[]): Component {
  assert.equal(found.length, 1, `expected one component, got ${found.length}`);
  return found[0]!;
}

Deno.test("components: 8-connected per class, with the column outline (top, bottom and count per column)", () => {
  const paint = canvas(8, 6);
  // A car: an L (column 1, rows 1-4, and row 4, columns 2-3) and a pixel touching it only diagonally (4, 3).
  paint.rect(1, 1, 1, 4, CAR);
  paint.rect(2, 4, 3, 4, CAR);
  paint.rect(4, 3, 4, 3, CAR);
  // A pedestrian right next to it: another class, another component.
  paint.rect(5, 2, 5, 4, PEDESTRIAN);
  const car = single(paint.only([CAR]));
  assert.deepEqual([car.classId, car.x0, car.y0, car.x1, car.y1, car.area], [CAR, 1, 1, 4, 4, 7]);
  assert.deepEqual([...car.top], [1, 4, 4, 3]);
  assert.deepEqual([...car.bottom], [4, 4, 4, 3]);
  assert.deepEqual([...car.count], [4, 1, 1, 1]);
  const both = paint.only([CAR, PEDESTRIAN]).sort((a, b) => a.classId - b.classId);
  assert.deepEqual(both.map((c) => [c.classId, c.x0, c.x1, c.area]), [[CAR, 1, 4, 7], [PEDESTRIAN, 5, 5, 3]]);
  assert.deepEqual([...both[1]!.top, ...both[1]!.bottom, ...both[1]!.count], [2, 4, 3]);
});

Deno.test("components: minArea drops small components; 4-apart pixels are separate components", () => {
  const paint = canvas(10, 5);
  paint.rect(0, 0, 2, 2, CAR); // 9 pixels
  paint.rect(6, 0, 6, 1, CAR); // 2 pixels
  paint.rect(8, 3, 9, 4, CAR); // 4 pixels
  assert.deepEqual(paint.only([CAR]).map((c) => c.area).sort((a, b) => a - b), [2, 4, 9]);
  assert.deepEqual(paint.only([CAR], 4).map((c) => c.area).sort((a, b) => a - b), [4, 9]);
  assert.deepEqual(paint.only([CAR], 10), []);
  assert.deepEqual(paint.only([PEDESTRIAN]), [], "classes not asked for are not components");
});

/** A bicycle's rider and front wheel as a segmentation breaks them apart: not pixel-connected, boxes overlapping. */
function paintRiderAndWheel(paint: ReturnType<typeof canvas>, id: number) {
  paint.rect(28, 10, 36, 40, id); // torso
  paint.rect(37, 20, 50, 23, id); // arm to the handlebar
  paint.rect(30, 41, 33, 55, id); // leg
  paint.rect(45, 50, 65, 70, id); // front wheel: below the arm, right of the leg, inside the rider's box's corner
}

Deno.test("components: fragments of a fragmented class whose boxes overlap are one component", () => {
  const paint = canvas(80, 80);
  paintRiderAndWheel(paint, BICYCLIST);
  assert.equal(paint.only([BICYCLIST]).length, 2, "two pieces, not pixel-connected");
  const rider = single(paint.only([BICYCLIST], 1, [BICYCLIST]));
  assert.deepEqual([rider.x0, rider.y0, rider.x1, rider.y1], [28, 10, 65, 70]);
  const pieces = 9 * 31 + 14 * 4 + 4 * 15 + 21 * 21;
  assert.equal(rider.area, pieces);
  assert.equal(rider.count.reduce((a, b) => a + b, 0), pieces, "the outline counts both pieces' pixels");
  assert.equal(rider.top[0], 10);
  assert.equal(rider.bottom[0], 40);
  assert.equal(rider.top[65 - 28], 50, "a wheel-only column");
  assert.equal(rider.bottom[65 - 28], 70);
  assert.equal(rider.top[45 - 28], 20, "a column with the arm above the wheel: top from the arm");
  assert.equal(rider.bottom[45 - 28], 70, "bottom from the wheel");
  assert.equal(rider.count[45 - 28], 4 + 21);
  // The gathered component passes minArea on the pieces' sum.
  assert.equal(paint.only([BICYCLIST], pieces, [BICYCLIST]).length, 1);
});

Deno.test("components: the same pieces of a class that does not fragment (cars) stay two", () => {
  const paint = canvas(80, 80);
  paintRiderAndWheel(paint, CAR);
  const found = paint.only([CAR], 1, [BICYCLIST]);
  assert.equal(found.length, 2);
  assert.equal(objectPrior("Car").fragmented, false);
  assert.equal(objectPrior("Bicyclist").fragmented, true);
});

Deno.test("splitComponent: two touching cars, the right one nearer (bottom 30 px lower), are split by depth order", () => {
  const paint = canvas(320, 240);
  paintCar(paint, 20, 119, 100, 159);
  paintCar(paint, 120, 219, 110, 189);
  const boxes = byX(splitComponent(single(paint.only([CAR])), objectPrior("Car")));
  assert.equal(boxes.length, 2, `boxes: ${JSON.stringify(boxes.map(bounds))}`);
  assertBounds(boxes[0]!, [20, 100, 119, 159], 2, "the farther car");
  assertBounds(boxes[1]!, [120, 110, 219, 189], 2, "the nearer car");
  assert.equal(boxes[0]!.area + boxes[1]!.area, single(paint.only([CAR])).area, "every pixel in one box");
});

Deno.test("splitComponent: the depth cut is at the step, whichever side the nearer object is on", () => {
  for (const nearerRight of [true, false]) {
    const paint = canvas(320, 240);
    const far = nearerRight ? [40, 120, 119, 169] : [120, 120, 199, 169];
    const near = nearerRight ? [120, 125, 219, 199] : [20, 125, 119, 199];
    paint.rect(far[0]!, far[1]!, far[2]!, far[3]!, CAR);
    paint.rect(near[0]!, near[1]!, near[2]!, near[3]!, CAR);
    const boxes = byX(splitComponent(single(paint.only([CAR])), objectPrior("Car")));
    assert.equal(boxes.length, 2, `nearer on the right: ${nearerRight}: ${JSON.stringify(boxes.map(bounds))}`);
    const [left, right] = nearerRight ? [far, near] : [near, far];
    // To within a bin of the outline (180-200 columns in 64 bins: under 4 columns); the y0 of the box that takes
    // the farther object's last columns follows its top, so only the cut columns and the feet are checked.
    assert.ok(Math.abs(boxes[0]!.x1 - left[2]!) <= 3, `left box [${bounds(boxes[0]!)}]`);
    assert.ok(Math.abs(boxes[1]!.x0 - right[0]!) <= 3, `right box [${bounds(boxes[1]!)}]`);
    assert.deepEqual([boxes[0]!.x0, boxes[0]!.y1, boxes[1]!.x1, boxes[1]!.y1], [left[0], left[3], right[2], right[3]]);
  }
});

Deno.test("splitComponent: a ragged edge column (a mirror, a stray run of pixels) does not stop a depth split", () => {
  // Two small (far) cars, the right one nearer: under 64 columns, so each column is a bin of its own.
  const paint = canvas(200, 200);
  paint.rect(20, 100, 49, 129, CAR);
  paint.rect(50, 105, 79, 144, CAR);
  paint.rect(80, 110, 80, 112, CAR); // one column at the right edge whose bottom is far above: a step too narrow to cut
  const boxes = byX(splitComponent(single(paint.only([CAR])), objectPrior("Car")));
  assert.equal(boxes.length, 2, `boxes: ${JSON.stringify(boxes.map(bounds))}`);
  assert.deepEqual(boxes.map(bounds), [[20, 100, 49, 129], [50, 105, 80, 144]]);
});

Deno.test("splitComponent: one car with wheels (the bottom outline dips between them) is one box", () => {
  const paint = canvas(320, 240);
  paintCar(paint, 60, 259, 80, 179);
  const boxes = splitComponent(single(paint.only([CAR])), objectPrior("Car"));
  assert.deepEqual(boxes.map(bounds), [[60, 80, 259, 179]]);
});

Deno.test("splitComponent: a car seen at a slight tilt (its bottom sloping 20 px over 200 px) is one box", () => {
  const paint = canvas(320, 240);
  const slope = (x: number) => (20 * (x - 60)) / 199;
  paint.columns(60, 259, (x) => 90 + slope(x), (x) => 150 + slope(x), CAR);
  paint.columns(100, 219, (x) => 60 + slope(x), (x) => 90 + slope(x), CAR); // cabin
  const boxes = splitComponent(single(paint.only([CAR])), objectPrior("Car"));
  assert.equal(boxes.length, 1, `boxes: ${JSON.stringify(boxes.map(bounds))}`);
  assertBounds(boxes[0]!, [60, 64, 259, 170], 1, "the tilted car");
});

Deno.test("splitComponent: two pedestrians touching at the shoulders, feet on one row, split at the valley", () => {
  const paint = canvas(200, 200);
  paintPedestrian(paint, 80, 40, 159);
  paintPedestrian(paint, 118, 40, 159); // half-width 19: shoulders meet at column 99
  const component = single(paint.only([PEDESTRIAN]));
  const boxes = byX(splitComponent(component, objectPrior("Pedestrian")));
  assert.equal(boxes.length, 2, `boxes: ${JSON.stringify(boxes.map(bounds))}`);
  assertBounds(boxes[0]!, [61, 40, 99, 159], 2, "the left pedestrian");
  assertBounds(boxes[1]!, [99, 40, 137, 159], 2, "the right pedestrian");
});

Deno.test("splitComponent: one pedestrian (head above sloping shoulders, two legs) is one box", () => {
  const paint = canvas(200, 200);
  paintPedestrian(paint, 100, 40, 159);
  const boxes = splitComponent(single(paint.only([PEDESTRIAN])), objectPrior("Pedestrian"));
  assert.deepEqual(boxes.map(bounds), [[81, 40, 119, 159]]);
});

Deno.test("splitComponent: a pole's box keeps to its shaft, not the sign plate on top", () => {
  const paint = canvas(200, 200);
  paint.rect(100, 50, 103, 149, POLE); // shaft: 4 x 100
  paint.rect(92, 44, 111, 49, POLE); // sign plate 20 x 6 on top
  const component = single(paint.only([POLE]));
  assert.equal(component.x1 - component.x0 + 1, 20, "the component itself is as wide as the plate");
  const boxes = splitComponent(component, objectPrior("Pole"));
  assert.equal(boxes.length, 1);
  const pole = boxes[0]!;
  assert.ok(pole.x1 - pole.x0 + 1 <= 6, `shaft width ${pole.x1 - pole.x0 + 1}`);
  assert.ok(pole.x0 >= 99 && pole.x1 <= 104, `box [${bounds(pole)}] over the shaft's columns 100-103`);
  assert.equal(pole.y1, 149, "down to the foot");
});

Deno.test("splitComponent: two poles joined by a wire are two boxes", () => {
  const paint = canvas(200, 200);
  paint.rect(50, 40, 53, 139, POLE);
  paint.rect(150, 40, 153, 139, POLE);
  paint.rect(54, 60, 149, 61, POLE); // the wire
  const boxes = byX(splitComponent(single(paint.only([POLE])), objectPrior("Pole")));
  assert.deepEqual(boxes.map(bounds), [[50, 40, 53, 139], [150, 40, 153, 139]]);
});
