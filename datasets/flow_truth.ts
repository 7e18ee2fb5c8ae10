/**
 * Ground-truth optical flow for evaluating flow models: Middlebury `.flo` files, KITTI's 16-bit PNG flow maps
 * (decoded here with node:zlib: sharp gives no raw 16-bit samples), Sintel's invalid-pixel masks, and the pairs (first frame, second frame, truth) each benchmark's folder layout
 * holds. Truth is always the FORWARD flow of the first frame: the point at p in the first frame is at
 * p + flow(p) in the second. Every failure is an {@linkcode InputError} naming the file or folder.
 *
 * @module
 */
import sharp from "sharp";
import { basename, join } from "node:path";
import { InputError } from "../engine/errors.ts";
import type { RgbImage } from "../engine/frame.ts";
import { decodeFlo, isKnownFlow } from "./flo.ts";
import { readRgbImage } from "./image_files.ts";
import { decodePngSamples } from "./png.ts";

/** Forward flow of a frame: interleaved (u, v) in pixels, and 1 where the truth is known, 0 where it is not. */
export interface FlowTruth {
  width: number;
  height: number;
  /** `2 * width * height` values: u then v per pixel, row-major. */
  flow: Float32Array;
  /** `width * height` flags: 1 for a pixel with known truth. */
  valid: Uint8Array;
}

/** The benchmark layout a pair came from (`pair`: given with `--pair`). */
export type FlowLayout = "middlebury" | "kitti" | "sintel" | "pair";

/** Two frames and the forward flow of the first, as files. */
export interface FlowPair {
  /** A short name for reports: the scene, the KITTI frame id, `scene/frame_0001`. */
  name: string;
  layout: FlowLayout;
  first: string;
  second: string;
  /** A `.flo` file or a KITTI 16-bit PNG. */
  truth: string;
  /** A Sintel mask: nonzero pixels are left out of the scores. */
  invalid?: string;
}

/** Which of a benchmark's variants to read. */
export interface FlowLayoutOptions {
  /** KITTI truth: all pixels (`flow_occ`, default) or only those visible in both frames (`flow_noc`). */
  kitti?: "flow_occ" | "flow_noc";
  /** Sintel frames: `clean` (default) or `final` (motion blur, fog). */
  pass?: "clean" | "final";
}

/** The layouts a folder may have, for the message when it has none. */
export const flowLayoutsHelp = "Middlebury other-gt-flow/<Scene>/flow10.flo + other-data/<Scene>/frame10.png, " +
  "frame11.png, or NAME_gt.flo + NAME1.png, NAME2.png; KITTI training/flow_occ/NNNNNN_10.png + " +
  "training/image_2/ (2012: colored_0/); Sintel training/flow/<scene>/frame_NNNN.flo + training/clean/<scene>/";

/**
 * The flow pairs in `dir`, in the first layout it has: Middlebury (official or `NAME_gt.flo`), KITTI 2012/2015
 * or Sintel. A folder may be the dataset's root or its `training/` folder.
 *
 * @throws {InputError} when `dir` is missing, not a folder, holds no pairs, or lacks the variant asked for.
 * @example
 * ```ts
 * const pairs = await findFlowPairs("../shared/data/flow/middlebury"); // [{ name: "rubberwhale", ... }]
 * ```
 */
export async function findFlowPairs(dir: string, options: FlowLayoutOptions = {}): Promise<FlowPair[]> {
  const info = await Deno.stat(dir).catch(() => undefined);
  if (!info) throw new InputError(`${dir}: no such folder`);
  if (!info.isDirectory) throw new InputError(`${dir}: is a file, not a folder (for one pair use --pair)`);
  for (const find of [middleburyPairs, kittiPairs, sintelPairs]) {
    const pairs = await find(dir, options);
    if (pairs.length > 0) return pairs;
  }
  throw new InputError(`${dir}: no flow pairs found (expected Middlebury, KITTI or Sintel layout: ${flowLayoutsHelp})`);
}

/**
 * Reads a ground-truth flow file: `.flo` (unknown where a component exceeds 1e9) or a KITTI 16-bit PNG.
 *
 * @throws {InputError} naming the file when it is missing, truncated or of another kind.
 */
export async function readFlowTruth(path: string): Promise<FlowTruth> {
  const bytes = await readBytes(path, "ground-truth flow");
  try {
    if (path.toLowerCase().endsWith(".flo")) return floTruth(decodeFlo(bytes));
    if (path.toLowerCase().endsWith(".png")) return decodeKittiFlow(bytes);
  } catch (error) {
    throw new InputError(`${path}: ${(error as Error).message}`);
  }
  throw new InputError(`${path}: ground-truth flow must be a .flo file or a KITTI 16-bit .png`);
}

