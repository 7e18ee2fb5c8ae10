import assert from "node:assert/strict";
import { cli } from "./_cli.ts";

Deno.test("cli run: writes labels, --stats with the contract's fields and a --trace Perfetto can read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const result = await cli([
      "run",
      "graphs/per-frame.yaml",
      "--frames",
      "8",
      "--output",
      `${dir}/labels`,
      "--stats",
      `${dir}/stats.json`,
      "--trace",
      `${dir}/trace.json`,
      "--set",
      "source.width=96",
      "--set",
      "source.height=64",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /per-frame: 8 frames in/);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/stats.json`));
    for (const key of ["graph", "frames", "dropped", "seconds", "fps", "latency_ms", "max_in_flight", "stages"]) {
      assert.ok(key in stats, `stats has '${key}'`);
    }
    assert.equal(stats.frames, 8);
    assert.equal(stats.stages.segment.calls, 8);
    assert.ok(stats.latency_ms.p99 >= stats.latency_ms.p50);
    const trace = JSON.parse(await Deno.readTextFile(`${dir}/trace.json`));
    assert.ok(trace.some((e: { cat?: string; ph: string }) => e.cat === "model" && e.ph === "X"));
    assert.ok(trace.some((e: { cat?: string }) => e.cat === "frame"));
    const files = [...Deno.readDirSync(`${dir}/labels`)].map((e) => e.name).sort();
    assert.equal(files.length, 8);
    assert.equal(files[0], "synth016_00000.png");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a broken graph prints one 'error:' line with file:line:column and exits 1; --debug adds the stack", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.yaml`, "source: { kind: pattern }\nstages:\n  - { id: a, kind: warpp }\n");
    const result = await cli(["check", `${dir}/bad.yaml`]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim().split("\n").length, 1);
    assert.match(result.stderr, /^error: .*bad\.yaml:3:20: unknown stage kind 'warpp'/);
    const debug = await cli(["check", `${dir}/bad.yaml`, "--debug"]);
    assert.equal(debug.code, 1);
    assert.ok(debug.stderr.trim().split("\n").length > 1, "a stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: check validates, describe --dot prints Graphviz, bad flags are one-line errors", async () => {
  const check = await cli(["check", "graphs/per-frame.yaml"]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /^ok: graphs\/per-frame\.yaml/);
  const dot = await cli(["describe", "graphs/per-frame.yaml", "--dot"]);
  assert.equal(dot.code, 0, dot.stderr);
  assert.match(dot.stdout, /^digraph "per-frame" \{/);
  assert.match(dot.stdout, /"source" -> "segment" \[label="image"\]/);
  const flag = await cli(["run", "graphs/per-frame.yaml", "--frames", "zero"]);
  assert.equal(flag.code, 1);
  assert.equal(flag.stderr.trim(), "error: '--frames' must be a positive integer, got 'zero'");
  const input = await cli(["run", "graphs/per-frame.yaml", "--input", "/nonexistent/thing.xyz"]);
  assert.equal(input.code, 1);
  assert.equal(input.stderr.trim(), "error: --input '/nonexistent/thing.xyz': no such file or folder");
});

Deno.test("cli: --ep cuda falls back to CPU with one warning; --ep cuda! fails with a clear error", async () => {
  const args = [
    "run",
    "graphs/per-frame.yaml",
    "--frames",
    "2",
    "--quiet",
    "--set",
    "source.width=32",
    "--set",
    "source.height=32",
    "--output",
    "/tmp/segflow-cli-ep",
  ];
  const soft = await cli([...args, "--ep", "cuda"]);
  assert.equal(soft.code, 0, soft.stderr);
  const warnings = soft.stderr.trim().split("\n").filter((l) => l.startsWith("warning:"));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /execution provider 'cuda' is not available/);
  const hard = await cli([...args, "--ep", "cuda!"]);
  assert.equal(hard.code, 1);
  assert.match(hard.stderr.trim(), /^error: execution provider 'cuda' is not available \(.*\); install the CUDA 12/);
  await Deno.remove("/tmp/segflow-cli-ep", { recursive: true }).catch(() => {});
});
