import assert from "node:assert/strict";
import { parseCli } from "../cli/args.ts";
import { UsageError } from "../engine/errors.ts";
import { checkExecutionFlag, checkExecutionFlags, executionSchema, providerChoices } from "../engine/execution.ts";
import { loadGraphText, type LoadOptions } from "../engine/graph.ts";
import { paramDefaults } from "../engine/params.ts";
import { runGraph } from "../engine/run.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { modelsRoot } from "./_helpers.ts";

const graph = (execution = "") => `name: t\nsource: { kind: pattern, frames: 2 }\n${execution}stages: []\n`;

function load(text: string, options: Partial<LoadOptions> = {}) {
  return loadGraphText("test.yaml", text, { registry: builtinRegistry(), modelsRoot, ...options });
}

async function errorOf(text: string, options: Partial<LoadOptions> = {}): Promise<Error> {
  const error = await load(text, options).then(() => undefined, (e: Error) => e);
  assert.ok(error, "expected the graph to be rejected");
  return error;
}

Deno.test("checkExecutionFlag: flag text is checked against executionSchema, naming the flag", () => {
  assert.equal(checkExecutionFlag("workers", "3"), 3);
  assert.equal(checkExecutionFlag("max_in_flight", 8), 8);
  assert.equal(checkExecutionFlag("ep", "cuda!"), "cuda!");
  const cases: [Parameters<typeof checkExecutionFlag>[0], unknown, string][] = [
    ["workers", "100", "'--workers' must be at most 64, got 100"],
    ["workers", "1.5", "'--workers' must be an integer, got 1.5"],
    ["max_in_flight", "0", "'--max-in-flight' must be at least 1, got 0"],
    ["max_in_flight", "many", `'--max-in-flight' must be an integer, got "many"`],
    [
      "ep",
      "tpu",
      `'--ep' must be one of ${providerChoices.map((c) => `'${c}'`).join(", ")}, got "tpu" (did you mean 'cpu'?)`,
    ],
    [
      "overflow",
      "drop",
      `'execution.overflow' must be one of 'block', 'drop_oldest', 'keep_latest', 'fail', got "drop"`,
    ],
  ];
  for (const [key, value, message] of cases) {
    assert.throws(() => checkExecutionFlag(key, value), (error: Error) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      return true;
    });
  }
  assert.throws(
    () => checkExecutionFlags({ wrkers: 2 }),
    (error: Error) => error.message === "unknown execution setting 'wrkers' (did you mean 'workers'?)",
  );
});

Deno.test("execution: ep's values come from the schema: every provider, with or without '!'", () => {
  assert.deepEqual(executionSchema.ep.oneOf, ["cpu", "cuda", "webgpu", "cpu!", "cuda!", "webgpu!"]);
  assert.equal(paramDefaults(executionSchema).ep, "cpu");
});

Deno.test("parseCli: --ep, --max-in-flight and --workers are checked by the execution schema", () => {
  const base = ["run", "graphs/per-frame.yaml"];
  const parsed = parseCli([...base, "--ep", "webgpu!", "--max-in-flight", "16", "--workers", "2"]);
  assert.equal(parsed.ep, "webgpu!");
  assert.equal(parsed.maxInFlight, 16);
  assert.equal(parsed.workers, 2);
  assert.throws(() => parseCli([...base, "--workers", "65"]), /^UsageError: '--workers' must be at most 64, got 65$/);
  assert.throws(
    () => parseCli([...base, "--max-in-flight", "2000"]),
    /^UsageError: '--max-in-flight' must be at most 1024, got 2000$/,
  );
  assert.throws(() => parseCli([...base, "--ep", "gpu"]), /^UsageError: '--ep' must be one of .*, got "gpu"/);
});

Deno.test("loadGraph: execution settings from the file, --set and flags are validated alike; flags win", async () => {
  const loaded = await load(graph("execution: { ep: cpu, workers: 2, overflow: keep_latest }\n"), {
    execution: { ep: "cuda", max_in_flight: "6" },
  });
  assert.deepEqual(loaded.execution, {
    max_in_flight: 6,
    overflow: "keep_latest",
    realtime: false,
    workers: 2,
    ep: "cuda",
    resident_tensors: true,
  });
  const file = await errorOf(graph("execution:\n  overflow: drop_olde\n"));
  assert.equal(
    file.message,
    "test.yaml:4:13: execution: 'overflow' must be one of 'block', 'drop_oldest', 'keep_latest', 'fail', " +
      `got "drop_olde" (did you mean 'drop_oldest'?)`,
  );
  const set = await errorOf(graph(), { overrides: ["execution.realtime=yes please"] });
  assert.ok(set instanceof UsageError);
  assert.equal(
    set.message,
    `--set execution.realtime=yes please: execution: 'realtime' must be true or false, got "yes please"`,
  );
  const flag = await errorOf(graph(), { execution: { workers: 0 } });
  assert.ok(flag instanceof UsageError);
  assert.equal(flag.message, "'--workers' must be at least 1, got 0");
  const unknown = await errorOf(graph("execution:\n  wrkers: 2\n"));
  assert.equal(unknown.message, "test.yaml:4:3: execution: unknown parameter 'wrkers' (did you mean 'workers'?)");
});

Deno.test("execution.realtime_fps paces the source at that rate, whatever its timestamps", async () => {
  // A pattern source stamps frames at its own rate; 20 fps makes five frames take at least 4 intervals (200 ms).
  const paced = await load(
    "name: t\nsource: { kind: pattern, frames: 5 }\nexecution: { realtime_fps: 20 }\nstages: []\n",
  );
  const started = performance.now();
  const report = await runGraph(paced, { quiet: true });
  assert.equal(report.frames, 5);
  assert.ok(performance.now() - started >= 195, "five frames at 20 fps span 200 ms");
  const bad = await errorOf(graph(), { overrides: ["execution.realtime_fps=0"] });
  assert.match(bad.message, /'realtime_fps' must be at least 0.001, got 0/);
});
