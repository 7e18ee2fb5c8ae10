import assert from "node:assert/strict";
import { loadGraph } from "../engine/graph.ts";
import { loadModelCard } from "../engine/model_card.ts";
import { modelsRoot } from "../cli/commands.ts";
import { builtinRegistry } from "../stages/mod.ts";

/** Syntax errors at known places: [name, text, expected line, expected column or undefined]. */
const syntaxCases: [string, string, number, number | undefined][] = [
  ["bad indentation", "name: x\nsource:\n  kind: pattern\n   width: 3\n", 4, 4],
  ["unclosed flow list", "name: x\nstages: [a, b\nsinks: []\n", 2, 9],
  ["unclosed flow map", "name: x\n\nsource: {kind: pattern\nsinks: []\n", 3, 9],
  ["duplicate key", "name: x\nsource: {kind: pattern}\nname: y\n", 3, 1],
  ["duplicate nested key", "name: x\nsource:\n  kind: pattern\n  kind: fake\n", 4, 3],
  ["tab indentation", "name: x\nsource:\n\tkind: pattern\n", 3, 1],
  ["unterminated double quote", 'name: x\ndescription: "abc\nsinks: []\n', 2, 14],
  ["unterminated single quote", "name: x\n\ndescription: 'abc\n", 3, 14],
  ["missing colon after a key", "name: x\nsource\nstages: []\n", 2, 1],
  ["unknown alias", "name: x\n\nsource: *nope\n", 3, 9],
  ["mapping as a key", "name: x\n{a: 1}: 2\n", 2, 1],
  ["two documents", "name: x\n---\nname: y\n", 2, 1],
  ["stray closing bracket", "name: x\nsource: ]\n", 2, 9],
  ["bad escape", 'name: x\ndescription: "a\\qb"\n', 2, 16],
];

async function errorOf(load: () => Promise<unknown>): Promise<Error> {
  try {
    await load();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

Deno.test("YamlSource: syntax errors in graphs report the real line and column", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text, line, column] of syntaxCases) {
      const file = `${dir}/g.yaml`;
      await Deno.writeTextFile(file, text);
      const error = await errorOf(() => loadGraph(file, { registry: builtinRegistry(), modelsRoot }));
      const match = /^(.*):(\d+):(\d+): invalid YAML: (.+)$/.exec(error.message);
      assert.ok(match, `${name}: ${error.message}`);
      assert.equal(match[1], file, name);
      assert.equal(Number(match[2]), line, `${name}: ${error.message}`);
      if (column !== undefined) assert.equal(Number(match[3]), column, `${name}: ${error.message}`);
      assert.ok(!error.message.includes("\n"), `${name}: one line`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadModelCard: syntax errors in cards go through the same path and report the real line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text, line, column] of syntaxCases) {
      const file = `${dir}/card.yaml`;
      await Deno.writeTextFile(file, text.replace("source", "inputs"));
      const error = await errorOf(() => loadModelCard(file));
      const match = /^(.*):(\d+):(\d+): invalid YAML: (.+)$/.exec(error.message);
      assert.ok(match, `${name}: ${error.message}`);
      assert.equal(Number(match[2]), line, `${name}: ${error.message}`);
      if (column !== undefined) assert.equal(Number(match[3]), column, `${name}: ${error.message}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
