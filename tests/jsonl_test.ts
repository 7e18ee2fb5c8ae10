/**
 * The `jsonl` sink: one JSON line per frame with its index, timestamp, latency, stage times and scalar slots
 * (tensors as their type and shape), to a file or stdout.
 */
import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { withTempDir } from "./_helpers.ts";
import { runSinks } from "./_sinks.ts";

Deno.test("jsonl writes a line per frame: index, timestamp, latency, stage times, scalars and tensor shapes", async () => {
  await withTempDir(async (dir) => {
    const clip = { frames: 4, width: 4, height: 2, fps: 10 };
    await runSinks(
      [`{ kind: jsonl, path: "${dir}/frames.jsonl" }`],
      (index) => new Uint8Array(8).fill(index),
      clip,
      "  - { id: key, kind: decide, every: 3, out: { key: is_key } }\n",
    );
    const lines = (await Deno.readTextFile(`${dir}/frames.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.index, l.timestamp]), [[0, 0], [1, 0.1], [2, 0.2], [3, 0.3]]);
    assert.deepEqual(
      lines.map((l) => l.slots),
      Array.from({ length: 4 }, (_, index) => ({
        is_key: index % 3 === 0,
        labels: { type: "uint8", dims: [1, 2, 4] },
      })),
    );
    for (const line of lines) {
      assert.deepEqual(Object.keys(line.timings_ms).sort(), ["key", "labeller"]);
      assert.ok(typeof line.latency_ms === "number" && line.latency_ms >= 0, `latency ${line.latency_ms}`);
    }
  });
});

Deno.test("cli: a jsonl sink on stdout carries only data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/g.yaml`,
      `name: lines
model_set: testing
source: { kind: pattern, frames: 3, width: 32, height: 32 }
models: { seg: seg }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
sinks:
  - { kind: jsonl, path: "-" }
`,
    );
    const result = await cli(["run", `${dir}/g.yaml`]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.index), [0, 1, 2]);
    assert.deepEqual(lines[0].slots.labels, { type: "uint8", dims: [1, 32, 32] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
