/**
 * What picture sinks draw over a frame besides the labels: box labels placed so that none overlaps another
 * (with leader lines when moved off their box, dropped when no place is free), trails, the font's glyphs, and
 * a legend of the classes present.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { type LabelPlacement, placeLabels, type Rect, rectsOverlap } from "../stages/_label_layout.ts";
import { drawBoxes, type DrawnBox, labelBandSize, paletteTable, renderLabels } from "../stages/_render.ts";
import { classesPresent, drawLegend, legendRect } from "../stages/_legend.ts";
import { drawText, hasGlyph } from "../stages/_font.ts";
import { davisPalette } from "../stages/_picture.ts";
import { withTempDir } from "./_helpers.ts";
import { runSinks } from "./_sinks.ts";

const table = paletteTable(camvidClasses.palette);
const CAR = 8;
const bandSize = (label: string) => labelBandSize(label, 2);
const legendEntries = ["Road", "Car", "Pedestrian"].map((name) => ({
  name,
  colour: camvidClasses.palette[camvidClasses.names.indexOf(name)]!,
}));

/** 40 cars as a dash-cam sees them: nearer ones lower and larger, many overlapping (a fixed pseudo-random draw). */
function crowdedCars(): DrawnBox[] {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: 40 }, (_, i) => {
    const bottom = Math.round(175 + random() * 180);
    const h = Math.round((bottom - 160) * 0.6 + 8), w = Math.round(h * 1.4);
    const x0 = Math.round(random() * (640 - w));
    const label = `#${i + 1} car ${(1800 / (bottom - 160)).toFixed(1)} m`;
    return { x0, y0: bottom - h, x1: x0 + w - 1, y1: Math.min(359, bottom), label, classId: CAR };
  });
}

const boxRect = (b: DrawnBox): Rect => ({ x: b.x0, y: b.y0, width: b.x1 - b.x0 + 1, height: b.y1 - b.y0 + 1 });
/** Pixels between two rectangles (0 when they touch or overlap), the larger of the two axes. */
const gap = (a: Rect, b: Rect) =>
  Math.max(0, b.x - (a.x + a.width), a.x - (b.x + b.width), b.y - (a.y + a.height), a.y - (b.y + b.height));
const onEdge = (x: number, y: number, b: DrawnBox) =>
  x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1 && (x === b.x0 || x === b.x1 || y === b.y0 || y === b.y1);

Deno.test("placeLabels on a crowded dash-cam frame: no overlaps, inside the frame, clear of the legend", () => {
  const boxes = crowdedCars();
  const legend = legendRect(640, 360, legendEntries)!;
  const placements = placeLabels(boxes, 640, 360, bandSize, { reserved: [legend] });
  assert.equal(placements.length, boxes.length);
  const placed = placements.filter((p) => p.placed);
  assert.ok(placed.length >= 0.8 * boxes.length, `only ${placed.length} of ${boxes.length} placed`);
  placed.forEach((p, i) => {
    assert.ok(p.x >= 0 && p.y >= 0 && p.x + p.width <= 640 && p.y + p.height <= 360, `outside: ${JSON.stringify(p)}`);
    assert.ok(!rectsOverlap(p, legend), `covers the legend: ${JSON.stringify(p)}`);
    for (const q of placed.slice(i + 1)) assert.ok(!rectsOverlap(p, q), `${JSON.stringify(p)} / ${JSON.stringify(q)}`);
  });
  placements.forEach((p, i) => {
    const box = boxes[i]!;
    assert.deepEqual([p.width, p.height], [bandSize(box.label).width, 16]);
    if (!p.placed || gap(p, boxRect(box)) <= 2) return;
    // A label away from its box has a leader from the label's edge to the box's nearest edge or corner.
    assert.ok(p.leader, `label ${i} is ${gap(p, boxRect(box))} pixels from its box without a leader`);
    assert.ok(onEdge(p.leader.x1, p.leader.y1, box), `leader ${JSON.stringify(p.leader)} ends off box ${i}`);
    assert.ok(p.leader.x0 >= p.x && p.leader.x0 < p.x + p.width && p.leader.y0 >= p.y && p.leader.y0 < p.y + p.height);
  });
  assert.ok(placements.some((p) => p.leader), "a crowded frame moves some labels");
  assert.deepEqual(placeLabels(boxes, 640, 360, bandSize, { reserved: [legend] }), placements, "deterministic");
});

Deno.test("placeLabels on a sparse frame puts every label right above its box, left-aligned", () => {
  const boxes = [[20, 100, 120, 160], [300, 60, 400, 140], [500, 200, 600, 300]].map(([x0, y0, x1, y1]) => ({
    x0: x0!,
    y0: y0!,
    x1: x1!,
    y1: y1!,
    label: "car 15.6 m",
  }));
  const placements = placeLabels(boxes, 640, 360, bandSize);
  assert.deepEqual(
    placements,
    boxes.map((b) => ({ x: b.x0, y: b.y0 - 17, width: 122, height: 16, placed: true })),
  );
});

