import assert from "node:assert/strict";
import { loadGraph } from "../engine/graph.ts";
import { loadModelCard } from "../engine/model_card.ts";
import { modelsRoot } from "../cli/commands.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { cli } from "./_cli.ts";

const mb10 = 10_000_000;
const laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
for (let i = 1; i < 10; i++) {
  const name = String.fromCharCode(97 + i), previous = String.fromCharCode(96 + i);
  laughs.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(", ")}]`);
}

/** Pathological graph texts: [name, text, what the one-line message must match]. */
const cases: [string, () => string, RegExp][] = [
  [
    "10 MB of one long scalar",
    () => "name: " + "a".repeat(mb10),
    /graph file is 10\.0 MB; graph files are limited to 1 MiB$/,
  ],
  ["10 MB of many keys", () => keys(700_000), /graph file is \d+\.\d MB; graph files are limited to 1 MiB$/],
  [
    "10 MB of comments",
    () => "# comment\n".repeat(mb10 / 10),
    /graph file is 10\.0 MB; graph files are limited to 1 MiB$/,
  ],
  ["10 MB of nesting", () => "[".repeat(mb10), /graph file is 10\.0 MB; graph files are limited to 1 MiB$/],
  ["900 KB of many keys", () => keys(70_000), /:1:1: unknown key 'k0'/],
  ["900 KB of comments", () => "# comment\n".repeat(90_000) + "name: [", /:90001:7: invalid YAML: /],
  ["deep flow nesting", () => "name: x\nsource: " + "[".repeat(200_000), /:2:\d+: invalid YAML: nested too deeply$/],
  ["deep closed nesting", () => "name: " + "[".repeat(5_000) + "]".repeat(5_000), /:1:\d+: invalid YAML: nested /],
  [
    "deep block nesting",
    () => Array.from({ length: 1_000 }, (_, i) => " ".repeat(i) + "a:").join("\n"),
    /:\d+:\d+: invalid YAML: nested /,
  ],
  [
    "moderate nesting",
    () => "name: " + "[".repeat(100) + "]".repeat(100),
    /:1:\d+: invalid YAML: nested more than 64 levels deep$/,
  ],
  ["billion laughs", () => laughs.join("\n"), /:2:\d+: invalid YAML: aliases expand too much/],
];

function keys(count: number): string {
  return Array.from({ length: count }, (_, i) => `k${i}: ${i}`).join("\n") + "\n";
}

Deno.test("loadGraph: pathological graph files are rejected within seconds with one placed line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text, expected] of cases) {
      const file = `${dir}/g.yaml`;
      await Deno.writeTextFile(file, text());
      const started = performance.now();
      const error = await loadGraph(file, { registry: builtinRegistry(), modelsRoot }).then(
        () => new Error("accepted"),
        (e: Error) => e,
      );
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds < 5, `${name}: took ${seconds.toFixed(1)} s`);
      assert.ok(error.message.startsWith(file), `${name}: ${error.message.slice(0, 200)}`);
      assert.match(error.message, expected, `${name}: ${error.message.slice(0, 200)}`);
      assert.ok(!error.message.includes("\n"), `${name}: one line`);
      assert.ok(error.message.length < 300, `${name}: short`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadModelCard: an oversized card and a card alias bomb are rejected", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/big.yaml`, "name: " + "a".repeat(2 * 1024 * 1024));
    const big = await loadModelCard(`${dir}/big.yaml`).then(() => new Error("accepted"), (e: Error) => e);
    assert.equal(big.message, `${dir}/big.yaml: model card is 2.1 MB; model cards are limited to 1 MiB`);
    await Deno.writeTextFile(`${dir}/bomb.yaml`, laughs.join("\n"));
    const bomb = await loadModelCard(`${dir}/bomb.yaml`).then(() => new Error("accepted"), (e: Error) => e);
    assert.match(bomb.message, /bomb\.yaml:2:\d+: invalid YAML: aliases expand too much/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli check: a 10 MB graph and a deeply nested one are one 'error:' line each, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/big.yaml`, "name: " + "a".repeat(mb10));
    const big = await cli(["check", `${dir}/big.yaml`]);
    assert.equal(big.code, 1);
    assert.equal(big.stderr.trim(), `error: ${dir}/big.yaml: graph file is 10.0 MB; graph files are limited to 1 MiB`);
    await Deno.writeTextFile(`${dir}/deep.yaml`, "name: " + "[".repeat(500_000).slice(0, 1_000_000));
    const deep = await cli(["check", `${dir}/deep.yaml`]);
    assert.equal(deep.code, 1);
    assert.match(deep.stderr.trim(), /^error: .*deep\.yaml:1:\d+: invalid YAML: nested too deeply$/);
    const folder = await cli(["check", dir]);
    assert.equal(folder.code, 1);
    assert.equal(folder.stderr.trim().split("\n").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
