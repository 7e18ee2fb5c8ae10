/**
 * Choosing the adaptive clocks' thresholds on training video, per backbone scale. The Clockwork notebooks picked
 * theta so that about half the frames fire; the share that fires at a given theta depends on the video's motion
 * and on the backbone (how much argmax(score2), or argmax(score1), changes from frame to frame), so it is chosen
 * here on real moving-camera video that no method is scored on: the first five DAVIS sequences of
 * `../shared/data/davis2016-extra` (breakdance, camel, cows, dance-twirl, drift-chicane; the other five are held out
 * for the real-video agreement of `bench/methods.ts --real-video`).
 *
 * Both clocks read labels that are computed on every frame whatever fires (argmax(score2) for
 * `clockwork-adaptive.yaml`, argmax(score1) for `clockwork-adaptive-deep.yaml`), so one run records them and the
 * clocks are replayed for every theta exactly as the `decide` stage runs them (first frame of a stream fires;
 * fire when the share of changed labels since the last firing reaches theta), without the graphs' budget
 * (`max_rate`), which only caps the share on faster video.
 *
 * `deno run -A bench/clock_theta.ts [--models camvid] [--scales seg,seg-large] [--rate 0.5] [--sequences a,b]
 * [--frames N]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  calibrationSequences,
  defaultRealVideo,
  missingScaleCards,
  rowSettings,
  runMethod,
  scales,
  sequenceSubset,
} from "./methods.ts";
import { adaptiveFires, labelChange } from "../stages/decide.ts";
import type { Frame } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";

/** The thetas tried. */
const thetas = Array.from({ length: 39 }, (_, i) => Math.round((0.05 + 0.025 * i) * 1000) / 1000);

/** Argmax over the class axis of a [1, C, h, w] score map. */
export function argmaxClasses(scores: Tensor): Uint8Array {
  const [, classes, h, w] = scores.dims as number[];
  const data = scores.data as Float32Array, plane = h! * w!;
  const out = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) {
    let best = 0, value = data[i]!;
    for (let c = 1; c < classes!; c++) {
      const v = data[c * plane + i]!;
      if (v > value) value = v, best = c;
    }
    out[i] = best;
  }
  return out;
}

/**
 * The share of frames an adaptive clock at `theta` fires on, over label sequences (one per stream), with the
 * decide stage's own rule ({@linkcode adaptiveFires}) and no budget (`max_rate` 1): theta alone.
 */
export function firingShare(streams: readonly (readonly Uint8Array[])[], theta: number): number {
  let fired = 0, frames = 0;
  for (const labels of streams) {
    const state: { reference?: Uint8Array; tokens?: number } = {};
    for (const current of labels) {
      frames++;
      const change = state.reference ? labelChange(current, state.reference) : 1;
      if (adaptiveFires(state, change, theta, 1, 1)) {
        fired++;
        state.reference = current;
      }
    }
  }
  return frames ? fired / frames : 0;
}

/** The theta whose share is closest to `rate` (the smaller theta on a tie). */
export function thetaFor(streams: readonly (readonly Uint8Array[])[], rate: number, candidates = thetas): number {
  let best = candidates[0]!, gap = Infinity;
  for (const theta of candidates) {
    const g = Math.abs(firingShare(streams, theta) - rate);
    if (g < gap) best = theta, gap = g;
  }
  return best;
}

/** Records both clocks' label sequences at every scale and returns markdown lines with the chosen thetas. */
export async function chooseThetas(
  options: { models?: string; scales?: string[]; rate?: number; sequences?: string[]; frames?: number },
  log: (line: string) => void = (line) => console.error(line),
): Promise<string[]> {
  const rate = options.rate ?? 0.5;
  const sequences = options.sequences ?? calibrationSequences;
  const input = await sequenceSubset(defaultRealVideo, sequences);
  const shown = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
  const lines = [
    `Firing share by theta on ${sequences.join(", ")} (target ${rate}):`,
    "",
    `| scale | clock (labels) | ${shown.map((t) => `theta ${t}`).join(" | ")} | chosen | its share |`,
    `|---|---|${shown.map(() => "---|").join("")}---|---|`,
  ];
  try {
    for (const scale of scales.filter((s) => !options.scales || options.scales.includes(s.name))) {
      // clockwork-adaptive.yaml with S3 firing only on a stream's first frame: S1 and S2 on every frame.
      const row = { label: "record", graph: "graphs/clockwork-adaptive.yaml", set: ["clock3.theta=1"] };
      if ((await missingScaleCards(scale, [row], options)).length) {
        log(`${scale.name}: skipped (cards missing)`);
        continue;
      }
      const score2: Map<string, Uint8Array[]> = new Map(), score1: Map<string, Uint8Array[]> = new Map();
      const add = (map: Map<string, Uint8Array[]>, stream: string, labels: Uint8Array) => {
        if (!map.has(stream)) map.set(stream, []);
        map.get(stream)!.push(labels.slice());
      };
      const report = await runMethod(row.graph, {
        ...options,
        input,
        set: await rowSettings(row, { ...scale, settings: {} }),
        hostSlots: ["labels2", "score1"],
        onFrame: (frame: Frame) => {
          add(score2, frame.stream, (frame.slots.get("labels2") as Tensor).data as Uint8Array);
          add(score1, frame.stream, argmaxClasses(frame.slots.get("score1") as Tensor));
        },
      });
      log(`[${scale.name}] recorded ${report.frames} frames`);
      for (
        const [clock, streams] of [
          ["`clockwork-adaptive.yaml` `clock3.theta` (argmax score2)", [...score2.values()]],
          ["`clockwork-adaptive-deep.yaml` `clock23.theta` (argmax score1)", [...score1.values()]],
        ] as const
      ) {
        const chosen = thetaFor(streams, rate);
        lines.push(
          `| ${scale.name} | ${clock} | ${
            shown.map((t) => firingShare(streams, t).toFixed(2)).join(" | ")
          } | ${chosen} | ${firingShare(streams, chosen).toFixed(2)} |`,
        );
      }
    }
  } finally {
    await Deno.remove(input, { recursive: true });
  }
  return [...lines, ""];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      models: { type: "string" },
      scales: { type: "string" },
      rate: { type: "string" },
      sequences: { type: "string" },
      frames: { type: "string" },
    },
  });
  const list = (text?: string) => text?.split(",").map((s) => s.trim()).filter(Boolean);
  console.log((await chooseThetas({
    models: values.models ?? "camvid",
    ...(values.scales ? { scales: list(values.scales)! } : {}),
    ...(values.rate ? { rate: Number(values.rate) } : {}),
    ...(values.sequences ? { sequences: list(values.sequences)! } : {}),
    ...(values.frames ? { frames: Number(values.frames) } : {}),
  })).join("\n"));
}
