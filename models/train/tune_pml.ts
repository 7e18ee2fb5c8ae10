/**
 * Cross-validated choice of PML-VOS's parameters (issue 17): each fold is an embedding trained without some DAVIS
 * training sequences and those held-out sequences; every candidate is scored (DAVIS J&F) on the held-out sequences
 * of every fold with that fold's embedding, and the best mean wins. The five evaluation sequences are never read.
 *
 * ```sh
 * deno run -A models/train/tune_pml.ts --input ../shared/data/davis2016-extra \
 *   --fold /tmp/cv/foldA=drift-straight,goat,motocross-jump,parkour,soapbox \
 *   --fold /tmp/cv/foldB=breakdance,camel,cows,dance-twirl,drift-chicane [--frames N] [--json FILE]
 * ```
 *
 * A fold's folder is a model set (its `embed.onnx` and card). Two phases, each one run per fold in which the
 * embedding is computed once and shared: (1) kNN candidates (k, position channels' weight, online adaptation and the
 * pool's size, one at a time from the graph's defaults), each with the default refinement; (2) refinement candidates
 * (spatial and colour sigmas together, the object threshold alone) on phase 1's choice. Each phase keeps, per
 * parameter, the value its candidates score best (`combine`); a last run scores the combination. Prints markdown
 * tables and the chosen `--set` flags.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { loadGraphText } from "../../engine/graph.ts";
import { runGraph } from "../../engine/run.ts";
import type { Tensor } from "../../engine/tensor.ts";
import { builtinRegistry } from "../../stages/mod.ts";
import { DavisScorer } from "../../eval/metrics/mod.ts";

/** One candidate's parameters of a stage kind (`knn` or `refine`). */
type Params = Record<string, number | boolean>;

/** The starting point of both phases: the graph's parameters before they were cross-validated (issue 17). */
export const defaults = {
  knn: { k: 5, position_weight: 0.5, adapt: true, pool_size: 4096 } as Params,
  refine: { sigma_spatial: 8, sigma_range: 20, threshold: 0.5 } as Params,
};

/** Phase 1: kNN candidates, one parameter at a time from the defaults (coordinate search). */
export function knnCandidates(): Params[] {
  const d = defaults.knn;
  return [
    d,
    ...[3, 9].map((k) => ({ ...d, k })),
    ...[0, 1, 2].map((position_weight) => ({ ...d, position_weight })),
    { ...d, pool_size: 16384 },
    { ...d, adapt: false },
  ];
}

/** Phase 2: refinement candidates: the two sigmas together, then the threshold alone. */
export function refineCandidates(): Params[] {
  const d = defaults.refine;
  const out: Params[] = [];
  for (const sigma_spatial of [4, 8, 12]) {
    for (const sigma_range of [10, 20, 40]) out.push({ ...d, sigma_spatial, sigma_range });
  }
  return [...out, ...[0.6, 0.7].map((threshold) => ({ ...d, threshold }))];
}

/**
 * The best of one coordinate search: each parameter's best value where candidates that change only it from the
 * defaults (or, for the sigmas, only the two of them) tell it, combined.
 */
export function combine(base: Params, rows: { params: Params; mean: number }[], groups: string[][]): Params {
  const chosen = { ...base };
  for (const group of groups) {
    const varies = rows.filter((r) =>
      Object.keys(base).every((key) => group.includes(key) || r.params[key] === base[key])
    );
    const best = [...varies].sort((a, b) => b.mean - a.mean)[0];
    if (best) { for (const key of group) chosen[key] = best.params[key]!; }
  }
  return chosen;
}

const yamlParams = (p: Params) => Object.entries(p).map(([k, v]) => `${k}: ${v}`).join(", ");

/** The graph of one run: the embedding once, then each (knn, refine) pair of `pairs` as its own branch. */
export function tuningGraph(knns: Params[], refines: Params[][]): string {
  const lines = [
    "name: pml-tune",
    "source: { kind: davis, path: . }",
    "models: { embed: embed }",
    "stages:",
    "  - { id: embed, kind: model, model: embed, out: { embedding: embedding } }",
  ];
  knns.forEach((knn, i) => {
    lines.push(
      `  - { id: pml${i}, kind: knn, ${yamlParams({ search_stride: 3, ...knn })}, seed_size: 8192, objects: 8, ` +
        `in: { embedding: embedding }, out: { scores: scores${i}, given: given${i} } }`,
    );
    refines[i]!.forEach((refine, j) => {
      lines.push(
        `  - { id: refine${i}_${j}, kind: refine, ${yamlParams(refine)}, ` +
          `in: { scores: scores${i}, image: image, given: given${i} }, out: { labels: labels${i}_${j} } }`,
      );
    });
  });
  return lines.join("\n") + "\n";
}

