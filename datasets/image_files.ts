/**
 * Reading images and label maps from files: `sharp` for photos (PNG, JPEG, ...), the project's own PNG
 * decoder for 8-bit label and object-id maps (which must not go through a palette). Every failure is an
 * {@linkcode InputError} naming the file.
 *
 * @module
 */
import sharp from "sharp";
import { InputError } from "../engine/errors.ts";
import type { RgbImage } from "../engine/frame.ts";
import { decodeIndexedPng, type IndexedImage } from "./png.ts";

/** File extensions read as images. */
export const imageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"];

/** True when `name` has an image extension. */
export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return imageExtensions.some((ext) => lower.endsWith(ext));
}

const collator = new Intl.Collator("en", { numeric: true });

/** Image files of a folder, sorted by name with numbers in numeric order (`2.png` before `10.png`). */
export async function listImages(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) if (entry.isFile && isImageFile(entry.name)) names.push(entry.name);
  } catch (error) {
    throw new InputError(`${dir}: cannot list folder (${(error as Error).message})`);
  }
  return names.sort(collator.compare);
}

/**
 * Decodes an image file to interleaved RGB (alpha dropped, grey expanded).
 *
 * @throws {InputError} naming the file when it cannot be read or decoded.
 */
export async function readRgbImage(path: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(path).removeAlpha().toColourspace("srgb").raw().toBuffer({
      resolveWithObject: true,
    });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (error) {
    throw new InputError(`${path}: not a readable image (${firstLine(error)})`);
  }
}

/**
 * Reads an 8-bit label or object-id map: raw values of a grey or palette PNG; other files through sharp's
 * first channel.
 *
 * @throws {InputError} naming the file.
 */
export async function readLabelMap(path: string): Promise<IndexedImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new InputError(`${path}: cannot read ground truth (${firstLine(error)})`);
  }
  try {
    const indexed = path.toLowerCase().endsWith(".png") ? decodeIndexedPng(bytes) : undefined;
    if (indexed) return indexed;
    const { data, info } = await sharp(bytes).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (error) {
    throw new InputError(`${path}: not a readable label map (${firstLine(error)})`);
  }
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0]!.trim();
}
