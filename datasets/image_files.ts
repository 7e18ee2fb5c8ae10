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
 * Reads an 8-bit label or object-id map: raw values of a grey or palette PNG; other files through sharp,
 * where a grey image saved as RGB is read through its first channel. A colour image (channels differ) or a
 * 16-bit one is an error: its first channel is not an id.
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
  let decoded;
  try {
    const indexed = path.toLowerCase().endsWith(".png") ? decodeIndexedPng(bytes) : undefined;
    if (indexed) return indexed;
    const image = sharp(bytes);
    const { depth } = await image.metadata();
    decoded = { depth, ...(await image.raw().toBuffer({ resolveWithObject: true })) };
  } catch (error) {
    throw new InputError(`${path}: not a readable label map (${firstLine(error)})`);
  }
  const { depth, data, info } = decoded;
  const kind = "a label map holds one 8-bit id per pixel (save it as a grey or palette PNG)";
  if (depth !== undefined && depth !== "uchar" && depth !== "char") {
    throw new InputError(`${path}: is a ${depth === "ushort" ? "16-bit" : depth} image; ${kind}`);
  }
  const channels = info.channels;
  const ids = new Uint8Array(info.width * info.height);
  for (let p = 0; p < ids.length; p++) {
    const r = data[p * channels]!;
    if (channels >= 3 && (data[p * channels + 1] !== r || data[p * channels + 2] !== r)) {
      const x = p % info.width, y = Math.floor(p / info.width);
      throw new InputError(`${path}: is a colour image (pixel ${x},${y} is not grey); ${kind}`);
    }
    ids[p] = r;
  }
  return { width: info.width, height: info.height, data: ids };
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0]!.trim();
}
