/**
 * One test file per stage and sink kind, named after it: kind `merge-regions` is tested in
 * `tests/merge_regions_test.ts`, so a newcomer finds a stage's tests as they find the stage. The kinds come from
 * the registry (`stages/mod.ts`), so a kind registered without its test file fails here, naming the file to
 * write. Tests that span several stages or the engine keep their topic files; shared fixtures live in
 * `tests/_*.ts`, never in another test file.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { builtinRegistry } from "../stages/mod.ts";
import type { StageDefinition } from "../engine/stage.ts";
import { importGraph } from "./_import_graph.ts";
import { projectRoot } from "./_helpers.ts";

/** The test file of stage or sink kind `kind`, relative to the project root: `-` becomes `_`. */
function testFileOf(kind: string): string {
  return `tests/${kind.replaceAll("-", "_")}_test.ts`;
}

/** The registered stage and sink kinds (not the old names kept as aliases). */
const kinds = [...builtinRegistry().stages.values()];

/** The file under `stages/` that exports each registered definition, found by importing every stage file. */
async function stageFiles(): Promise<Map<StageDefinition, string>> {
  const files = new Map<StageDefinition, string>();
  for (const entry of Deno.readDirSync(join(projectRoot, "stages"))) {
    if (!/^[^_].*\.ts$/.test(entry.name) || entry.name === "mod.ts") continue;
    const module = await import(pathToFileURL(join(projectRoot, "stages", entry.name)).href);
    for (const value of Object.values(module)) {
      if (kinds.includes(value as StageDefinition)) files.set(value as StageDefinition, `stages/${entry.name}`);
    }
  }
  return files;
}

Deno.test("testFileOf names a kind's test file after it, '-' as '_'", () => {
  assert.equal(testFileOf("warp"), "tests/warp_test.ts");
  assert.equal(testFileOf("merge-regions"), "tests/merge_regions_test.ts");
});

Deno.test("every registered stage and sink kind has a test file named after it", () => {
  assert.ok(kinds.length >= 20, `only ${kinds.length} kinds registered`);
  const missing = kinds.filter((definition) => {
    try {
      return !Deno.statSync(join(projectRoot, testFileOf(definition.kind))).isFile;
    } catch {
      return true;
    }
  }).map((definition) => `${definition.role} '${definition.kind}': ${testFileOf(definition.kind)}`);
  assert.deepStrictEqual(missing, [], `write a test file for each kind (its own behaviour):\n${missing.join("\n")}`);
});

Deno.test("each kind's test file tests that kind: it runs 'kind: <kind>' in a graph or imports the stage's file", async () => {
  const files = await stageFiles();
  const graph = await importGraph(projectRoot);
  const untested = kinds.filter((definition) => {
    const file = testFileOf(definition.kind);
    const text = Deno.readTextFileSync(join(projectRoot, file));
    const runs = new RegExp(`\\bkind: ${definition.kind}\\b(?!-)`).test(text);
    return !(runs || graph.get(file)?.includes(files.get(definition)!)) || !/\bDeno\.test\(/.test(text);
  }).map((definition) => `${testFileOf(definition.kind)} (kind '${definition.kind}', ${files.get(definition)})`);
  assert.deepStrictEqual(untested, [], `these test files do not exercise their kind:\n${untested.join("\n")}`);
});

Deno.test("no test file imports another test file (shared fixtures go in tests/_*.ts)", async () => {
  const broken: string[] = [];
  for (const [from, imports] of await importGraph(projectRoot)) {
    for (const to of imports) if (to.startsWith("tests/") && to.endsWith("_test.ts")) broken.push(`${from} -> ${to}`);
  }
  assert.deepStrictEqual(broken, [], broken.join("\n"));
});