Deno.test("placeLabels drops labels that find no free place rather than overlapping them", () => {
  const boxes = Array.from({ length: 12 }, (_, i) => ({ x0: 2 * i, y0: 20, x1: 2 * i + 30, y1: 38, label: "car" }));
  const placements = placeLabels(boxes, 64, 40, (label) => labelBandSize(label, 1), { searchSteps: 2 });
  const placed = placements.filter((p) => p.placed);
  assert.ok(placed.length > 0 && placed.length < boxes.length, `${placed.length} placed`);
  placed.forEach((p, i) => placed.slice(i + 1).forEach((q) => assert.ok(!rectsOverlap(p, q))));
  // Nearest first: the boxes are alike but for area ties, so the first in input order wins the spot above.
  assert.deepEqual(placements[0], { x: 0, y: 11, width: 20, height: 8, placed: true });
});

/** Which placed rectangle holds (x, y), if any. */
const inside = (placements: LabelPlacement[], x: number, y: number) =>
  placements.some((p) => p.placed && x >= p.x && x < p.x + p.width && y >= p.y && y < p.y + p.height);

Deno.test("drawBoxes on a crowded frame darkens label bands only inside placed rectangles, never twice", () => {
  const boxes = crowdedCars();
  const legend = legendRect(640, 360, legendEntries)!;
  // A flat grey frame: a band darkens 200 to 50; two bands on one pixel would make 12.
  const rgb = new Uint8Array(640 * 360 * 3).fill(200);
  const dropped = drawBoxes(rgb, 640, 360, boxes, table, { reserved: [legend] });
  const placements = placeLabels(boxes, 640, 360, bandSize, { reserved: [legend] });
  assert.equal(dropped, placements.filter((p) => !p.placed).length);
  let banded = 0;
  for (let y = 0; y < 360; y++) {
    for (let x = 0; x < 640; x++) {
      const i = 3 * (y * 640 + x), pixel = [rgb[i], rgb[i + 1], rgb[i + 2]];
      assert.notDeepEqual(pixel, [12, 12, 12], `(${x}, ${y}) is under two label bands`);
      if (pixel[0] === 50 && pixel[1] === 50 && pixel[2] === 50) {
        assert.ok(inside(placements, x, y), `(${x}, ${y}) is darkened outside every placed label`);
        banded++;
      }
      if (rectsOverlap(legend, { x, y, width: 1, height: 1 })) assert.ok(!inside(placements, x, y));
    }
  }
  assert.ok(banded > 0.5 * placements.filter((p) => p.placed).reduce((n, p) => n + p.width * p.height, 0));
  // Cars are dark, so frames, leaders and text are yellow; some text is inside the first placed label.
  const first = placements.find((p) => p.placed)!;
  let text = 0;
  for (let y = first.y; y < first.y + first.height; y++) {
    for (let x = first.x; x < first.x + first.width; x++) {
      const i = 3 * (y * 640 + x);
      if (rgb[i] === 255 && rgb[i + 1] === 255 && rgb[i + 2] === 0) text++;
    }
  }
  assert.ok(text > 20, `${text} text pixels`);
});

Deno.test("drawBoxes draws a trail as a polyline, newer segments stronger, and none when trails: false", () => {
  const trail: [number, number][] = [[10, 100], [60, 100], [60, 150]];
  const box: DrawnBox = { x0: 200, y0: 200, x1: 260, y1: 260, label: "#3 car", classId: CAR, trackId: 3, trail };
  const rgb = new Uint8Array(320 * 320 * 3);
  drawBoxes(rgb, 320, 320, [box], table);
  const at = (x: number, y: number) => rgb[3 * (y * 320 + x)]!;
  for (let x = 10; x <= 60; x++) assert.ok(at(x, 100) > 0, `(${x}, 100) is on the trail`);
  for (let y = 100; y <= 150; y++) assert.ok(at(60, y) > 0, `(60, ${y}) is on the trail`);
  assert.ok(at(60, 140) > at(30, 100), "the newest segment is drawn stronger than the oldest");
  assert.ok(at(61, 140) > 0 && at(30, 101) === 0, "the newer half is 2 pixels wide, the older 1");
  assert.equal(at(30, 130), 0, "nothing off the polyline");
  const without = new Uint8Array(320 * 320 * 3);
  drawBoxes(without, 320, 320, [box], table, { trails: false });
  assert.equal(without[3 * (100 * 320 + 30)], 0);
});

Deno.test("drawLegend draws a swatch and a name per entry in the top-right corner, inside the frame", () => {
  const rgb = new Uint8Array(640 * 360 * 3).fill(160);
  const rect = drawLegend(rgb, 640, 360, legendEntries)!;
  assert.deepEqual(rect, legendRect(640, 360, legendEntries));
  assert.ok(rect.x > 320 && rect.y < 20 && rect.x + rect.width <= 640 && rect.y + rect.height <= 360);
  for (const [row, entry] of legendEntries.entries()) {
    // Row n's swatch is 14 pixels square (scale 2) from (x + 4, y + 4 + 18 n); its inside is the class colour.
    const i = 3 * ((rect.y + 4 + 18 * row + 7) * 640 + rect.x + 4 + 7);
    assert.deepEqual([...rgb.subarray(i, i + 3)], [...entry.colour], entry.name);
    let white = 0;
    for (let y = rect.y + 4 + 18 * row; y < rect.y + 18 + 18 * row; y++) {
      for (let x = rect.x + 24; x < rect.x + rect.width; x++) white += rgb[3 * (y * 640 + x)] === 255 ? 1 : 0;
    }
    assert.ok(white > 4 * entry.name.length, `${entry.name}: ${white} text pixels`);
  }
  for (let p = 0; p < 640 * 360; p++) {
    const x = p % 640, y = Math.floor(p / 640);
    if (!rectsOverlap(rect, { x, y, width: 1, height: 1 })) assert.equal(rgb[3 * p], 160, `(${x}, ${y}) changed`);
  }
});

