/**
 * Writing an evaluation: `results.json` (everything but pictures), `results.csv` and `results.md` (one row per
 * variant, see `table.ts`), and `index.html` (see `html.ts`).
 *
 * @module
 */
import { join } from "node:path";
import type { EvalResult } from "./run_eval.ts";
import { reportHtml } from "./html.ts";
import { resultsCsv, resultsJson, resultsMarkdown } from "./table.ts";
import { writeTextFileAtomic } from "../engine/atomic_write.ts";

/** Writes the four report files into `dir` and returns their paths. */
export async function writeReport(
  dir: string,
  results: readonly EvalResult[],
  context: { input: string; models: string; date: string; machine: string; command: string },
): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ["results.json", resultsJson(results, context)],
    ["results.csv", resultsCsv(results)],
    ["results.md", resultsMarkdown(results)],
    ["index.html", await reportHtml(results, context)],
  ];
  for (const [name, text] of files) await writeTextFileAtomic(join(dir, name), text);
  return files.map(([name]) => join(dir, name));
}
