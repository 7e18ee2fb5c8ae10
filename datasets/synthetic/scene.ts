/**
 * The synthetic world's scene: a street laid out along a horizontal world axis `u`, in depth layers that
 * move with parallax as the camera pans and zooms. Everything is drawn from a seed, so a seed is a scene.
 *
 * Rows (at zoom 1, as fractions of the height): sky above the buildings' skyline; buildings on the
 * kerb line at 0.62; trees and fences in front of them; pavement 0.62-0.70; road below. Foreground
 * objects (cars, cyclists on the road; pedestrians on the pavement; poles and signs at the kerb) stand on
 * the ground, so they move with the ground's parallax at their foot row, plus their own speed.
 *
 * @module
 */
import { seededRandom } from "../pattern.ts";

/** Class ids (CamVid's). */
export const Sky = 0,
  Building = 1,
  Pole = 2,
  Road = 3,
  Pavement = 4,
  Tree = 5,
  Sign = 6,
  Fence = 7,
  Car = 8,
  Pedestrian = 9,
  Bicyclist = 10;

/** Row fractions of the layout. */
export const layout = { kerb: 0.62, roadEdge: 0.70, horizon: 0.42 };

/** Parallax (how fast a layer moves relative to the camera): far layers move less. */
export const parallax = { sky: 0.04, buildings: 0.35, trees: 0.55, fence: 0.75, groundNear: 2.0, groundFar: 0.8 };

/** A foreground object in world coordinates (pixels at zoom 1). */
export interface SceneObject {
  id: number;
  classId: number;
  /** World x of the object's left edge at frame 0. */
  u: number;
  /** Foot row (screen y at zoom 1). */
  foot: number;
  width: number;
  height: number;
  /** Own speed along u, pixels per frame. */
  speed: number;
  colour: [number, number, number];
  /** Second colour (car windows, trousers, sign face). */
  accent: [number, number, number];
}

/** A building of the skyline. */
export interface Facade {
  u0: number;
  u1: number;
  /** Roof row (screen y at zoom 1). */
  top: number;
  colour: [number, number, number];
  windowColour: [number, number, number];
  windowPitch: number;
}

/** A tree: a round crown on a trunk standing at the kerb. */
export interface TreeShape {
  u: number;
  crownRadius: number;
  crownY: number;
  colour: [number, number, number];
}

/** Everything drawn from the seed. */
export interface Scene {
  width: number;
  height: number;
  /** World period: the scene repeats every `period` pixels along u, so clips can be any length. */
  period: number;
  facades: Facade[];
  trees: TreeShape[];
  /** Fence spans [u0, u1) along u. */
  fences: [number, number][];
  objects: SceneObject[];
  /** Camera pan, pixels per frame at parallax 1. */
  pan: number;
  /** Zoom amplitude and period (frames). */
  zoomAmplitude: number;
  zoomPeriod: number;
  /** Lighting gain amplitude and period (frames). */
  lightAmplitude: number;
  lightPeriod: number;
  /** Sensor noise standard deviation (levels). */
  noise: number;
  sky: [number, number, number];
  road: [number, number, number];
  pavement: [number, number, number];
}

/** Knobs of the generator. */
export interface SceneOptions {
  width: number;
  height: number;
  seed: number;
  /** Foreground objects per screen width (default 6). */
  density?: number;
  /** Camera pan in pixels per frame at parallax 1 (default: random 1-4, either way). */
  pan?: number;
  noise?: number;
}

type Rgb = [number, number, number];

