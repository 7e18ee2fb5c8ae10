/**
 * What `deno task eval` runs: every graph, and for each `--sweep stage.param=v1,v2,...` one variant per value
 * of every graph that sets that parameter on that stage (the others run once, unswept).
 *
 * @module
 */
import { UsageError } from "../engine/errors.ts";

/** One run of the evaluation: a graph file and the overrides that make the variant. */
export interface Variant {
  /** Shown in tables and charts: the graph's file stem, plus the swept setting. */
  label: string;
  graph: string;
  overrides: string[];
  /** The swept setting (`decide.every=5`), if any. */
  sweep?: string;
}

/** A parsed `--sweep stage.param=v1,v2`. */
export interface Sweep {
  stage: string;
  param: string;
  values: string[];
}

/**
 * Parses `--sweep` values.
 *
 * @throws {UsageError} naming the flag when one is malformed.
 */
export function parseSweeps(flags: readonly string[]): Sweep[] {
  return flags.map((flag) => {
    const match = flag.match(/^([A-Za-z][\w-]*)\.([A-Za-z_]\w*)=(.+)$/);
    if (!match) throw new UsageError(`--sweep '${flag}': expected stage.param=v1,v2,...`);
    const values = match[3]!.split(",").map((v) => v.trim()).filter((v) => v !== "");
    if (values.length === 0) throw new UsageError(`--sweep '${flag}': no values`);
    return { stage: match[1]!, param: match[2]!, values };
  });
}

/** The file stem of a graph path: `graphs/dff.yaml` -> `dff`. */
export function graphStem(path: string): string {
  return path.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
}

/**
 * Expands graphs and sweeps into variants. `settable(graph)` lists the graph's `stage.param` names a sweep
 * may change; a sweep applies only where its `stage.param` is among them.
 *
 * @throws {UsageError} for a sweep that applies to none of the graphs (it would silently change nothing).
 */
export function expandVariants(
  graphs: readonly string[],
  sweeps: readonly Sweep[],
  settable: (graph: string) => ReadonlySet<string>,
): Variant[] {
  for (const sweep of sweeps) {
    const name = `${sweep.stage}.${sweep.param}`;
    if (!graphs.some((graph) => settable(graph).has(name))) {
      throw new UsageError(
        `--sweep ${name}=...: no graph given sets '${sweep.param}' on a stage '${sweep.stage}' in its file (a sweep varies a parameter the graph file sets)`,
      );
    }
  }
  const variants: Variant[] = [];
  for (const graph of graphs) {
    const stem = graphStem(graph);
    const applicable = sweeps.filter((s) => settable(graph).has(`${s.stage}.${s.param}`));
    if (applicable.length === 0) {
      variants.push({ label: stem, graph, overrides: [] });
      continue;
    }
    for (const sweep of applicable) {
      for (const value of sweep.values) {
        const setting = `${sweep.stage}.${sweep.param}=${value}`;
        variants.push({ label: `${stem} ${setting}`, graph, overrides: [setting], sweep: setting });
      }
    }
  }
  return variants;
}
