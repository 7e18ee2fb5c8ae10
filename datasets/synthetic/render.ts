/**
 * Renders one frame of a synthetic scene: RGB image, semantic labels, instance ids and exact backward
 * flow. Each pixel belongs to one surface (a layer or an object) whose world coordinates are known, so the
 * flow is analytic: a surface point at world (u, v) on a layer of parallax p is seen at
 * `x = cx + z_t (u - p C_t - cx)`, `y = cy + z_t (v - cy)` (pan C_t, zoom z_t); one frame earlier it was at
 * world u - s (own speed s), which gives `flow = ((z'/z - 1)(x - cx) + z' (p * pan - s), (z'/z - 1)(y - cy))`
 * with z' the previous zoom. Occluded points get the motion of the surface they belong to. With a time step `dt`
 * (a faster world, or a lower frame rate) the previous frame is at time t - dt and the pan/own-speed term is x dt.
 *
 * @module
 */
import { seededRandom } from "../pattern.ts";
import {
  Bicyclist,
  Building,
  Car,
  Fence,
  layout,
  Pavement,
  Pedestrian,
  Pole,
  Road,
  type Scene,
  type SceneObject,
  Sign,
  Sky,
  Tree,
} from "./scene.ts";
import { parallax } from "./scene.ts";
import { trueObject } from "./camera.ts";
import type { TrueObject } from "../../engine/frame.ts";

/** One rendered frame. */
export interface RenderedFrame {
  rgb: Uint8Array;
  labels: Uint8Array;
  /** Instance id per pixel, 0 for background. */
  mask: Uint8Array;
  /** Backward flow, interleaved (dx, dy). */
  flow: Float32Array;
  /** The objects in view, with their whole boxes and true distances. */
  objects: TrueObject[];
}

/** Per-scene lookup tables, built once. */
export interface SceneTables {
  /** Smooth value noise in [0, 1], 256x256, tileable. */
  texture: Float32Array;
  /** Facade / tree index per world column (-1: none). */
  facadeAt: Int16Array;
  treeAt: Int16Array;
  fenceAt: Uint8Array;
}

/** Builds the lookup tables of a scene. */
export function sceneTables(scene: Scene, seed: number): SceneTables {
  const random = seededRandom(seed * 31 + 5);
  const grid = new Float32Array(32 * 32).map(() => random());
  const fine = new Float32Array(256 * 256).map(() => random());
  const texture = new Float32Array(256 * 256);
  for (let y = 0; y < 256; y++) {
    for (let x = 0; x < 256; x++) {
      const gx = x / 8, gy = y / 8;
      const x0 = Math.floor(gx), y0 = Math.floor(gy), fx = gx - x0, fy = gy - y0;
      const g = (i: number, j: number) => grid[((j & 31) << 5) | (i & 31)]!;
      const smooth = (g(x0, y0) * (1 - fx) + g(x0 + 1, y0) * fx) * (1 - fy) +
        (g(x0, y0 + 1) * (1 - fx) + g(x0 + 1, y0 + 1) * fx) * fy;
      texture[(y << 8) | x] = 0.7 * smooth + 0.3 * fine[(y << 8) | x]!;
    }
  }
  const facadeAt = new Int16Array(scene.period).fill(-1);
  scene.facades.forEach((f, i) => facadeAt.fill(i, Math.floor(f.u0), Math.ceil(f.u1)));
  const treeAt = new Int16Array(scene.period).fill(-1);
  scene.trees.forEach((t, i) => {
    for (let u = Math.floor(t.u - t.crownRadius); u <= Math.ceil(t.u + t.crownRadius); u++) {
      treeAt[((u % scene.period) + scene.period) % scene.period] = i;
    }
  });
  const fenceAt = new Uint8Array(scene.period);
  for (const [u0, u1] of scene.fences) fenceAt.fill(1, Math.floor(u0), Math.ceil(u1));
  return { texture, facadeAt, treeAt, fenceAt };
}

const zoomAt = (s: Scene, t: number) => 1 + s.zoomAmplitude * Math.sin((2 * Math.PI * t) / s.zoomPeriod);

/**
 * Renders the scene at time `t` (frames of the world at speed 1); its flow points back to time `t - dt` (the
 * previous frame of a clip that advances `dt` per frame), none at `t = 0`.
 */
