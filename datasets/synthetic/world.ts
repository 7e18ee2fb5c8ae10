/**
 * The synthetic video world: a seeded street scene rendered frame by frame with exact labels (CamVid's 11
 * classes), instance ids and backward flow, and the `synthetic` source kind that streams it. Same seed,
 * same bytes; frames are made lazily, so clips can be any length.
 *
 * @module
 */
import type { FrameInit } from "../../engine/frame.ts";
import { defineSource, type FrameSource, generatorSource } from "../../engine/source.ts";
import { camvidClasses } from "../camvid_classes.ts";
import { buildScene, type SceneOptions } from "./scene.ts";
import { renderFrame, sceneTables } from "./render.ts";
import { syntheticCamera } from "./camera.ts";

/** Options of {@linkcode syntheticFrames}. */
export interface SyntheticOptions extends SceneOptions {
  frames: number;
  fps: number;
  /**
   * The world's time step per frame (default 1): 4 moves the camera and every object 4x as far between frames
   * (a fast car, or the same street at a quarter of the frame rate); flow is exact at any step.
   */
  speed?: number;
  /** Sequence name carried by the frames (default `synth<seed>`). */
  sequence?: string;
}

/** Generates a clip lazily, one frame at a time. */
export function* syntheticFrames(options: SyntheticOptions): Generator<FrameInit> {
  const scene = buildScene(options);
  const tables = sceneTables(scene, options.seed);
  const sequence = options.sequence ?? `synth${String(options.seed).padStart(3, "0")}`;
  const dt = options.speed ?? 1;
  for (let index = 0; index < options.frames; index++) {
    const { rgb, labels, mask, flow, objects } = renderFrame(scene, tables, index * dt, dt);
    yield {
      index,
      timestamp: index / options.fps,
      image: { width: options.width, height: options.height, data: rgb },
      truth: { labels, mask, flow, objects },
      sequence,
      name: `${sequence}_${String(index).padStart(5, "0")}`,
    };
  }
}

/** The `synthetic` source kind. */
export const syntheticSource = defineSource({
  kind: "synthetic",
  doc: "Procedural street video (seeded) with exact labels, instance ids and backward flow; needs no data",
  params: {
    width: { type: "integer", min: 32, max: 8192, default: 480, doc: "frame width" },
    height: { type: "integer", min: 32, max: 8192, default: 360, doc: "frame height" },
    frames: { type: "integer", min: 1, default: 60, doc: "number of frames" },
    fps: { type: "number", min: 0.1, max: 1000, default: 15, doc: "frame rate" },
    seed: { type: "integer", min: 0, default: 1, doc: "scene seed (same seed, same clip)" },
    density: { type: "number", min: 0, max: 40, default: 6, doc: "foreground objects per screen width" },
    pan: { type: "number", min: -32, max: 32, doc: "camera pan in pixels per frame (default: from the seed)" },
    noise: { type: "number", min: 0, max: 64, default: 4, doc: "sensor noise (grey levels)" },
    speed: {
      type: "number",
      min: 0.05,
      max: 64,
      default: 1,
      doc: "the world's motion per frame (4: camera and objects move 4x as far between frames)",
    },
  },
  open(p): Promise<FrameSource> {
    const options: SyntheticOptions = { ...p, ...(p.pan === undefined ? {} : { pan: p.pan }) };
    const info = {
      name: `synthetic-${p.seed}`,
      width: p.width,
      height: p.height,
      fps: p.fps,
      frames: p.frames,
      live: false,
      classes: camvidClasses,
      truth: { labels: true, mask: true, flow: true, objects: true },
      camera: syntheticCamera,
    };
    return Promise.resolve(generatorSource(info, () => syntheticFrames(options)));
  },
});