/** A decoded `.flo` as {@linkcode FlowTruth}: pixels with a component above 1e9 (or not finite) are invalid. */
export function floTruth(flo: { width: number; height: number; flow: Float32Array }): FlowTruth {
  const valid = new Uint8Array(flo.width * flo.height);
  for (let i = 0; i < valid.length; i++) valid[i] = isKnownFlow(flo.flow[2 * i]!, flo.flow[2 * i + 1]!) ? 1 : 0;
  return { width: flo.width, height: flo.height, flow: flo.flow, valid };
}

/**
 * Decodes a KITTI flow map: a 16-bit RGB(A) PNG with u = (R - 2^15) / 64, v = (G - 2^15) / 64, valid iff B > 0.
 *
 * @throws {SyntaxError} for a PNG that is not 16-bit RGB, or a corrupt one.
 */
export function decodeKittiFlow(bytes: Uint8Array): FlowTruth {
  const png = decodePngSamples(bytes);
  if (png.bitDepth !== 16 || png.channels < 3) {
    throw new SyntaxError(
      `KITTI flow must be a 16-bit RGB PNG; this one is ${png.bitDepth}-bit with ${png.channels} channel(s)`,
    );
  }
  const { width, height, channels, samples } = png;
  const flow = new Float32Array(2 * width * height), valid = new Uint8Array(width * height);
  for (let i = 0; i < valid.length; i++) {
    const s = i * channels;
    if (samples[s + 2]! === 0) continue;
    valid[i] = 1;
    flow[2 * i] = (samples[s]! - 32768) / 64;
    flow[2 * i + 1] = (samples[s + 1]! - 32768) / 64;
  }
  return { width, height, flow, valid };
}

/**
 * Reads a Sintel invalid mask (any image sharp reads; nonzero in any channel = invalid) and clears those pixels
 * in `truth`.
 *
 * @throws {InputError} naming the mask when it cannot be read or its size differs from the truth's.
 */
export async function applyInvalidMask(truth: FlowTruth, maskPath: string): Promise<void> {
  const bytes = await readBytes(maskPath, "invalid mask");
  let mask: { data: Uint8Array; width: number; height: number; channels: number };
  try {
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    mask = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), ...info };
  } catch (error) {
    throw new InputError(`${maskPath}: not a readable invalid mask (${(error as Error).message.split("\n")[0]})`);
  }
  if (mask.width !== truth.width || mask.height !== truth.height) {
    throw new InputError(
      `${maskPath}: invalid mask is ${mask.width}x${mask.height}, the ground truth ${truth.width}x${truth.height}`,
    );
  }
  for (let i = 0; i < truth.valid.length; i++) {
    for (let c = 0; c < mask.channels; c++) if (mask.data[i * mask.channels + c]! !== 0) truth.valid[i] = 0;
  }
}

/** A pair's frames and truth, read and checked to be the same size. */
export interface LoadedFlowPair {
  first: RgbImage;
  second: RgbImage;
  truth: FlowTruth;
}

/**
 * Reads a pair's two frames and its truth (with the invalid mask applied).
 *
 * @throws {InputError} naming the file that is missing, unreadable or of another size than the first frame.
 */
export async function readFlowPair(pair: FlowPair): Promise<LoadedFlowPair> {
  for (const path of [pair.first, pair.second]) {
    if (!(await Deno.stat(path).catch(() => undefined))) throw new InputError(`${path}: frame not found`);
  }
  const first = await readRgbImage(pair.first), second = await readRgbImage(pair.second);
  const size = (s: { width: number; height: number }) => `${s.width}x${s.height}`;
  if (second.width !== first.width || second.height !== first.height) {
    throw new InputError(`${pair.second}: frame is ${size(second)}, but ${pair.first} is ${size(first)}`);
  }
  const truth = await readFlowTruth(pair.truth);
  if (truth.width !== first.width || truth.height !== first.height) {
    throw new InputError(`${pair.truth}: ground truth is ${size(truth)}, but the frames are ${size(first)}`);
  }
  if (pair.invalid) await applyInvalidMask(truth, pair.invalid);
  return { first, second, truth };
}

// --- Layouts ---------------------------------------------------------------------------------------------

const collator = new Intl.Collator("en", { numeric: true });

/** Names of the entries of `dir` that pass `keep`, sorted naturally; none when `dir` is not a folder. */
async function entries(dir: string, keep: (entry: Deno.DirEntry) => boolean): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) if (keep(entry)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
      throw new InputError(`${dir}: cannot list folder (${(error as Error).message})`);
    }
  }
  return names.sort(collator.compare);
}

async function isFolder(path: string): Promise<boolean> {
  return (await Deno.stat(path).catch(() => undefined))?.isDirectory ?? false;
}

const files = (entry: Deno.DirEntry) => entry.isFile || entry.isSymlink;
const folders = (entry: Deno.DirEntry) => entry.isDirectory || entry.isSymlink;

