/**
 * The `motion` source: video clips made from still labelled frames by moving a virtual camera over them
 * with known affine motion (pan, rotation, zoom). Real texture, exact labels and exact backward flow, so
 * models and decision networks can be trained and checked on real imagery whose motion is known (CamVid's
 * train split is sampled at 1 Hz, too sparse for video training).
 *
 * Frame t shows the still through the affine map A_t (cumulative per-frame increments); a pixel p of frame
 * t came from still position A_t^-1 p, which frame t-1 showed at A_{t-1} A_t^-1 p, so the backward flow is
 * `A_{t-1} A_t^-1 p - p`. Pixels that fall outside the still are black with the void label.
 *
 * @module
 */
import { join } from "node:path";
import { defineSource, type FrameSource } from "../engine/source.ts";
import type { FrameInit } from "../engine/frame.ts";
import { InputError } from "../engine/errors.ts";
import { camvidClasses } from "./camvid_classes.ts";
import { seededRandom } from "./pattern.ts";
import { listImages, readLabelMap, readRgbImage } from "./image_files.ts";
import { exists, isDirectory } from "./frame_list.ts";

/** A 2x3 affine map [a, b, c, d, e, f]: x' = a x + b y + c, y' = d x + e y + f. */
export type Affine = [number, number, number, number, number, number];

/** Composition `m ∘ n` (apply n, then m). */
export function compose(m: Affine, n: Affine): Affine {
  return [
    m[0] * n[0] + m[1] * n[3],
    m[0] * n[1] + m[1] * n[4],
    m[0] * n[2] + m[1] * n[5] + m[2],
    m[3] * n[0] + m[4] * n[3],
    m[3] * n[1] + m[4] * n[4],
    m[3] * n[2] + m[4] * n[5] + m[5],
  ];
}

/** Inverse of an affine map. */
export function invert(m: Affine): Affine {
  const det = m[0] * m[4] - m[1] * m[3];
  const a = m[4] / det, b = -m[1] / det, d = -m[3] / det, e = m[0] / det;
  return [a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])];
}

/** Renders the still through `A` (bilinear RGB, nearest labels) and the backward flow to `previous`. */
export function renderAffine(
  still: { width: number; height: number; rgb: Uint8Array; labels?: Uint8Array },
  A: Affine,
  previous: Affine,
  voidLabel: number,
): { rgb: Uint8Array; labels?: Uint8Array; flow: Float32Array } {
  const { width: W, height: H, rgb: src } = still;
  const inverse = invert(A);
  const back = compose(previous, inverse);
  const rgb = new Uint8Array(W * H * 3);
  const labels = still.labels ? new Uint8Array(W * H).fill(voidLabel) : undefined;
  const flow = new Float32Array(W * H * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const px = x + 0.5, py = y + 0.5;
      flow[2 * p] = back[0] * px + back[1] * py + back[2] - px;
      flow[2 * p + 1] = back[3] * px + back[4] * py + back[5] - py;
      const sx = inverse[0] * px + inverse[1] * py + inverse[2] - 0.5;
      const sy = inverse[3] * px + inverse[4] * py + inverse[5] - 0.5;
      if (sx < 0 || sy < 0 || sx > W - 1 || sy > H - 1) continue;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, W - 1), y1 = Math.min(y0 + 1, H - 1);
      const fx = sx - x0, fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        const top = src[3 * (y0 * W + x0) + c]! * (1 - fx) + src[3 * (y0 * W + x1) + c]! * fx;
        const bottom = src[3 * (y1 * W + x0) + c]! * (1 - fx) + src[3 * (y1 * W + x1) + c]! * fx;
        rgb[3 * p + c] = top * (1 - fy) + bottom * fy + 0.5;
      }
      if (labels) labels[p] = still.labels![Math.round(sy) * W + Math.round(sx)]!;
    }
  }
  return labels ? { rgb, labels, flow } : { rgb, flow };
}

/** The `motion` source kind. */
export const motionSource = defineSource({
  kind: "motion",
  doc: "Clips made from labelled still frames by a virtual camera with known motion (exact labels and flow)",
  params: {
    path: {
      type: "string",
      required: true,
      doc: "folder of images; labels from <path>annot/ when present (CamVid layout)",
    },
    clips: { type: "integer", min: 1, default: 10, doc: "number of clips" },
    length: { type: "integer", min: 2, default: 10, doc: "frames per clip" },
    shift: { type: "number", min: 0, default: 4, doc: "largest pan per frame (pixels)" },
    rotation: { type: "number", min: 0, default: 0.5, doc: "largest rotation per frame (degrees)" },
    zoom: { type: "number", min: 0, default: 0.01, doc: "largest zoom change per frame (fraction)" },
    seed: { type: "integer", min: 0, default: 1, doc: "random seed" },
    fps: { type: "number", min: 0.1, default: 15, doc: "frame rate" },
  },
  async open(p): Promise<FrameSource> {
    const dir = p.path.replace(/\/+$/, "");
    if (!(await isDirectory(dir))) throw new InputError(`${dir}: no such folder`);
    const names = await listImages(dir);
    if (names.length === 0) throw new InputError(`${dir}: no PNG or JPEG images in the folder`);
    const labelled = await isDirectory(`${dir}annot`);
    const random = seededRandom(p.seed * 977 + 3);
    const between = (a: number, b: number) => a + (b - a) * random();
    return {
      info: {
        name: `motion-${p.seed}`,
        fps: p.fps,
        frames: p.clips * p.length,
        live: false,
        classes: camvidClasses,
        truth: { labels: labelled, flow: true },
      },
      async *frames(): AsyncGenerator<FrameInit> {
        for (let clip = 0; clip < p.clips; clip++) {
          const name = names[Math.floor(random() * names.length)]!;
          const image = await readRgbImage(join(dir, name));
          const labelPath = join(`${dir}annot`, name.replace(/\.[^.]*$/, ".png"));
          const labels = labelled && (await exists(labelPath)) ? (await readLabelMap(labelPath)).data : undefined;
          const still = { width: image.width, height: image.height, rgb: image.data, ...(labels ? { labels } : {}) };
          // A constant per-frame increment about the centre: a steady camera move.
          const cx = image.width / 2, cy = image.height / 2;
          const angle = (between(-p.rotation, p.rotation) * Math.PI) / 180;
          const scale = 1 + between(-p.zoom, p.zoom);
          const tx = between(-p.shift, p.shift), ty = between(-p.shift, p.shift) * 0.5;
          const cos = Math.cos(angle) * scale, sin = Math.sin(angle) * scale;
          const step: Affine = [cos, -sin, cx - cos * cx + sin * cy + tx, sin, cos, cy - sin * cx - cos * cy + ty];
          let A: Affine = [1, 0, 0, 0, 1, 0];
          let previous = A;
          const sequence = `motion${String(clip).padStart(4, "0")}`;
          for (let index = 0; index < p.length; index++) {
            const frame = renderAffine(still, A, previous, camvidClasses.ignore ?? 11);
            yield {
              index,
              timestamp: index / p.fps,
              sequence,
              name: `${sequence}_${String(index).padStart(5, "0")}`,
              image: { width: image.width, height: image.height, data: frame.rgb },
              truth: { flow: frame.flow, ...(frame.labels ? { labels: frame.labels } : {}) },
            };
            previous = A;
            A = compose(step, A);
          }
        }
      },
      close: () => Promise.resolve(),
    };
  },
});
