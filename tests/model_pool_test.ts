import assert from "node:assert/strict";
import { ModelPool } from "../engine/model_pool.ts";
import { parseProvider } from "../engine/providers.ts";
import { buildConvnet } from "../models/testing/build.ts";

Deno.test("parseProvider accepts cpu, cuda, webgpu and a '!' suffix; rejects others", () => {
  assert.deepEqual(parseProvider("cuda!"), { provider: "cuda", required: true });
  assert.deepEqual(parseProvider("webgpu"), { provider: "webgpu", required: false });
  assert.throws(
    () => parseProvider("tpu"),
    /--ep 'tpu': unknown execution provider \(expected cpu, cuda or webgpu, optionally with !\)/,
  );
});

Deno.test("ModelPool falls back to CPU with one warning when CUDA is missing, and fails for 'cuda!'", async () => {
  const warnings: string[] = [];
  const pool = await ModelPool.start({ workers: 1, provider: parseProvider("cuda"), warn: (m) => warnings.push(m) });
  try {
    if (pool.provider === "cuda") return; // a machine with CUDA: nothing to fall back from
    assert.equal(pool.provider, "cpu");
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /execution provider 'cuda' is not available .*CUDA 12 provider libraries.*Running on CPU\.$/,
    );
  } finally {
    await pool.close();
  }
  if (warnings.length) {
    await assert.rejects(
      () => ModelPool.start({ workers: 1, provider: parseProvider("cuda!") }),
      /execution provider 'cuda' is not available/,
    );
  }
});

// The property: a model call does not block the main thread for the length of the inference. The gap is compared
// with one inference's duration (a model run on the main thread would give gaps >= that), not with a fixed number of
// milliseconds, and onnxruntime gets one thread so a loaded 2-core machine leaves the main thread a core.
Deno.test("ModelPool: the main thread stays responsive (timer gaps well under one inference) while a model runs in a worker", async () => {
  const pool = await ModelPool.start({ workers: 1, threads: 1, provider: parseProvider("cpu") });
  try {
    await pool.load("convnet", buildConvnet());
    const image = { type: "uint8" as const, dims: [1, 1080, 1920, 3], data: new Uint8Array(1080 * 1920 * 3).fill(90) };
    let last = performance.now();
    let worstGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
    }, 2);
    const runs: number[] = [];
    const started = performance.now();
    while (performance.now() - started < 1500) {
      const result = await pool.run("convnet", { image }, ["scores"]);
      runs.push(result.runMs);
    }
    clearInterval(timer);
    const shortestRun = Math.min(...runs);
    assert.ok(runs.length >= 3, `the model ran ${runs.length} times`);
    assert.ok(
      worstGap < shortestRun / 2,
      `worst timer gap ${worstGap.toFixed(1)} ms vs ${shortestRun.toFixed(1)} ms per inference`,
    );
  } finally {
    await pool.close();
  }
});
