/**
 * Object instances from a label map: connected components (8-neighbour) of the boxed classes, each with its
 * column outline (top row, bottom row and pixel count per column), then split where the outline says that two
 * objects of a class touch:
 *
 * - **depth order**: objects stand on the ground, so a nearer one's bottom edge is lower. A sharp, lasting step in
 *   the bottom outline (a car in front of another, a pedestrian in front of a parked car's row) splits there.
 * - **row profile**: two objects side by side at one depth leave a dip in the top outline between two peaks (two
 *   heads, two roofs); a dip deep enough for the class (`ObjectPrior.valley`) splits at its lowest point.
 * - **thin classes** (poles) keep to their shafts: the columns holding at least half the tallest column's pixels,
 *   one box per run of them, so a sign plate or a wire does not widen the box.
 *
 * @module
 */
import type { ObjectPrior } from "./_object_classes.ts";

/** An object's box: inclusive pixel bounds and its pixel count. */
export interface InstanceBox {
  classId: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  area: number;
}

/** A connected component with its column outline (top row, bottom row, pixel count; indexed by `x - x0`). */
export interface Component extends InstanceBox {
  top: Int32Array;
  bottom: Int32Array;
  count: Int32Array;
}

/**
 * Connected components (8-neighbour) of the pixels whose label is in `classes`, at least `minArea` pixels, with
 * their outlines. Union-find over one pass, bounds in a second, outlines in a third. Components of a `fragmented`
 * class whose boxes overlap or touch are gathered into one first (their area summed; specks under a tenth of
 * `minArea` left out).
 */
export function components(
  labels: Uint8Array,
  width: number,
  height: number,
  classes: ReadonlySet<number>,
  minArea = 1,
  fragmented: ReadonlySet<number> = new Set(),
): Component[] {
  const wanted = new Uint8Array(256);
  for (const c of classes) wanted[c] = 1;
  const parent = new Int32Array(width * height).fill(-1);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const union = (a: number, b: number) => {
    const ra = find(a), rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const c = labels[p]!;
      if (!wanted[c]) continue;
      // Joined to the left neighbour directly (the common case inside a blob), then to the row above.
      parent[p] = x > 0 && labels[p - 1] === c ? parent[p - 1]! : p;
      if (y > 0) {
        const up = p - width;
        if (labels[up] === c) union(p, up);
        else {
          if (x > 0 && labels[up - 1] === c) union(p, up - 1);
          if (x < width - 1 && labels[up + 1] === c) union(p, up + 1);
        }
      }
    }
  }
  // Each pixel's component, numbered in scan order: a root (the least pixel of its component) comes before the rest.
  const index = new Int32Array(width * height).fill(-1);
  const list: Component[] = [];
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      if (parent[p] === -1) continue;
      const root = find(p);
      if (root === p) {
        index[p] = list.length;
        list.push({ classId: labels[p]!, x0: x, y0: y, x1: x, y1: y, area: 1, top: none, bottom: none, count: none });
        continue;
      }
      const c = list[index[p] = index[root]!]!;
      if (x < c.x0) c.x0 = x;
      if (x > c.x1) c.x1 = x;
      c.y1 = y;
      c.area++;
    }
  }
  // Fragments of a class that breaks apart (a bicycle's wheels, frame and rider) whose boxes meet are one object.
  const up = list.map((_, i) => i);
  const head = (i: number): number => up[i] === i ? i : (up[i] = head(up[i]!));
  // Specks (under a tenth of minArea) take no part: a noisy label map must not chain them into one box, nor cost
  // a comparison per pair. The rest are swept left to right, each against those whose boxes still reach it.
  const leastPiece = Math.max(2, minArea / 10);
  const pieces = list.flatMap((c, i) => fragmented.has(c.classId) && c.area >= leastPiece ? [i] : [])
    .sort((a, b) => list[a]!.x0 - list[b]!.x0);
  let reaching: number[] = [];
  for (const a of pieces) {
    const box = list[a]!;
    reaching = reaching.filter((b) => list[b]!.x1 + 1 >= box.x0);
    for (const b of reaching) {
      if (list[b]!.classId === box.classId && boxesMeet(box, list[b]!)) gather(a, b);
    }
    reaching.push(a);
  }
  function gather(a: number, b: number) {
    const ra = head(a), rb = head(b);
    if (ra !== rb) up[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  const groupOf = list.map((c, i) => {
    const group = list[head(i)]!;
    if (group !== c) {
      group.x0 = Math.min(group.x0, c.x0);
      group.x1 = Math.max(group.x1, c.x1);
      group.y0 = Math.min(group.y0, c.y0);
      group.y1 = Math.max(group.y1, c.y1);
      group.area += c.area;
    }
    return group;
  });
  const kept = groupOf.map((c) => c.area >= minArea);
  for (const [i, c] of groupOf.entries()) {
    if (!kept[i] || c.count !== none) continue;
    const n = c.x1 - c.x0 + 1;
    c.top = new Int32Array(n).fill(height);
    c.bottom = new Int32Array(n).fill(-1);
    c.count = new Int32Array(n);
  }
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      const i = index[p]!;
      if (i < 0 || !kept[i]) continue;
      const c = groupOf[i]!, column = x - c.x0;
      if (y < c.top[column]!) c.top[column] = y;
      if (y > c.bottom[column]!) c.bottom[column] = y;
      c.count[column]!++;
    }
  }
  return [...new Set(groupOf.filter((_, i) => kept[i]))];
}

