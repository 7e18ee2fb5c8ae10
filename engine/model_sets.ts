/**
 * Choosing the model set a graph runs with, so that real frames never meet synthetic-world models silently.
 * Each set folder under `models/` has a `set.yaml` with its `domain`: `synthetic` (trained on Segflow's
 * synthetic world), `real` (trained on real footage, e.g. CamVid) or `testing` (hand-built). A graph's
 * `model_set: auto` (the default) picks `synthetic` for synthetic frames (the `synthetic` source, or a folder
 * written by `deno task synth`) and otherwise the first real-world set that has every model the graph names.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";

/** What a model set was trained on. */
export type SetDomain = "synthetic" | "real" | "testing";

/** The set a graph runs with and why, for the summary and the stats. */
export interface ModelSetChoice {
  name: string;
  /** One line: how the set was chosen. */
  reason: string;
  /** A warning to print before the run (synthetic models on real frames), if any. */
  warning?: string;
}

/** The set name that asks for {@linkcode chooseModelSet}'s rule. */
export const autoModelSet = "auto";

/** The source parameters that name a file or folder (the others are settings). */
const sourcePathParams = ["path", "dir", "root"];

/** First line of the README that `deno task synth` writes into its output folder. */
export const syntheticFolderMarker = "# Segflow synthetic world";

/** Reads `models/<set>/set.yaml`'s domain; undefined when the set has none or does not exist. */
export async function setDomain(modelsRoot: string, set: string): Promise<SetDomain | undefined> {
  try {
    const meta = parseYaml(await Deno.readTextFile(join(modelsRoot, set, "set.yaml"))) as { domain?: unknown };
    const domain = meta?.domain;
    return domain === "synthetic" || domain === "real" || domain === "testing" ? domain : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when frames from this source are the synthetic world's: the `synthetic` source kind, or a path inside
 * a folder that `deno task synth` wrote (its README, in the folder or up to three levels above).
 */
export async function isSyntheticSource(kind: string, params: Record<string, unknown>): Promise<boolean> {
  if (kind === "synthetic") return true;
  for (const name of sourcePathParams) {
    const value = params[name];
    if (typeof value !== "string" || value === "-" || value === "") continue;
    let dir = resolve(value);
    for (let level = 0; level < 4; level++) {
      try {
        const text = await Deno.readTextFile(join(dir, "README.md"));
        if (text.startsWith(syntheticFolderMarker)) return true;
      } catch {
        // No README here: look one folder up.
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return false;
}

/** The cards of `cards` that set `set` lacks. */
async function missingCards(modelsRoot: string, set: string, cards: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const card of cards) {
    const found = await Deno.stat(join(modelsRoot, set, `${card}.yaml`)).then(() => true, () => false);
    if (!found) missing.push(card);
  }
  return missing;
}

/**
 * Resolves `requested` (a set name or `auto`) for a graph whose models are `cards` (bare card names) and
 * whose frames come from source `kind` with `params`.
 */
export async function chooseModelSet(options: {
  modelsRoot: string;
  requested: string;
  /** Where `requested` came from, for messages: `--models` or the graph's `model_set`. */
  from: string;
  cards: string[];
  sourceKind: string;
  sourceParams: Record<string, unknown>;
}): Promise<ModelSetChoice> {
  const { modelsRoot, requested, cards } = options;
  const synthetic = await isSyntheticSource(options.sourceKind, options.sourceParams);
  if (requested !== autoModelSet) {
    const choice: ModelSetChoice = { name: requested, reason: `set by ${options.from}` };
    if (!synthetic && await setDomain(modelsRoot, requested) === "synthetic") {
      choice.warning = `model set '${requested}' was trained on the synthetic world only, and these frames are ` +
        `real; expect poor results (--models auto picks a real-world set)`;
    }
    return choice;
  }
  if (synthetic) return { name: "synthetic", reason: "auto: synthetic frames" };
  const sets: string[] = [];
  try {
    for await (const entry of Deno.readDir(modelsRoot)) {
      if (entry.isDirectory && await setDomain(modelsRoot, entry.name) === "real") sets.push(entry.name);
    }
  } catch {
    // No models folder: no real-world set (graphs that name no models still run).
  }
  sets.sort();
  const lacking: string[] = [];
  for (const set of sets) {
    const missing = await missingCards(modelsRoot, set, cards);
    if (missing.length === 0) return { name: set, reason: "auto: real frames" };
    lacking.push(`${set} has no ${missing.map((card) => `'${card}'`).join(", ")}`);
  }
  const missing = lacking.length ? ` (${lacking.join("; ")})` : "";
  return {
    name: "synthetic",
    reason: "auto: no real-world set has this graph's models",
    warning: `no real-world model set has every model of this graph${missing}; running the synthetic-world ` +
      `set on real frames, expect poor results`,
  };
}