export function renderFrame(scene: Scene, tables: SceneTables, t: number, dt = 1): RenderedFrame {
  const { width: W, height: H, period } = scene;
  const n = W * H;
  // Clamped, so shading past 255 saturates instead of wrapping.
  const rgb = new Uint8ClampedArray(3 * n);
  const labels = new Uint8Array(n);
  const mask = new Uint8Array(n);
  const flow = new Float32Array(2 * n);
  const z = zoomAt(scene, t);
  const zPrev = t > 0 ? zoomAt(scene, t - dt) : z;
  const hasPrev = t > 0;
  const C = scene.pan * t;
  const light = 1 + scene.lightAmplitude * Math.sin((2 * Math.PI * t) / scene.lightPeriod);
  const cx = W / 2, cy = layout.horizon * H;
  const kerb = layout.kerb * H, roadEdge = layout.roadEdge * H;
  const tex = tables.texture;
  const zr = zPrev / z - 1;
  const wrap = (u: number) => ((Math.floor(u) % period) + period) % period;
  const texAt = (u: number, v: number) => tex[((Math.floor(v) & 255) << 8) | (Math.floor(u) & 255)]!;

  const put = (p: number, label: number, r: number, g: number, b: number, p_: number, speed: number) => {
    labels[p] = label;
    rgb[3 * p] = r;
    rgb[3 * p + 1] = g;
    rgb[3 * p + 2] = b;
    if (hasPrev) {
      const x = p % W, y = (p - x) / W;
      flow[2 * p] = zr * (x + 0.5 - cx) + zPrev * dt * (p_ * scene.pan - speed);
      flow[2 * p + 1] = zr * (y + 0.5 - cy);
    }
  };

  for (let y = 0; y < H; y++) {
    const v = cy + (y + 0.5 - cy) / z;
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const base = (x + 0.5 - cx) / z + cx;
      if (v >= kerb) {
        const depth = (v - kerb) / (H - kerb);
        const par = parallax.groundFar + (parallax.groundNear - parallax.groundFar) * depth;
        const u = base + par * C;
        const shade = 0.8 + 0.35 * texAt(u * 1.5, v * 3);
        if (v < roadEdge) {
          const tile = (Math.floor(u / 24) + Math.floor(v / 6)) & 1 ? 0.93 : 1;
          const c = scene.pavement;
          put(p, Pavement, c[0] * shade * tile, c[1] * shade * tile, c[2] * shade * tile, par, 0);
        } else {
          const marking = v > 0.84 * H && v < 0.86 * H && wrap(u) % 90 < 45;
          const c = marking ? [225, 225, 215] : scene.road;
          put(p, Road, c[0]! * shade, c[1]! * shade, c[2]! * shade, par, 0);
        }
        continue;
      }
      // Fence band in front of trees and buildings.
      if (v >= kerb - 0.06 * H) {
        const uf = base + parallax.fence * C;
        if (tables.fenceAt[wrap(uf)]) {
          const bar = wrap(uf) % 10 < 3 || v < kerb - 0.055 * H ? 0.7 : 1;
          const s = (0.8 + 0.3 * texAt(uf, v)) * bar;
          put(p, Fence, 120 * s, 95 * s, 70 * s, parallax.fence, 0);
          continue;
        }
      }
      const ut = base + parallax.trees * C;
      const ti = tables.treeAt[wrap(ut)]!;
      if (ti >= 0) {
        const tree = scene.trees[ti]!;
        let du = ut - tree.u;
        du -= Math.round(du / period) * period;
        const dv = v - tree.crownY;
        if (du * du + dv * dv <= tree.crownRadius * tree.crownRadius) {
          const s = 0.6 + 0.7 * texAt(ut * 2, v * 2);
          put(p, Tree, tree.colour[0] * s, tree.colour[1] * s, tree.colour[2] * s, parallax.trees, 0);
          continue;
        }
        if (Math.abs(du) < tree.crownRadius * 0.12 && v > tree.crownY) {
          const s = 0.8 + 0.3 * texAt(ut * 3, v);
          put(p, Tree, 90 * s, 65 * s, 45 * s, parallax.trees, 0);
          continue;
        }
      }
      const ub = base + parallax.buildings * C;
      const fi = tables.facadeAt[wrap(ub)]!;
      const facade = fi >= 0 ? scene.facades[fi]! : undefined;
      if (facade && v >= facade.top) {
        const local = wrap(ub) - facade.u0;
        const pitch = facade.windowPitch;
        const inWindow = local % pitch > pitch * 0.3 && (v - facade.top) % pitch > pitch * 0.35 &&
          v - facade.top > pitch * 0.5 && v < kerb - 0.08 * H;
        const c = inWindow ? facade.windowColour : facade.colour;
        const s = 0.85 + 0.3 * texAt(ub * 2, v * 2);
        put(p, Building, c[0] * s, c[1] * s, c[2] * s, parallax.buildings, 0);
        continue;
      }
      const us = base + parallax.sky * C;
      const cloud = Math.max(0, texAt(us * 0.5, v * 0.8) - 0.55) * 2.2;
      const c = scene.sky;
      const grad = 0.9 + 0.2 * (v / kerb);
      put(
        p,
        Sky,
        (c[0] * grad) * (1 - cloud) + 240 * cloud,
        (c[1] * grad) * (1 - cloud) + 240 * cloud,
        (c[2] * grad) * (1 - cloud) + 245 * cloud,
        parallax.sky,
        0,
      );
    }
  }
  const objects: TrueObject[] = [];
  for (const object of scene.objects) {
    const box = drawObject(scene, tables, object, t, z, cx, cy, put, mask);
    if (box) objects.push(trueObject(object.id, objectClass(object), box, object.foot, z, W, H));
  }
  finish(rgb, light, scene.noise, t);
  return { rgb: new Uint8Array(rgb.buffer), labels, mask, flow, objects };
}