/** Whether two boxes overlap or touch. */
function boxesMeet(a: Component, b: Component): boolean {
  return a.x0 <= b.x1 + 1 && b.x0 <= a.x1 + 1 && a.y0 <= b.y1 + 1 && b.y0 <= a.y1 + 1;
}

const none = new Int32Array(0);
/** A step splitting off a side under 15% of the width must be this deep (fraction of the box height). */
const sliverStep = 0.3;
/** How much of a step must happen between the two bins either side of the cut: sharp, not a tilt. */
const sharpness = 0.8;

/** The box of the component's columns `[from, to)` (indices into its outline), trimmed to columns with pixels. */
function pieceBox(c: Component, from: number, to: number): InstanceBox | null {
  let x0 = -1, x1 = -1, y0 = Infinity, y1 = -1, area = 0;
  for (let i = from; i < to; i++) {
    if (c.count[i] === 0) continue;
    if (x0 < 0) x0 = i;
    x1 = i;
    y0 = Math.min(y0, c.top[i]!);
    y1 = Math.max(y1, c.bottom[i]!);
    area += c.count[i]!;
  }
  return x0 < 0 ? null : { classId: c.classId, x0: c.x0 + x0, y0, x1: c.x0 + x1, y1, area };
}

/** Column bins of `[from, to)`: the lowest bottom and highest top of each (at most 64 bins). */
function bins(c: Component, from: number, to: number) {
  const n = to - from, m = Math.min(n, 64);
  const bottom: number[] = [], top: number[] = [], start: number[] = [];
  for (let b = 0; b < m; b++) {
    const a = from + Math.floor((b * n) / m), e = from + Math.floor(((b + 1) * n) / m);
    let lo = -1, hi = Infinity;
    for (let i = a; i < e; i++) {
      if (c.count[i] === 0) continue;
      lo = Math.max(lo, c.bottom[i]!);
      hi = Math.min(hi, c.top[i]!);
    }
    if (lo < 0) continue;
    bottom.push(lo);
    top.push(hi);
    start.push(a);
  }
  return { bottom, top, start };
}

/**
 * A split column for a lasting step in the bottom outline of `[from, to)`, or -1. Each side's foot row is the 90th
 * percentile of its bins' bottoms (its lowest points: feet and wheels, not the gaps between them); the two differ
 * by the class's `step` (a fraction of the shorter side's height; 30% when one side is under 15% of the width: a sliver of a
 * nearer object at the edge), and the step is sharp (between the two bins either side), not a car's tilt.
 */
