/**
 * Placing box labels so that none overlaps another: greedy, nearest objects first, each label trying
 * positions next to its box and then a bounded search stepping away from it. A label placed away from its
 * box gets a leader line to it; one that finds no free place is dropped rather than drawn over another.
 *
 * @module
 */

/** An axis-aligned rectangle in pixels: top-left corner (x, y), width and height. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A line from (x0, y0) to (x1, y1), in pixels. */
export interface Leader {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Where a box's label goes; `placed: false` means dropped (the rectangle is where it would have gone). */
export interface LabelPlacement extends Rect {
  placed: boolean;
  /** A line from the label to its box's nearest edge or corner, when the label sits away from the box. */
  leader?: Leader;
}

/** What {@linkcode placeLabels} needs of a box: inclusive pixel bounds and its text. */
export interface LabelledBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  label: string;
}

/** Options of {@linkcode placeLabels}. */
export interface PlaceLabelsOptions {
  /** Rectangles no label may cover (a legend, say). */
  reserved?: readonly Rect[];
  /** How many steps the search goes away from a box on each axis (default 8). */
  searchSteps?: number;
}

/** Whether two rectangles share a pixel. */
export function rectsOverlap(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** The gaps between two rectangles along x and y (0 where they overlap on that axis). */
function gaps(a: Rect, b: Rect): [number, number] {
  return [
    Math.max(0, b.x - (a.x + a.width), a.x - (b.x + b.width)),
    Math.max(0, b.y - (a.y + a.height), a.y - (b.y + b.height)),
  ];
}

/** The nearest pixels of `label` and `box` along one axis: [on the label, on the box]. */
function nearest(l0: number, l1: number, b0: number, b1: number): [number, number] {
  if (l1 < b0) return [l1, b0];
  if (l0 > b1) return [l0, b1];
  const middle = Math.round((Math.max(l0, b0) + Math.min(l1, b1)) / 2);
  return [middle, middle];
}

/** Labels further than this many pixels from their box get a leader line. */
const attachedGap = 2;

/** Candidate top-left corners for a `w` x `h` label of `box`, best first. */
function* candidates(box: Rect, w: number, h: number, frame: Rect, steps: number): Generator<[number, number]> {
  const above = box.y - h - 1, below = box.y + box.height + 1;
  const right = box.x + box.width - w, clamped = Math.min(Math.max(box.x, 0), frame.width - w);
  yield [box.x, above];
  yield [right, above];
  yield [clamped, above];
  if (w <= box.width - 4 && h <= box.height - 4) yield [box.x + 2, box.y + 2];
  yield [box.x, below];
  yield [right, below];
  yield [clamped, below];
  yield [box.x + box.width + 1, box.y];
  yield [box.x - w - 1, box.y];
  // Then a grid stepping away from the above-left spot, nearest to the box first.
  const stepX = Math.max(1, Math.ceil(w / 4)), stepY = h + 1;
  const grid: [number, number, number][] = [];
  for (let dy = -steps; dy <= steps; dy++) {
    for (let dx = -steps; dx <= steps; dx++) {
      const x = box.x + dx * stepX, y = above + dy * stepY;
      const [gx, gy] = gaps({ x, y, width: w, height: h }, box);
      grid.push([x, y, Math.hypot(gx, gy) * 64 + Math.abs(dy) * 2 + Math.abs(dx)]);
    }
  }
  grid.sort((a, b) => a[2] - b[2]);
  for (const [x, y] of grid) yield [x, y];
}

/**
 * Places each box's label (`textSize` gives its size) inside a `frameWidth` x `frameHeight` frame so that no
 * two placed labels overlap and none covers `options.reserved`. Boxes go in priority order: nearest objects
 * first (larger bottom edge `y1`, then larger area). Each label tries above its box (left-aligned, then
 * right-aligned), inside its top, below, beside it, then a bounded grid of positions stepping away; far
 * positions prefer not to cover another box's own above-left label spot. Returns one placement per box, in
 * the order of `boxes`; deterministic, O(n^2 x candidates).
 *
 * @example
 * ```ts
 * const size = (label: string) => ({ width: label.length * 6 + 2, height: 8 });
 * const [car] = placeLabels([{ x0: 10, y0: 20, x1: 50, y1: 40, label: "car" }], 100, 100, size);
 * // car: { x: 10, y: 11, width: 20, height: 8, placed: true }
 * ```
 */
export function placeLabels(
  boxes: readonly LabelledBox[],
  frameWidth: number,
  frameHeight: number,
  textSize: (label: string) => { width: number; height: number },
  options: PlaceLabelsOptions = {},
): LabelPlacement[] {
  const { reserved = [], searchSteps = 8 } = options;
  const frame = { x: 0, y: 0, width: frameWidth, height: frameHeight };
  const rects = boxes.map((b) => ({ x: b.x0, y: b.y0, width: b.x1 - b.x0 + 1, height: b.y1 - b.y0 + 1 }));
  const sizes = boxes.map((b) => textSize(b.label));
  const spots = rects.map((r, i) => ({ x: r.x, y: r.y - sizes[i]!.height - 1, ...sizes[i]! }));
  const order = boxes.map((_, i) => i).sort((a, b) =>
    boxes[b]!.y1 - boxes[a]!.y1 || rects[b]!.width * rects[b]!.height - rects[a]!.width * rects[a]!.height || a - b
  );
  const placed: Rect[] = [...reserved];
  const result: LabelPlacement[] = spots.map((spot) => ({ ...spot, placed: false }));
  for (const i of order) {
    const box = rects[i]!, { width, height } = sizes[i]!;
    const free = (r: Rect) =>
      r.x >= 0 && r.y >= 0 && r.x + width <= frameWidth && r.y + height <= frameHeight &&
      !placed.some((p) => rectsOverlap(p, r));
    const coversSpot = (r: Rect) => spots.some((s, j) => j !== i && rectsOverlap(s, r));
    let chosen: Rect | undefined, fallback: Rect | undefined;
    for (const [x, y] of candidates(box, width, height, frame, searchSteps)) {
      const r = { x, y, width, height };
      if (!free(r)) continue;
      const [gx, gy] = gaps(r, box);
      if (Math.max(gx, gy) <= attachedGap || !coversSpot(r)) {
        chosen = r;
        break;
      }
      fallback ??= r;
    }
    chosen ??= fallback;
    if (!chosen) continue;
    placed.push(chosen);
    const placement: LabelPlacement = { ...chosen, placed: true };
    const [gx, gy] = gaps(chosen, box);
    if (Math.max(gx, gy) > attachedGap) {
      const [lx, bx] = nearest(chosen.x, chosen.x + width - 1, box.x, box.x + box.width - 1);
      const [ly, by] = nearest(chosen.y, chosen.y + height - 1, box.y, box.y + box.height - 1);
      placement.leader = { x0: lx, y0: ly, x1: bx, y1: by };
    }
    result[i] = placement;
  }
  return result;
}
