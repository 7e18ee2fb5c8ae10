/**
 * Tracking and distances on the synthetic world, whose camera and objects are known: id switches (CLEAR-MOT,
 * against the world's instance ids), misses, false positives, MOTA, and the distance error of matched boxes with a
 * visible foot up to 30 m. Labels come from the world's truth (the box, split and track stages alone) or from the
 * synthetic set's segmentation network (the whole pipeline); each row is one variant over the same held-out clips.
 *
 * `deno run -A bench/tracking.ts [--seeds 901,902,903] [--frames 150] [--labels truth,model] [--speed 1]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadGraphText } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { type TrackingReport, TrackingScore } from "../eval/tracking.ts";
import type { BoxesRecord } from "../stages/_objects.ts";
import type { TrackedBox } from "../stages/_metadata.ts";
import { modelsRoot } from "../tests/_helpers.ts";

/** The world's label map as the `labels` slot (what a perfect segmentation would give). */
const truthLabels = defineStage({
  kind: "truth-labels",
  role: "stage",
  doc: "the frame's true labels",
  params: {},
  inputs: [],
  outputs: [{ name: "labels", doc: "true labels", type: "tensor", kind: "labels" }],
  create: (ctx) =>
    perFrame(ctx, (frame) => {
      const { width, height } = frame.image;
      frame.slots.set(ctx.outputs.labels!, { type: "uint8", dims: [1, height, width], data: frame.truth!.labels! });
    }),
});

/** Scores each frame's boxes (tracked or not) into the run's {@linkcode TrackingScore}. */
function scoringSink(score: TrackingScore) {
  return defineStage({
    kind: "score-tracks",
    role: "sink",
    doc: "score boxes against the world's objects",
    params: {},
    inputs: [{ name: "boxes", doc: "boxes or tracks", type: "record" }],
    outputs: [],
    create: (ctx) =>
      perFrame(ctx, (frame) => {
        const record = readSlot<BoxesRecord>(frame, ctx.inputs.boxes!);
        const boxes = record.boxes.map((b, i) => ({ ...b, id: (b as TrackedBox).trackId ?? -(i + 1) }));
        score.add(frame.truth!, frame.image.width, boxes);
      }),
  });
}

const tracked = new Set([2, 8, 9, 10]);

/**
 * Runs one variant (`--set` overrides, or `untracked` to score the boxes stage alone) on one synthetic clip with
 * labels from the world (`truth`) or the synthetic set's network (`model`), and scores it.
 */
export async function runClip(seed: number, frames: number, speed: number, labels: string, variant: string[]) {
  const score = new TrackingScore(tracked, { maxRange: 30 });
  const registry = builtinRegistry().stage(truthLabels).stage(scoringSink(score));
  const untracked = variant.includes("untracked");
  const labeller = labels === "truth"
    ? "  - { id: labels, kind: truth-labels, out: { labels: labels } }\n"
    : "  - { id: segment, kind: model, model: seg, out: { labels: labels } }\n";
  const graph = await loadGraphText(
    "tracking.yaml",
    `name: tracking
model_set: synthetic
source: { kind: synthetic, frames: ${frames}, width: 480, height: 360, seed: ${seed}, speed: ${speed} }
models: { seg: seg }
stages:
${labeller}  - { id: boxes, kind: boxes, in: { labels: labels }, out: { boxes: detections } }
  - { id: track, kind: track, in: { boxes: detections }, out: { tracks: tracks } }
sinks:
  - { id: score, kind: score-tracks, in: { boxes: ${untracked ? "detections" : "tracks"} } }
`,
    { registry, modelsRoot, overrides: variant.filter((v) => v.includes("=")) },
  );
  await runGraph(graph);
  return score.report();
}

function sum(reports: TrackingReport[]) {
  const total = (f: (r: TrackingReport) => number) => reports.reduce((s, r) => s + f(r), 0);
  const truths = total((r) => r.truths);
  const errors = reports.flatMap((r) => r.distances.errors).sort((a, b) => a - b);
  const at = (q: number) => errors.length ? errors[Math.min(errors.length - 1, Math.floor(q * errors.length))]! : NaN;
  return {
    idSwitches: total((r) => r.idSwitches),
    crossings: total((r) => r.crossings),
    misses: total((r) => r.misses),
    falsePositives: total((r) => r.falsePositives),
    truths,
    mota: 1 - (total((r) => r.misses + r.falsePositives + r.idSwitches)) / truths,
    distanceCount: errors.length,
    medianError: at(0.5),
    p90: at(0.9),
    within10: errors.filter((e) => e <= 0.1).length / errors.length,
  };
}

const variants: { label: string; set: string[] }[] = [
  { label: "boxes + track (defaults)", set: [] },
  { label: "boxes without splitting + track", set: ["boxes.split=false"] },
  { label: "boxes without plausibility checks + track", set: ["boxes.plausible=false"] },
  { label: "boxes alone (untracked: no ids)", set: ["untracked"] },
];

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seeds: { type: "string", default: "901,902,903" },
      frames: { type: "string", default: "150" },
      labels: { type: "string", default: "truth,model" },
      speed: { type: "string", default: "1" },
    },
  });
  const seeds = values.seeds.split(",").map(Number);
  const frames = Number(values.frames), speed = Number(values.speed);
  console.log(`synthetic world, seeds ${seeds.join(", ")}, ${frames} frames each at 480x360, speed ${speed}`);
  console.log(
    "| labels | variant | id switches | crossings | MOTA | misses | false pos. | distances scored | median err | p90 err | within 10% |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const labels of values.labels.split(",")) {
    for (const variant of variants) {
      const reports = [];
      for (const seed of seeds) reports.push(await runClip(seed, frames, speed, labels, variant.set));
      const s = sum(reports);
      const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
      const ids = variant.set.includes("untracked") ? "-" : String(s.idSwitches);
      console.log(
        `| ${labels} | ${variant.label} | ${ids} | ${s.crossings} | ${s.mota.toFixed(3)} | ${s.misses} | ` +
          `${s.falsePositives} | ${s.distanceCount} | ${pct(s.medianError)} | ${pct(s.p90)} | ${pct(s.within10)} |`,
      );
    }
  }
}
