/**
 * A source over a list of files: image, optional ground truth (labels, object masks, flow), grouped into
 * sequences. Folder and dataset sources (images, CamVid, Cityscapes, DAVIS) build the list and hand it
 * here; files are decoded one frame at a time as the graph pulls.
 *
 * @module
 */
import type { FrameInit, GroundTruth } from "../engine/frame.ts";
import type { ClassInfo } from "../engine/model_card.ts";
import type { FrameSource } from "../engine/source.ts";
import { InputError } from "../engine/errors.ts";
import { readLabelMap, readRgbImage } from "./image_files.ts";
import { decodeFlo } from "./flo.ts";

/** One frame's files. */
export interface FrameFiles {
  image: string;
  labels?: string;
  /** Object ids (DAVIS); a 0/255 mask becomes ids 0/1. */
  mask?: string;
  flow?: string;
  sequence?: string;
  /** Name for outputs and messages (the image file name by default). */
  name?: string;
  /** Index within its sequence (default: running count). */
  index?: number;
}

/** What the list source needs besides the files. */
export interface FrameListInfo {
  name: string;
  fps: number;
  classes?: ClassInfo;
  /** Optional: maps raw label values to training ids (Cityscapes labelIds -> trainIds). */
  labelMap?: Uint8Array;
}

/** Opens a source over `files`. */
export function frameListSource(files: FrameFiles[], info: FrameListInfo): FrameSource {
  const truth = {
    labels: files.some((f) => f.labels),
    mask: files.some((f) => f.mask),
    flow: files.some((f) => f.flow),
  };
  return {
    info: {
      name: info.name,
      fps: info.fps,
      frames: files.length,
      live: false,
      truth,
      ...(info.classes ? { classes: info.classes } : {}),
    },
    async *frames(): AsyncGenerator<FrameInit> {
      let sequence: string | undefined;
      let index = 0;
      for (const file of files) {
        if (file.sequence !== sequence) {
          sequence = file.sequence;
          index = 0;
        }
        const image = await readRgbImage(file.image);
        const frameTruth: GroundTruth = {};
        const name = file.name ?? file.image.replace(/^.*\//, "");
        const checkSize = (what: string, path: string, w: number, h: number) => {
          if (w !== image.width || h !== image.height) {
            throw new InputError(`${path}: ${what} is ${w}x${h} but its image is ${image.width}x${image.height}`);
          }
        };
        if (file.labels) {
          const labels = await readLabelMap(file.labels);
          checkSize("label map", file.labels, labels.width, labels.height);
          if (info.labelMap) {
            for (let i = 0; i < labels.data.length; i++) labels.data[i] = info.labelMap[labels.data[i]!]!;
          }
          if (info.classes) checkLabelIds(file.labels, labels.data, labels.width, info.classes);
          frameTruth.labels = labels.data;
        }
        if (file.mask) {
          const mask = await readLabelMap(file.mask);
          checkSize("object mask", file.mask, mask.width, mask.height);
          frameTruth.mask = binaryToIds(mask.data);
        }
        if (file.flow) {
          let flow;
          try {
            flow = decodeFlo(await Deno.readFile(file.flow));
          } catch (error) {
            throw new InputError(`${file.flow}: ${(error as Error).message}`);
          }
          checkSize("flow", file.flow, flow.width, flow.height);
          frameTruth.flow = flow.flow;
        }
        const frameIndex = file.index ?? index;
        index++;
        yield {
          index: frameIndex,
          timestamp: frameIndex / info.fps,
          image,
          name,
          ...(file.sequence ? { sequence: file.sequence } : {}),
          ...(Object.keys(frameTruth).length ? { truth: frameTruth } : {}),
        };
      }
    },
    close: () => Promise.resolve(),
  };
}

/** DAVIS 2016 masks are 0/255: turn them into object id 1. Palette masks (2017) keep their ids. */
export function binaryToIds(mask: Uint8Array): Uint8Array {
  let onlyBinary = true;
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i]!;
    if (v !== 0 && v !== 255) {
      onlyBinary = false;
      break;
    }
  }
  if (onlyBinary) { for (let i = 0; i < mask.length; i++) mask[i] = mask[i] ? 1 : 0; }
  return mask;
}

/** True when `path` is a directory. */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** True when `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws if a label map holds an id that is neither a class nor the ignore id: scoring would fail later on
 * that frame without naming the file.
 *
 * @throws {InputError} `valannot/x.png: label 255 at pixel 3,0 is not a class id (0..10) or the ignore id (11)`
 */
function checkLabelIds(path: string, labels: Uint8Array, width: number, classes: ClassInfo): void {
  const count = classes.names.length;
  for (let i = 0; i < labels.length; i++) {
    const id = labels[i]!;
    if (id < count || id === classes.ignore) continue;
    const ignore = classes.ignore === undefined ? "" : ` or the ignore id (${classes.ignore})`;
    throw new InputError(
      `${path}: label ${id} at pixel ${i % width},${Math.floor(i / width)} is not a class id (0..${
        count - 1
      })${ignore}`,
    );
  }
}