/** Official Middlebury (`other-gt-flow/<Scene>/flow10.flo`), one scene folder, or `NAME_gt.flo` + NAME1/2.png. */
async function middleburyPairs(dir: string): Promise<FlowPair[]> {
  const pairs: FlowPair[] = [];
  for (const scene of await entries(join(dir, "other-gt-flow"), folders)) {
    const truth = join(dir, "other-gt-flow", scene, "flow10.flo");
    if (!(await Deno.stat(truth).catch(() => undefined))) continue;
    const frames = join(dir, "other-data", scene);
    pairs.push({
      name: scene,
      layout: "middlebury",
      first: join(frames, "frame10.png"),
      second: join(frames, "frame11.png"),
      truth,
    });
  }
  const names = await entries(dir, files);
  if (names.includes("flow10.flo") && names.includes("frame10.png")) {
    const first = join(dir, "frame10.png"), second = join(dir, "frame11.png"), truth = join(dir, "flow10.flo");
    pairs.push({ name: basename(dir), layout: "middlebury", first, second, truth });
  }
  for (const name of names.filter((n) => n.endsWith("_gt.flo"))) {
    const stem = name.slice(0, -"_gt.flo".length);
    const first = join(dir, `${stem}1.png`), second = join(dir, `${stem}2.png`), truth = join(dir, name);
    pairs.push({ name: stem, layout: "middlebury", first, second, truth });
  }
  return pairs;
}

/** `dir/training` when there is one, else `dir` (the user gave the training folder itself). */
async function trainingFolder(dir: string): Promise<string> {
  return await isFolder(join(dir, "training")) ? join(dir, "training") : dir;
}

/** KITTI 2015 (`image_2/`) or 2012 (`colored_0/`) frames `NNNNNN_10.png`, `_11.png` with `flow_occ|flow_noc/`. */
async function kittiPairs(dir: string, options: FlowLayoutOptions): Promise<FlowPair[]> {
  const base = await trainingFolder(dir);
  const frames = (await isFolder(join(base, "image_2")))
    ? join(base, "image_2")
    : (await isFolder(join(base, "colored_0")))
    ? join(base, "colored_0")
    : undefined;
  if (!frames) return [];
  const kind = options.kitti ?? "flow_occ", other = kind === "flow_occ" ? "flow_noc" : "flow_occ";
  if (!(await isFolder(join(base, kind)))) {
    if (!(await isFolder(join(base, other)))) return [];
    throw new InputError(`${dir}: has no ${join(base, kind)} (it has ${other}; use --kitti ${other})`);
  }
  return (await entries(join(base, kind), files)).flatMap((name) => {
    const id = /^(\d+)_10\.png$/.exec(name)?.[1];
    if (id === undefined) return [];
    const first = join(frames, `${id}_10.png`), second = join(frames, `${id}_11.png`);
    return [{ name: `${id}_10`, layout: "kitti" as const, first, second, truth: join(base, kind, name) }];
  });
}

/** Sintel `flow/<scene>/frame_NNNN.flo` with `clean|final/<scene>/frame_NNNN.png` and optional `invalid/`. */
async function sintelPairs(dir: string, options: FlowLayoutOptions): Promise<FlowPair[]> {
  const base = await trainingFolder(dir);
  if (!(await isFolder(join(base, "flow")))) return [];
  const pass = options.pass ?? "clean", other = pass === "clean" ? "final" : "clean";
  if (!(await isFolder(join(base, pass)))) {
    if (!(await isFolder(join(base, other)))) return [];
    throw new InputError(`${dir}: has no ${join(base, pass)} (it has ${other}; use --pass ${other})`);
  }
  const pairs: FlowPair[] = [];
  for (const scene of await entries(join(base, "flow"), folders)) {
    const masks = new Set(await entries(join(base, "invalid", scene), files));
    for (const name of await entries(join(base, "flow", scene), files)) {
      const match = /^frame_(\d+)\.flo$/.exec(name);
      if (!match) continue;
      const digits = match[1]!, next = String(Number(digits) + 1).padStart(digits.length, "0");
      const frames = join(base, pass, scene);
      const pair: FlowPair = {
        name: `${scene}/frame_${digits}`,
        layout: "sintel",
        first: join(frames, `frame_${digits}.png`),
        second: join(frames, `frame_${next}.png`),
        truth: join(base, "flow", scene, name),
      };
      if (masks.has(`frame_${digits}.png`)) pair.invalid = join(base, "invalid", scene, `frame_${digits}.png`);
      pairs.push(pair);
    }
  }
  return pairs;
}

// --- Reading files and PNG samples -----------------------------------------------------------------------

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "not found" : (error as Error).message.split("\n")[0];
    throw new InputError(`${path}: cannot read ${what} (${why})`);
  }
}
