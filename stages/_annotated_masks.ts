/**
 * Object masks given for later frames of a video (DAVIS 2017 style: an object that enters the video is annotated on
 * the frame it first appears), read by `knn` from its `masks` folder.
 *
 * A stream's masks are `<dir>/<stream>/<frame>.png` when that folder exists (a DAVIS `Annotations/480p` folder
 * holds one per sequence), else `<dir>/<frame>.png`; `<frame>` is the frame's file name without its extension (DAVIS:
 * `00023`) or its index, zero-padded to five digits (`00023.png`) or not (`23.png`), for a video. Each mask is a
 * palette PNG of object ids (a 0/255 DAVIS 2016 mask is object 1); its size must be the frame's.
 *
 * @module
 */
import { basename, extname, join } from "node:path";
import type { Frame } from "../engine/frame.ts";
import type { IndexedImage } from "../datasets/png.ts";
import { InputError } from "../engine/errors.ts";
import { readFirstMask } from "./_first_mask_file.ts";
import { checkFirstMaskIds, checkFirstMaskSize } from "./_mask_size.ts";

/** A frame's given mask: where it came from and its object ids at the frame's size. */
export interface AnnotatedMask {
  path: string;
  mask: IndexedImage;
}

/** Lists a folder's PNG files by name without extension; `undefined` when it is no folder. */
async function pngsIn(dir: string): Promise<Map<string, string> | undefined> {
  const found = new Map<string, string>();
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && extname(entry.name).toLowerCase() === ".png") {
        found.set(basename(entry.name, extname(entry.name)), join(dir, entry.name));
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return undefined;
    throw new InputError(`masks folder ${dir}: cannot read it (${(error as Error).message})`);
  }
  return found;
}

/**
 * The masks of a `masks` folder, looked up frame by frame (each stream's listing read once).
 *
 * @example
 * ```ts
 * const masks = new AnnotatedMasks("DAVIS/Annotations/480p", 21);
 * const given = await masks.forFrame(frame); // undefined on frames nobody annotated
 * ```
 */
export class AnnotatedMasks {
  readonly #dir: string;
  readonly #objects: number;
  readonly #listings = new Map<string, Promise<Map<string, string>>>();

  /** `objects`: the stage's object count (ids 0..objects-1); a mask with a larger id is an error. */
  constructor(dir: string, objects: number) {
    this.#dir = dir;
    this.#objects = objects;
  }

  /** The folder holding `stream`'s masks: its own subfolder if there is one, else the folder itself. */
  #listing(stream: string): Promise<Map<string, string>> {
    let listing = this.#listings.get(stream);
    if (!listing) {
      listing = (async () => {
        const own = await pngsIn(join(this.#dir, stream));
        if (own) return own;
        const shared = await pngsIn(this.#dir);
        if (!shared) throw new InputError(`masks folder ${this.#dir} does not exist`);
        return shared;
      })();
      this.#listings.set(stream, listing);
      // Bounded on endless lists of streams: the oldest listing is read again if its stream comes back.
      if (this.#listings.size > 64) this.#listings.delete(this.#listings.keys().next().value!);
    }
    return listing;
  }

  /**
   * The mask given for `frame`, or `undefined`.
   *
   * @throws {InputError} when the mask cannot be read, has another size than the frame, or an id the stage has no
   * channel for.
   */
  async forFrame(frame: Pick<Frame, "index" | "name" | "stream" | "image">): Promise<AnnotatedMask | undefined> {
    const listing = await this.#listing(frame.stream);
    const keys = [
      ...(frame.name ? [basename(frame.name, extname(frame.name))] : []),
      String(frame.index).padStart(5, "0"),
      String(frame.index),
    ];
    const path = keys.map((key) => listing.get(key)).find((p) => p !== undefined);
    if (!path) return undefined;
    const mask = await readFirstMask(path);
    checkFirstMaskSize(path, mask, frame, "mask");
    checkFirstMaskIds(path, mask.data, this.#objects, "mask", true); // every object may have left
    return { path, mask };
  }
}