type Put = (p: number, label: number, r: number, g: number, b: number, parallax: number, speed: number) => void;

function drawObject(
  scene: Scene,
  tables: SceneTables,
  o: SceneObject,
  t: number,
  z: number,
  cx: number,
  cy: number,
  put: Put,
  mask: Uint8Array,
): { x0: number; y0: number; x1: number; y1: number } | null {
  const { width: W, height: H, period } = scene;
  const kerb = layout.kerb * H;
  const depth = Math.max(0, (o.foot - kerb) / (H - kerb));
  const par = parallax.groundFar + (parallax.groundNear - parallax.groundFar) * depth;
  // The object's world position relative to the camera, wrapped to the copy nearest the view.
  let rel = o.u + o.speed * t - par * scene.pan * t;
  rel = ((((rel - cx + period / 2) % period) + period) % period) - period / 2 + cx;
  const x0 = cx + z * (rel - cx), x1 = x0 + z * o.width;
  const y1 = cy + z * (o.foot - cy), y0 = y1 - z * o.height;
  if (x1 < 0 || x0 >= W || y1 < 0 || y0 >= H) return null;
  const bw = x1 - x0, bh = y1 - y0;
  const tex = tables.texture;
  for (let y = Math.max(0, Math.floor(y0)); y < Math.min(H, Math.ceil(y1)); y++) {
    const b = (y + 0.5 - y0) / bh;
    for (let x = Math.max(0, Math.floor(x0)); x < Math.min(W, Math.ceil(x1)); x++) {
      const a = (x + 0.5 - x0) / bw;
      const shape = objectPixel(o, a, b, bw / bh);
      if (shape === 0) continue;
      const p = y * W + x;
      const c = shape === 2 ? o.accent : shape === 3 ? [25, 25, 25] : o.colour;
      const s = 0.8 + 0.35 * tex[((Math.floor(b * 64) & 255) << 8) | (Math.floor(a * 64 + o.id * 37) & 255)]!;
      const label = o.classId === Sign && shape !== 2 ? Pole : o.classId;
      put(p, label, c[0]! * s, c[1]! * s, c[2]! * s, par, o.speed);
      mask[p] = o.id;
    }
  }
  return { x0, y0, x1, y1 };
}

/** The class an object is boxed as: a sign is a pole with a plate (its pixels are mostly Pole). */
function objectClass(o: SceneObject): number {
  return o.classId === Sign ? Pole : o.classId;
}

/**
 * Which part of an object a point of its box is: 0 outside, 1 body, 2 accent (windows, trousers, sign
 * plate), 3 dark (wheels, tyres). `a`, `b` in [0, 1] across and down the box; `aspect` = width / height.
 */
function objectPixel(o: SceneObject, a: number, b: number, aspect: number): number {
  const inCircle = (ca: number, cb: number, r: number) => {
    const da = (a - ca) * aspect, db = b - cb;
    return da * da + db * db <= r * r;
  };
  switch (o.classId) {
    case Car: {
      const wheel = 0.14;
      if (b > 0.72 && (inCircle(0.2, 0.84, wheel) || inCircle(0.8, 0.84, wheel))) return 3;
      if (b >= 0.38 && b <= 0.86) return 1;
      if (b < 0.38 && a > 0.2 + (0.38 - b) * 0.35 && a < 0.8 - (0.38 - b) * 0.35) {
        return b > 0.08 && a > 0.27 && a < 0.73 ? 2 : 1;
      }
      return 0;
    }
    case Pedestrian: {
      if (inCircle(0.5, 0.08, 0.075)) return 1;
      if (b >= 0.16 && b < 0.56 && a > 0.12 && a < 0.88) return 1;
      if (b >= 0.56 && ((a > 0.18 && a < 0.46) || (a > 0.54 && a < 0.82))) return 2;
      return 0;
    }
    case Bicyclist: {
      const r = 0.2;
      for (const ca of [0.22, 0.78]) {
        const da = (a - ca) * aspect, db = b - 0.78;
        const d = Math.sqrt(da * da + db * db);
        if (d <= r && d >= r - 0.04) return 3;
      }
      if (Math.abs(b - 0.72) < 0.03 && a > 0.22 && a < 0.78) return 3;
      if (inCircle(0.5, 0.07, 0.07)) return 1;
      if (b >= 0.14 && b < 0.5 && a > 0.36 && a < 0.64) return 1;
      if (b >= 0.5 && b < 0.72 && a > 0.4 && a < 0.6) return 2;
      return 0;
    }
    case Sign:
      if (b < 0.2) return 2;
      return a > 0.42 && a < 0.58 ? 1 : 0;
    default:
      return 1;
  }
}

/** Lighting and sensor noise, in place. */
function finish(rgb: Uint8ClampedArray, light: number, noise: number, t: number): void {
  let state = (t * 2654435761) >>> 0 || 1;
  for (let i = 0; i < rgb.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const jitter = (((state >>> 0) & 255) / 255 - 0.5) * 2 * noise * 1.7;
    rgb[i] = rgb[i]! * light + jitter;
  }
}