Deno.test("drawLegend keeps to the frame: other corners, rows that fit plus a count, nothing on a tiny frame", () => {
  const many = Array.from({ length: 30 }, (_, i) => ({ name: `class ${i}`, colour: [i, i, i] }));
  const rect = legendRect(200, 60, many, { corner: "bottom-left" })!;
  assert.deepEqual([rect.x, rect.y + rect.height], [2, 58]);
  // Scale 1: 9 pixels a row, so 6 rows fit in 60 (2 margin, 2 padding each side); the last says "+25 more".
  assert.equal(rect.height, 4 + 6 * 9 - 2);
  const frame = new Uint8Array(200 * 60 * 3).fill(160);
  drawLegend(frame, 200, 60, many, { corner: "bottom-left" });
  const swatchCorner = (row: number) => frame[3 * ((rect.y + 2 + 9 * row) * 200 + rect.x + 2)];
  assert.equal(swatchCorner(4), 200, "row 5 has a swatch (its light outline)");
  assert.equal(swatchCorner(5), (160 * 3) >> 3, "the count row has none");
  const rgb = new Uint8Array(4 * 2 * 3).fill(9);
  assert.equal(drawLegend(rgb, 4, 2, legendEntries), undefined);
  assert.deepEqual([...rgb], Array(24).fill(9));
});

Deno.test("classesPresent lists the ids in a label map in id order, ignoring ids of count or more", () => {
  assert.deepEqual(classesPresent(Uint8Array.of(8, 3, 3, 255, 11, 0, 8), 11), [0, 3, 8]);
  assert.deepEqual(classesPresent(new Uint8Array(0), 11), []);
});

Deno.test("drawText has glyphs for label punctuation, each distinct, uppercase drawn as lowercase", () => {
  const drawn = (text: string) => {
    const rgb = new Uint8Array(6 * 7 * 3);
    drawText(rgb, 6, 7, text, 0, 0, [255, 255, 255]);
    return rgb.join();
  };
  const blank = drawn(" ");
  const bitmaps = new Set<string>();
  for (const ch of "#/()%+,=><_'") {
    assert.ok(hasGlyph(ch), ch);
    assert.notEqual(drawn(ch), blank, `'${ch}' is drawn`);
    bitmaps.add(drawn(ch));
  }
  assert.equal(bitmaps.size, 12);
  assert.equal(drawn("C"), drawn("c"));
  assert.ok(!hasGlyph("~"));
});

Deno.test("overlay-png draws the legend of the classes present, unless legend: false", async () => {
  await withTempDir(async (dir) => {
    const clip = { frames: 1, width: 160, height: 90 };
    const labelsOf = () => Uint8Array.from({ length: 160 * 90 }, (_, p) => p % 160 < 80 ? 3 : p % 160 < 100 ? 8 : 11);
    const image = { width: 160, height: 90, data: new Uint8Array(160 * 90 * 3) };
    const blend = renderLabels(image, labelsOf(), table, "overlay");
    const read = async (path: string) => [...await sharp(path).removeAlpha().raw().toBuffer()];
    await runSinks([`{ kind: overlay-png, dir: "${dir}/off", legend: false }`], labelsOf, clip);
    assert.deepEqual(await read(`${dir}/off/000000.png`), [...blend]);
    await runSinks([`{ kind: overlay-png, dir: "${dir}/on" }`], labelsOf, clip);
    const withLegend = blend.slice();
    assert.ok(drawLegend(withLegend, 160, 90, [legendEntries[0]!, legendEntries[1]!]), "a legend fits 160x90");
    assert.deepEqual(await read(`${dir}/on/000000.png`), [...withLegend], "Road and Car; void 11 left out");
    // DAVIS object ids: "object 1", "object 2"; the background 0 left out.
    const objects = () => Uint8Array.from({ length: 160 * 90 }, (_, p) => p % 3);
    await runSinks([`{ kind: overlay-png, dir: "${dir}/davis", palette: davis }`], objects, clip);
    const davis = renderLabels(image, objects(), paletteTable(davisPalette(256)), "overlay");
    const colours = davisPalette(3);
    drawLegend(davis, 160, 90, [{ name: "object 1", colour: colours[1]! }, { name: "object 2", colour: colours[2]! }]);
    assert.deepEqual(await read(`${dir}/davis/000000.png`), [...davis]);
  });
});