function depthSplit(c: Component, from: number, to: number, stepFraction: number): number {
  const { bottom, top, start } = bins(c, from, to);
  const m = bottom.length, wide = Math.ceil(0.15 * m);
  const extent = (a: number, b: number) => Math.max(...bottom.slice(a, b)) - Math.min(...top.slice(a, b)) + 1;
  let best = -1, bestScore = 0, bestJump = 0;
  for (let s = 1; s < m; s++) {
    // A cut the caller would refuse (a piece under 3 columns) must not win over a usable one, or over a valley.
    if (start[s]! - from < 3 || to - start[s]! < 3) continue;
    const sideHeight = Math.min(extent(0, s), extent(s, m));
    const threshold = Math.max(3, (Math.min(s, m - s) >= wide ? stepFraction : sliverStep) * sideHeight);
    const step = Math.abs(footRow(bottom.slice(0, s)) - footRow(bottom.slice(s)));
    const before = Math.max(bottom[s - 1]!, bottom[s - 2] ?? 0), after = Math.max(bottom[s]!, bottom[s + 1] ?? 0);
    // The cut one bin before the step scores the same (the sharpness window spans two bins): on a tie, cut where
    // the outline itself jumps, or a sliver of the farther object goes with the nearer one.
    const score = step / threshold, jump = Math.abs(bottom[s - 1]! - bottom[s]!);
    if (
      step > threshold && Math.abs(before - after) >= sharpness * step &&
      (score > bestScore || (score === bestScore && jump > bestJump))
    ) {
      [best, bestScore, bestJump] = [s, score, jump];
    }
  }
  return best < 0 ? -1 : start[best]!;
}

/** The 90th percentile of bottom rows: where a stretch of outline touches the ground. */
function footRow(bottoms: number[]): number {
  const sorted = bottoms.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(0.9 * sorted.length))]!;
}

/** A split column at the deepest dip between two peaks of the top outline of `[from, to)`, or -1. */
function valleySplit(c: Component, from: number, to: number, boxHeight: number, valley: number): number {
  const { top, start } = bins(c, from, to);
  const m = top.length, minSide = Math.max(1, Math.ceil(0.15 * m));
  let best = -1, bestDepth = Math.max(3, valley * boxHeight);
  for (let v = minSide; v < m - minSide; v++) {
    const leftPeak = Math.min(...top.slice(0, v)), rightPeak = Math.min(...top.slice(v + 1));
    const depth = top[v]! - Math.max(leftPeak, rightPeak);
    if (depth > bestDepth) [best, bestDepth] = [v, depth];
  }
  if (best < 0) return -1;
  // Cut at the lowest point of the outline inside the valley's bin.
  const end = best + 1 < m ? start[best + 1]! : to;
  let cut = -1;
  for (let i = start[best]!; i < end; i++) {
    if (c.count[i]! > 0 && (cut < 0 || c.top[i]! > c.top[cut]!)) cut = i;
  }
  return Math.max(from + 1, cut < 0 ? start[best]! : cut);
}

/** The runs of shaft columns of a thin component (at least half the tallest column's pixels; gaps of up to 2 bridged). */
function shafts(c: Component): [number, number][] {
  let tallest = 0;
  for (const n of c.count) tallest = Math.max(tallest, n);
  const runs: [number, number][] = [];
  for (let i = 0; i < c.count.length; i++) {
    if (c.count[i]! < tallest / 2) continue;
    const last = runs[runs.length - 1];
    if (last && i - last[1] <= 2) last[1] = i + 1;
    else runs.push([i, i + 1]);
  }
  return runs;
}

/**
 * The objects in a component: split by depth steps and top-outline dips (recursively, at most 4 levels), or cut
 * to its shafts for thin classes. Pieces narrower than 3 columns are not split off.
 *
 * @example A car standing in front of another one to its right: two boxes, split where the bottom edge steps.
 */
export function splitComponent(c: Component, prior: ObjectPrior): InstanceBox[] {
  if (prior.thin) return shafts(c).map(([a, b]) => pieceBox(c, a, b)).filter((box) => box !== null);
  const out: InstanceBox[] = [];
  const split = (from: number, to: number, depth: number) => {
    const box = pieceBox(c, from, to);
    if (!box) return;
    const boxHeight = box.y1 - box.y0 + 1;
    if (depth < 4 && to - from >= 6) {
      let cut = depthSplit(c, from, to, prior.step);
      if (cut < 0) cut = valleySplit(c, from, to, boxHeight, prior.valley);
      if (cut - from >= 3 && to - cut >= 3) {
        split(from, cut, depth + 1);
        split(cut, to, depth + 1);
        return;
      }
    }
    out.push(box);
  };
  split(0, c.count.length, 0);
  return out;
}