/** Per-sequence J&F of every branch of one run over a fold's held-out sequences. */
async function runFold(
  modelSet: string,
  input: string,
  sequences: string[],
  knns: Params[],
  refines: Params[][],
  frames?: number,
): Promise<Map<string, Record<string, number>>> {
  const slots = knns.flatMap((_, i) => refines[i]!.map((_, j) => `labels${i}_${j}`));
  const scorers = new Map(slots.map((slot) => [slot, new DavisScorer()]));
  const graph = await loadGraphText("pml-tune.yaml", tuningGraph(knns, refines), {
    registry: builtinRegistry(),
    modelsRoot: resolve(new URL("../../models", import.meta.url).pathname),
    modelSet: resolve(modelSet),
    input,
    overrides: [`source.sequences=[${sequences.join(",")}]`],
  });
  await runGraph(graph, {
    quiet: true,
    warn: () => {},
    ...(frames ? { frames } : {}),
    hostSlots: slots,
    onFrame: (frame) => {
      const truth = frame.truth?.mask;
      if (!truth) return;
      for (const slot of slots) {
        const labels = (frame.slots.get(slot) as Tensor).data as Uint8Array;
        scorers.get(slot)!.addLabels(frame.stream, labels, truth, frame.image.width, frame.image.height);
      }
    },
  });
  const out = new Map<string, Record<string, number>>();
  for (const [slot, scorer] of scorers) {
    const perSequence: Record<string, number> = {};
    for (const [name, s] of Object.entries(scorer.summary().sequences)) perSequence[name] = (s.J.mean + s.F.mean) / 2;
    out.set(slot, perSequence);
  }
  return out;
}

/** A fold: its model set and its held-out sequences. */
export interface Fold {
  models: string;
  sequences: string[];
}

/** Mean J&F over every held-out sequence of every fold, per branch, and the per-sequence values. */
export async function score(folds: Fold[], input: string, knns: Params[], refines: Params[][], frames?: number) {
  const all = new Map<string, Record<string, number>>();
  for (const fold of folds) {
    const t0 = performance.now();
    const result = await runFold(fold.models, input, fold.sequences, knns, refines, frames);
    for (const [slot, perSequence] of result) all.set(slot, { ...all.get(slot), ...perSequence });
    console.error(`fold ${fold.models}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  return [...all].map(([slot, perSequence]) => {
    const values = Object.values(perSequence);
    return { slot, mean: values.reduce((a, b) => a + b, 0) / values.length, perSequence };
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      input: { type: "string", default: "../shared/data/davis2016-extra" },
      fold: { type: "string", multiple: true },
      frames: { type: "string" },
      json: { type: "string" },
    },
  });
  const folds: Fold[] = (values.fold ?? []).map((text) => {
    const [models, list] = text.split("=");
    if (!models || !list) throw new Error(`--fold ${text}: expected MODELS_DIR=seq1,seq2,...`);
    return { models, sequences: list.split(",") };
  });
  if (folds.length === 0) throw new Error("give at least one --fold MODELS_DIR=seq1,seq2,...");
  const frames = values.frames ? Number(values.frames) : undefined;
  const pct = (v: number) => (100 * v).toFixed(1);
  const table = (title: string, rows: { label: string; mean: number; perSequence: Record<string, number> }[]) => {
    const names = Object.keys(rows[0]!.perSequence).sort();
    console.log(
      `\n${title}\n\n| candidate | J&F | ${names.join(" | ")} |\n|---|---|${names.map(() => "---").join("|")}|`,
    );
    for (const r of [...rows].sort((a, b) => b.mean - a.mean)) {
      console.log(`| ${r.label} | ${pct(r.mean)} | ${names.map((n) => pct(r.perSequence[n]!)).join(" | ")} |`);
    }
  };
  const knns = knnCandidates();
  const phase1 = (await score(folds, values.input!, knns, knns.map(() => [defaults.refine]), frames))
    .map((r, i) => ({ ...r, label: yamlParams(knns[i]!), params: knns[i]! }));
  table("Phase 1: kNN candidates (default refinement)", phase1);
  const bestKnn = combine(defaults.knn, phase1, [["k"], ["position_weight"], ["pool_size"], ["adapt"]]);
  const refines = refineCandidates();
  const phase2 = (await score(folds, values.input!, [bestKnn], [refines], frames))
    .map((r, j) => ({ ...r, label: yamlParams(refines[j]!), params: refines[j]! }));
  table(`Phase 2: refinement candidates (kNN ${yamlParams(bestKnn)})`, phase2);
  const bestRefine = combine(defaults.refine, phase2, [["sigma_spatial", "sigma_range"], ["threshold"]]);
  const flags = [
    ...Object.entries(bestKnn).map(([k, v]) => `--set pml.${k}=${v}`),
    ...Object.entries(bestRefine).map(([k, v]) => `--set refine.${k}=${v}`),
  ];
  const [check] = await score(folds, values.input!, [bestKnn], [[bestRefine]], frames);
  table("The choice, cross-validated", [{ ...check!, label: flags.join(" ") }]);
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ folds, phase1, phase2, chosen: { knn: bestKnn, refine: bestRefine, check } }, null, 1),
    );
  }
}