/** Builds the scene for a seed. */
export function buildScene(options: SceneOptions): Scene {
  const { width, height, seed } = options;
  const random = seededRandom(seed * 7919 + 17);
  const between = (a: number, b: number) => a + (b - a) * random();
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const jitter = (c: Rgb, amount: number): Rgb =>
    c.map((v) => Math.max(0, Math.min(255, v + between(-amount, amount)))) as Rgb;
  const period = Math.round(width * 6);
  const kerb = layout.kerb * height;

  const facadeColours: Rgb[] = [[150, 80, 60], [120, 115, 110], [190, 170, 140], [90, 90, 100], [170, 140, 120], [
    110,
    70,
    55,
  ]];
  const facades: Facade[] = [];
  for (let u = 0; u < period;) {
    const w = Math.round(between(0.15, 0.45) * width);
    facades.push({
      u0: u,
      u1: Math.min(period, u + w),
      top: kerb - between(0.18, 0.5) * height,
      colour: jitter(pick(facadeColours), 20),
      windowColour: jitter(pick([[60, 70, 90], [200, 200, 180], [40, 45, 50]] as Rgb[]), 15),
      windowPitch: Math.round(between(0.04, 0.07) * height),
    });
    u += w;
  }
  const trees: TreeShape[] = [];
  for (let u = between(0, 0.3) * width; u < period - 0.1 * width; u += between(0.25, 0.8) * width) {
    const r = between(0.07, 0.13) * height;
    trees.push({ u, crownRadius: r, crownY: kerb - between(0.16, 0.28) * height, colour: jitter([70, 110, 50], 25) });
  }
  const fences: [number, number][] = [];
  for (let u = between(0, 0.5) * width; u < period; u += between(0.6, 1.4) * width) {
    fences.push([u, Math.min(period, u + between(0.2, 0.5) * width)]);
  }

  const objects: SceneObject[] = [];
  let id = 1;
  const count = Math.round((options.density ?? 6) * period / width);
  const carColours: Rgb[] = [[180, 30, 30], [30, 60, 150], [220, 220, 220], [40, 40, 40], [200, 170, 40], [
    90,
    100,
    110,
  ]];
  const clothes: Rgb[] = [[40, 40, 60], [150, 40, 40], [60, 90, 60], [200, 180, 150], [30, 30, 30], [90, 60, 120]];
  const groundScale = (foot: number) => (foot - layout.horizon * height) / (height - layout.horizon * height);
  for (let i = 0; i < count && id < 255; i++) {
    const kind = random();
    const u = between(0, period);
    if (kind < 0.38) {
      const foot = between(layout.roadEdge + 0.06, 0.99) * height;
      const s = groundScale(foot);
      const h = 0.34 * height * s;
      objects.push({
        id: id++,
        classId: Car,
        u,
        foot,
        width: h * between(1.9, 2.6),
        height: h,
        speed: between(-5, 5),
        colour: jitter(pick(carColours), 20),
        accent: [40, 50, 60],
      });
    } else if (kind < 0.7) {
      const foot = between(layout.kerb + 0.02, layout.roadEdge) * height;
      const h = 0.5 * height * groundScale(foot);
      objects.push({
        id: id++,
        classId: Pedestrian,
        u,
        foot,
        width: h * 0.32,
        height: h,
        speed: between(-1.2, 1.2),
        colour: jitter(pick(clothes), 20),
        accent: jitter(pick(clothes), 20),
      });
    } else if (kind < 0.8) {
      const foot = between(layout.roadEdge + 0.02, layout.roadEdge + 0.1) * height;
      const h = 0.5 * height * groundScale(foot);
      objects.push({
        id: id++,
        classId: Bicyclist,
        u,
        foot,
        width: h * 0.8,
        height: h,
        speed: between(-3, 3),
        colour: jitter(pick(clothes), 20),
        accent: [30, 30, 30],
      });
    } else {
      const foot = between(layout.kerb + 0.01, layout.kerb + 0.04) * height;
      const h = between(0.3, 0.45) * height;
      const sign = random() < 0.5;
      objects.push({
        id: id++,
        classId: sign ? Sign : Pole,
        u,
        foot,
        width: sign ? 0.07 * height : Math.max(2, 0.012 * height),
        height: h,
        speed: 0,
        colour: jitter([130, 130, 125], 20),
        accent: sign ? pick([[200, 30, 30], [30, 60, 170], [230, 200, 40]] as Rgb[]) : [0, 0, 0],
      });
    }
  }
  // Far to near, so nearer objects (lower feet) are drawn last and occlude.
  objects.sort((a, b) => a.foot - b.foot);
  return {
    width,
    height,
    period,
    facades,
    trees,
    fences,
    objects,
    pan: options.pan ?? (random() < 0.5 ? -1 : 1) * between(1, 4),
    zoomAmplitude: between(0.02, 0.06),
    zoomPeriod: between(60, 160),
    lightAmplitude: between(0.05, 0.2),
    lightPeriod: between(80, 240),
    noise: options.noise ?? 4,
    sky: jitter([140, 170, 210], 25),
    road: jitter([85, 85, 90], 10),
    pavement: jitter([150, 140, 130], 15),
  };
}
