/**
 * `deno task synth --out DIR [--frames 60] [--sequences 1] [--width 480] [--height 360] [--seed 1]
 * [--split val] [--speed 1[,2,...]]`: writes the synthetic world to disk (see `write.ts` for the layout).
 *
 * `--speed` is the world's time step per frame (4: camera and objects move 4x as far between frames); a list
 * gives the clips those speeds in turn (large-motion training data with exact flow).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeSyntheticDataset } from "./write.ts";

function positive(flag: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new TypeError(`'--${flag}' must be an integer >= ${min}, got '${text}'`);
  return n;
}

function speedList(text: string | undefined): number[] {
  if (text === undefined) return [1];
  return text.split(",").map((part) => {
    const n = Number(part);
    if (!(n >= 0.05 && n <= 64)) {
      throw new TypeError(`'--speed' takes numbers in 0.05..64 (comma-separated), got '${part}'`);
    }
    return n;
  });
}

/** Runs the command; returns the exit code. */
export async function synthMain(argv: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        out: { type: "string" },
        frames: { type: "string" },
        sequences: { type: "string" },
        width: { type: "string" },
        height: { type: "string" },
        seed: { type: "string" },
        split: { type: "string" },
        speed: { type: "string" },
      },
    });
    if (!values.out) throw new TypeError("'--out DIR' is required");
    const options = {
      frames: positive("frames", values.frames, 60),
      width: positive("width", values.width, 480, 32),
      height: positive("height", values.height, 360, 32),
      seed: positive("seed", values.seed, 1, 0),
      fps: 15,
      speeds: speedList(values.speed),
    };
    await writeSyntheticDataset(
      values.out,
      options,
      positive("sequences", values.sequences, 1),
      values.split ?? "val",
      (w) => console.log(`wrote ${w.sequence}: ${w.frames} frames (seed ${w.seed}, speed ${w.speed}) to ${values.out}`),
    );
    return 0;
  } catch (error) {
    console.error(`error: ${(error as Error).message.split("\n")[0]}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await synthMain(Deno.args));
