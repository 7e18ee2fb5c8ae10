/**
 * Dependencies point one way: `main.ts -> cli -> eval -> stages -> datasets -> engine`. These tests read the
 * import graph of every `.ts` file (see `_import_graph.ts`) and check the layering, so that a wrong import fails
 * here, naming the file, rather than in review.
 *
 * @module
 */
import assert from "node:assert/strict";
import { findCycle, importGraph, importSpecifiers } from "./_import_graph.ts";
import { projectRoot } from "./_helpers.ts";

/**
 * What each part of the project may import, besides `npm:`/`node:` dependencies. A part is a top-level folder,
 * `eval/metrics` (a leaf: the `score` stage uses it, so it may not reach back into eval or stages), or `main.ts`.
 * `"*"`: anything (tests and benchmarks exercise every layer). A new top-level folder must be added here.
 */
const mayImport: Record<string, readonly string[] | "*"> = {
  "main.ts": ["cli", "stages", "engine"],
  "cli": ["cli", "eval", "stages", "datasets", "engine"],
  "eval": ["eval", "eval/metrics", "stages", "datasets", "engine"],
  "stages": ["stages", "eval/metrics", "datasets", "engine"],
  "datasets": ["datasets", "engine"],
  "eval/metrics": ["eval/metrics"],
  "engine": ["engine"],
  // model tooling: cuts checked with the label head, flow EPE, PML's parameters cross-validated with the DAVIS scorer
  "models": ["models", "eval", "eval/metrics", "stages", "datasets", "engine"],
  "tools": ["tools", "eval", "stages", "datasets", "engine"], // stages: shared helpers (the DAVIS palette)
  // the JetStream publisher, workers and collector: commands over the engine and the built-in kinds
  "scaleout": ["scaleout", "stages", "datasets", "engine"],
  "tests": "*",
  "bench": "*",
};

/** The part of the project a file belongs to (see {@linkcode mayImport}). */
function partOf(file: string): string {
  if (file.startsWith("eval/metrics/")) return "eval/metrics";
  return file.includes("/") ? file.slice(0, file.indexOf("/")) : file;
}

/** `stages/warp.ts` is a stage file; `stages/_render.ts` (a shared helper) and `stages/mod.ts` are not. */
function isStageFile(file: string): boolean {
  return /^stages\/[^_/][^/]*\.ts$/.test(file) && file !== "stages/mod.ts";
}

let graph: Promise<Map<string, string[]>> | undefined;
/** The project's import graph, read once for all the tests here. */
function projectGraph(): Promise<Map<string, string[]>> {
  return graph ??= importGraph(projectRoot);
}

/** Every `from -> to` edge whose `to` breaks `rule`, one per line. */
async function edgesWhere(rule: (from: string, to: string) => boolean): Promise<string> {
  const broken: string[] = [];
  for (const [from, imports] of await projectGraph()) {
    for (const to of imports) if (rule(from, to)) broken.push(`${from} -> ${to}`);
  }
  return broken.join("\n");
}

Deno.test("importSpecifiers finds static, type, re-export, dynamic and worker imports, not ones in comments", () => {
  const text = [
    "/** @example",
    ' * import { hidden } from "./in_doc_comment.ts";',
    " */",
    'import { a,\n  type B } from "./a.ts";',
    'import type { C } from "../c.ts";',
    'import * as d from "./d.ts";',
    'import e, { f } from "./e.ts";',
    'import "./side_effect.ts";',
    'export * from "./g.ts";',
    'export { h } from "./h.ts";',
    '// import { commented } from "./commented.ts";',
    'const url = "https://example.com/x"; // a string with // is not a comment',
    'const i = await import("./i.ts");',
    'let j: import("./j.ts").J;',
    'new Worker(new URL("./k.ts", import.meta.url), { type: "module" });',
    'import { parse } from "yaml";',
    'export const notAnImport = "./l.ts";',
    "const looksLikeOne = 'import(\"./m.ts\")';",
  ].join("\n");
  assert.deepStrictEqual(importSpecifiers(text), [
    "./a.ts",
    "../c.ts",
    "./d.ts",
    "./e.ts",
    "./side_effect.ts",
    "./g.ts",
    "./h.ts",
    "./i.ts",
    "./j.ts",
    "./k.ts",
    "yaml",
  ]);
});

Deno.test("findCycle names the files along a cycle and finds none in a chain", () => {
  assert.deepStrictEqual(findCycle(new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]]])), [
    "a.ts",
    "b.ts",
    "c.ts",
    "a.ts",
  ]);
  assert.deepStrictEqual(findCycle(new Map([["a.ts", ["b.ts", "c.ts"]], ["b.ts", ["c.ts"]], ["c.ts", []]])), undefined);
});

Deno.test("importGraph reads the whole project, worker modules included", async () => {
  const graph = await projectGraph();
  assert(graph.size > 100, `only ${graph.size} .ts files found under ${projectRoot}`);
  assert(graph.get("main.ts")?.includes("stages/mod.ts"), "main.ts -> stages/mod.ts is missing");
  assert(graph.get("engine/model_pool.ts")?.includes("engine/model_worker.ts"), "the worker module is missing");
  assert(![...graph.keys()].some((file) => file.startsWith("node_modules/") || file.startsWith("out/")));
});

Deno.test("the project's imports have no cycles", async () => {
  const cycle = findCycle(await projectGraph());
  assert.deepStrictEqual(cycle, undefined, `import cycle: ${cycle?.join(" -> ")}`);
});

Deno.test("engine/ imports nothing from stages/, datasets/, eval/, cli/, tools/, bench/, tests/ or main.ts", async () => {
  const broken = await edgesWhere((from, to) => from.startsWith("engine/") && !to.startsWith("engine/"));
  assert.deepStrictEqual(broken, "", `the engine must not depend on what is built on it:\n${broken}`);
});

Deno.test("each part of the project imports only the parts its row of mayImport names", async () => {
  const unknown = [...new Set([...(await projectGraph()).keys()].map(partOf))].filter((part) => !(part in mayImport));
  assert.deepStrictEqual(unknown, [], "a new part of the project: add it to mayImport in tests/import_rules_test.ts");
  const broken = await edgesWhere((from, to) => {
    const allowed = mayImport[partOf(from)]!;
    return allowed !== "*" && !allowed.includes(partOf(to));
  });
  assert.deepStrictEqual(
    broken,
    "",
    `imports against the layering (main.ts -> cli -> eval -> stages -> datasets -> engine):\n${broken}`,
  );
});

Deno.test("no stage file imports another stage file (shared code goes in stages/_*.ts)", async () => {
  // Helpers may not import stage files either: that would be one stage importing another through a helper.
  const broken = await edgesWhere((from, to) =>
    from.startsWith("stages/") && from !== "stages/mod.ts" && isStageFile(to) && to !== from
  );
  assert.deepStrictEqual(broken, "", `stages talk through the frame record and the registry, not imports:\n${broken}`);
});

Deno.test("eval/ takes from stages/ only the shared helpers (stages/_*.ts)", async () => {
  const broken = await edgesWhere((from, to) =>
    from.startsWith("eval/") && to.startsWith("stages/") && !/^stages\/_[^/]*\.ts$/.test(to)
  );
  assert.deepStrictEqual(broken, "", `eval/ gets stages through the registry it is given:\n${broken}`);
});
