/**
 * The `pattern` source: a small deterministic street-like clip (sky, buildings, pavement, road, moving
 * cars and pedestrians in CamVid's palette colours with seeded texture noise), with exact labels and
 * backward flow. It needs no data and no disk, so tests, benchmarks and first runs work anywhere.
 *
 * @module
 */
import { defineSource, type FrameSource, generatorSource } from "../engine/source.ts";
import type { FrameInit } from "../engine/frame.ts";
import { camvidClasses } from "./camvid_classes.ts";

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Mover {
  label: number;
  x: number;
  y: number;
  width: number;
  height: number;
  /** Pixels per frame along x. */
  speed: number;
}

/** Options of {@linkcode patternFrames}. */
export interface PatternOptions {
  width: number;
  height: number;
  frames: number;
  fps: number;
  seed: number;
  /** Texture noise amplitude (0..64). */
  noise: number;
}

/** Generates the clip lazily, one frame at a time. */
export function* patternFrames(options: PatternOptions): Generator<FrameInit> {
  const { width, height, frames, fps, seed, noise } = options;
  const random = seededRandom(seed);
  const horizon = Math.round(height * 0.35);
  const kerb = Math.round(height * 0.62);
  const movers: Mover[] = [];
  const count = 2 + Math.floor(random() * 3);
  for (let i = 0; i < count; i++) {
    const car = random() < 0.6;
    const h = Math.round(height * (car ? 0.14 + random() * 0.08 : 0.18 + random() * 0.06));
    const w = Math.round(car ? h * (1.8 + random()) : h * 0.35);
    const footY = car ? kerb + Math.round(random() * (height - kerb - 4)) : kerb - 2 + Math.round(random() * 6);
    movers.push({
      label: car ? 8 : 9,
      x: random() * width,
      y: Math.max(0, footY - h),
      width: w,
      height: h,
      speed: (random() < 0.5 ? -1 : 1) * (car ? 2 + random() * 4 : 0.5 + random()),
    });
  }
  // Draw far to near so nearer (lower) objects occlude.
  movers.sort((a, b) => a.y + a.height - (b.y + b.height));
  const texture = new Uint8Array(width * height);
  for (let i = 0; i < texture.length; i++) texture[i] = Math.floor(random() * 256);
  const palette = camvidClasses.palette;

  for (let index = 0; index < frames; index++) {
    const labels = new Uint8Array(width * height);
    const flow = new Float32Array(width * height * 2);
    for (let y = 0; y < height; y++) {
      const rowClass = y < horizon ? 0 : y < kerb ? 1 : 3;
      labels.fill(rowClass, y * width, (y + 1) * width);
      if (y >= kerb - Math.round(height * 0.05) && y < kerb) {
        labels.fill(4, y * width, (y + 1) * width);
      }
    }
    for (const m of movers) {
      const x0 = Math.round(m.x + m.speed * index);
      const left = ((x0 % (width + m.width)) + width + m.width) % (width + m.width) - m.width;
      for (let y = Math.max(0, m.y); y < Math.min(height, m.y + m.height); y++) {
        for (let x = Math.max(0, left); x < Math.min(width, left + m.width); x++) {
          const p = y * width + x;
          labels[p] = m.label;
          flow[2 * p] = -m.speed;
          flow[2 * p + 1] = 0;
        }
      }
    }
    const rgb = new Uint8Array(width * height * 3);
    const shift = index * 7;
    for (let p = 0; p < labels.length; p++) {
      const colour = palette[labels[p]!]!;
      const n = ((texture[(p + shift * (labels[p]! >= 8 ? 0 : 1)) % texture.length]! - 128) * noise) >> 7;
      rgb[3 * p] = clamp(colour[0]! + n);
      rgb[3 * p + 1] = clamp(colour[1]! + n);
      rgb[3 * p + 2] = clamp(colour[2]! + n);
    }
    yield { index, timestamp: index / fps, image: { width, height, data: rgb }, truth: { labels, flow } };
  }
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** The `pattern` source kind. */
export const patternSource = defineSource({
  kind: "pattern",
  doc: "Deterministic street-like test clip with exact labels and flow; needs no data",
  params: {
    width: { type: "integer", min: 16, max: 8192, default: 480, doc: "frame width" },
    height: { type: "integer", min: 16, max: 8192, default: 360, doc: "frame height" },
    frames: { type: "integer", min: 1, default: 60, doc: "number of frames" },
    fps: { type: "number", min: 0.1, max: 1000, default: 15, doc: "frame rate" },
    seed: { type: "integer", default: 1, doc: "random seed" },
    noise: { type: "integer", min: 0, max: 64, default: 24, doc: "texture noise amplitude" },
  },
  open(params): Promise<FrameSource> {
    const info = {
      name: "pattern",
      width: params.width,
      height: params.height,
      fps: params.fps,
      frames: params.frames,
      live: false,
      classes: camvidClasses,
      truth: { labels: true, flow: true },
    };
    return Promise.resolve(generatorSource(info, () => patternFrames(params)));
  },
});
