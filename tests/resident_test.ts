/**
 * Tensors that stay in the model workers (issue 14 item 2): the pool's handles, which slots a graph keeps
 * resident, their lifetimes (freed when the frame's credit returns; stage state held until replaced), and that
 * DFF and Accel give today's labels while copying only the current frame in and the labels out.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ModelPool } from "../engine/model_pool.ts";
import { parseProvider } from "../engine/providers.ts";
import { type LoadedGraph, loadGraph } from "../engine/graph.ts";
import type { Frame } from "../engine/frame.ts";
import { type ResidentProbe, runGraph } from "../engine/run.ts";
import { residentSlots } from "../engine/resident.ts";
import { isHandle, type Tensor, TensorHandle } from "../engine/tensor.ts";
import { writeSyntheticDataset } from "../datasets/synthetic/write.ts";
import { modelsRoot, scaleModel, testingSetOverrides, testSetup } from "./_helpers.ts";

const cpu = parseProvider("cpu");

Deno.test("ModelPool: kept outputs stay in the worker as handles, feed later runs in place, and are freed", async () => {
  const pool = await ModelPool.start({ workers: 1, provider: cpu });
  try {
    await pool.load("net", scaleModel(2));
    const image: Tensor = { type: "float32", dims: [1, 3, 8, 8], data: new Float32Array(192).fill(0.5) };
    const host = await pool.run("net", { x: image }, ["y"]);
    const kept = await pool.run("net", { x: image }, ["y"], { keep: { y: {} } });
    const handle = kept.outputs.y!;
    assert.ok(isHandle(handle));
    assert.deepEqual(handle.dims, (host.outputs.y as Tensor).dims);
    assert.equal(kept.bytesFromWorker, 0, "a kept output sends nothing back");
    assert.deepEqual(await pool.resident(), [{ count: 1, bytes: handle.bytes }]);
    // Fetching copies the data back; it stays resident.
    const fetched = await pool.fetch(handle);
    assert.deepEqual([...fetched.data], [...(host.outputs.y as Tensor).data]);
    // A handle as a feed goes by id: no bytes for it.
    await pool.load("net4", scaleModel(3));
    const fromHandle = await pool.run("net4", { x: handle }, ["y"]);
    const fromHost = await pool.run("net4", { x: host.outputs.y as Tensor }, ["y"]);
    assert.equal(fromHandle.bytesToWorker, 0);
    assert.deepEqual([...(fromHandle.outputs.y as Tensor).data], [...(fromHost.outputs.y as Tensor).data]);
    // Cropped in the worker to a [rows, cols] grid.
    const cropped = await pool.run("net", { x: image }, ["y"], { keep: { y: { crop: [5, 6] } } });
    assert.deepEqual(cropped.outputs.y!.dims, [1, 3, 5, 6]);
    assert.deepEqual([...(await pool.fetch(cropped.outputs.y as TensorHandle)).data], new Array(90).fill(1));
    pool.free([handle, cropped.outputs.y as TensorHandle]);
    assert.deepEqual(await pool.resident(), [{ count: 0, bytes: 0 }]);
  } finally {
    await pool.close();
  }
});

Deno.test("ModelPool: a handle on another worker is copied through the main thread, and counted", async () => {
  const pool = await ModelPool.start({ workers: 2, provider: cpu, threads: 1 });
  try {
    await pool.load("net", scaleModel(2));
    const image: Tensor = { type: "float32", dims: [1, 3, 8, 8], data: new Float32Array(192).fill(0.25) };
    // Streams are pinned: the same stream always gets the same worker.
    const a = pool.workerOf("a");
    assert.equal(pool.workerOf("a"), a);
    const kept = await pool.run("net", { x: image }, ["y"], { keep: { y: {} }, stream: "a" });
    const handle = kept.outputs.y as TensorHandle;
    assert.equal(handle.worker, a);
    const same = await pool.run("net", { x: handle }, ["y"], { stream: "a" });
    assert.equal(same.crossCopies, 0);
    assert.equal(same.worker, a);
    // Two handles on different workers: the smaller one crosses.
    const other = await pool.put(image, { worker: 1 - a });
    await pool.load("sum", scaleModel(5));
    const crossed = await pool.run("net", { x: other }, ["y"], { stream: "a" });
    assert.equal(crossed.worker, 1 - a, "feeds' worker wins over the stream's when only they hold the data");
    assert.equal(crossed.crossCopies, 0);
    const copied = await pool.runChain([{ key: "net", feeds: { x: handle }, fetches: ["y"] }], {
      stream: "a",
    });
    assert.equal(copied.crossCopies, 0);
    const mixed = await pool.runChain([
      { key: "net", feeds: { x: handle }, fetches: ["y"] },
      { key: "sum", feeds: { x: other }, fetches: ["y"] },
    ], { stream: "a" });
    assert.equal(mixed.worker, a);
    assert.equal(mixed.crossCopies, 1);
    assert.equal(mixed.calls, 2, "the fetch is a worker call of its own");
    assert.ok(mixed.bytesFromWorker >= other.bytes && mixed.bytesToWorker >= other.bytes);
  } finally {
    await pool.close();
  }
});

Deno.test("ModelPool: a run kept off a stream's worker (a pipelined stage) goes elsewhere, copying its feeds", async () => {
  const pool = await ModelPool.start({ workers: 3, provider: cpu, threads: 1 });
  try {
    await pool.load("net", scaleModel(2));
    const image: Tensor = { type: "float32", dims: [1, 3, 8, 8], data: new Float32Array(192).fill(0.5) };
    const home = pool.workerOf("a");
    const kept = await pool.run("net", { x: image }, ["y"], { keep: { y: {} }, stream: "a" });
    const handle = kept.outputs.y as TensorHandle;
    assert.equal(handle.worker, home);
    // Without awayFrom the feed's worker wins (no copy); with it, another worker runs it on a copy.
    assert.equal((await pool.run("net", { x: handle }, ["y"])).worker, home);
    const away = await pool.run("net", { x: handle }, ["y"], { awayFrom: "a", keep: { y: {} } });
    assert.notEqual(away.worker, home);
    assert.equal(away.crossCopies, 1);
    // Its output now lives on that worker: the next away run prefers it among the idle ones (no copy).
    const next = await pool.run("net", { x: away.outputs.y as TensorHandle }, ["y"], { awayFrom: "a" });
    assert.equal(next.worker, away.worker);
    assert.equal(next.crossCopies, 0);
  } finally {
    await pool.close();
  }
});

Deno.test("ModelPool: runs kept off a stream's worker count a run waiting in an open batch as busy", async () => {
  const pool = await ModelPool.start({ workers: 3, provider: cpu, threads: 1 });
  try {
    await pool.load("net", scaleModel(2));
    const image: Tensor = { type: "float32", dims: [1, 3, 8, 8], data: new Float32Array(192).fill(0.5) };
    // A fused run (all outputs kept) waits in its worker's open batch until the task ends; a second run placed in
    // the same task must not see that worker as idle (pipelined S2 and S3 would then share one worker).
    const first = await pool.run("net", { x: image }, ["y"], { awayFrom: "a", keep: { y: {} }, fuse: true });
    assert.equal(first.fused, true);
    const second = await pool.run("net", { x: image }, ["y"], { awayFrom: "a" });
    assert.notEqual(second.worker, first.worker);
    assert.notEqual(second.worker, pool.workerOf("a"));
    pool.free([first.outputs.y as TensorHandle]);
  } finally {
    await pool.close();
  }
});

Deno.test("a TensorHandle read as host data is a clear internal error", () => {
  const handle = new TensorHandle(7, 0, { type: "float32", dims: [1, 4, 2, 2], bytes: 64 });
  assert.throws(() => handle.data, /Internal error: tensor 7 \[1,4,2,2\] is resident in model worker 0/);
  assert.deepEqual(JSON.parse(JSON.stringify(handle)), { type: "float32", dims: [1, 4, 2, 2], resident: true });
});

async function loaded(graph: string, overrides: string[] = [], input?: string) {
  const { registry } = testSetup();
  return await loadGraph(graph, {
    registry,
    modelsRoot,
    modelSet: "testing",
    overrides: [...testingSetOverrides(graph), ...overrides],
    ...(input ? { input } : {}),
  });
}

Deno.test("resident slots: made by worker runs and read only by ports that pass them to a worker run", async () => {
  const slots = async (name: string) => {
    const g = await loaded(`graphs/${name}.yaml`);
    return [...residentSlots([...g.stages, ...g.sinks], g.models)].sort();
  };
  // Labels go to sinks and the score, never resident; the flow is read by warp only (score reads it for epe).
  assert.deepEqual(await slots("dff"), ["flow", "key_scores", "scores"]);
  assert.deepEqual(await slots("accel"), ["flow", "key_scores", "scores", "scores_ref", "scores_upd"]);
  // Warp passes its key-frame map on unchanged: when the caller reads the warped map, the key map is on the host too.
  const lean = await loaded("graphs/dff.yaml");
  const hostScores = residentSlots([...lean.stages, ...lean.sinks], lean.models, ["scores"]);
  assert.ok(!hostScores.has("scores") && !hostScores.has("key_scores"));
  assert.deepEqual(await slots("per-frame"), []);
  // DVSNet: the region maps are merged in the worker, the flow features pooled there and fed to the decision model.
  assert.deepEqual(await slots("dvsnet"), ["flow", "flow_features", "key_scores", "region_scores", "scores"]);
  // Clockwork: hold keeps S3's cached score in the worker for fuse.
  assert.deepEqual(await slots("clockwork"), [
    "feat1",
    "feat2",
    "score1",
    "score2",
    "score3",
    "score3_cached",
    "scores",
  ]);
  // Slots the caller reads stay on the host.
  const dff = await loaded("graphs/dff.yaml");
  assert.ok(!residentSlots([...dff.stages, ...dff.sinks], dff.models, ["scores"]).has("scores"));
  const epe = await loaded("graphs/dff.yaml", ["score.metrics=[miou, epe]"]);
  assert.ok(!residentSlots([...epe.stages, ...epe.sinks], epe.models).has("flow"));
});

/** Runs a graph keeping its labels; the labels' sha256 over all frames. */
async function labelsOf(graph: string, overrides: string[], input?: string) {
  const g = await loaded(graph, overrides, input);
  g.sinks.length = 0;
  const hash = createHash("sha256");
  let frames = 0;
  const report = await runGraph(g, {
    quiet: true,
    warn: () => {},
    onFrame: (frame) => {
      const labels = frame.slots.get("labels") as Tensor;
      hash.update(labels.data as Uint8Array);
      frames++;
    },
  });
  return { hash: hash.digest("hex"), frames, report };
}

// Labels of DFF (head chained after warp in the worker, `warp.head`) and Accel recorded before tensors stayed
// in the workers, on the testing cuts over this clip: at 128x96 (no cropping) and 120x90 (every strided output
// cropped, in the worker now). DFF warping the scores (edge-clamped) gives the same labels here; Accel's are those
// its features graph gave with `warp.border=clamp` (checked when the graphs moved to warping scores), since the
// incremental warp's zero border changed its labels.
const recorded = {
  "128x96": {
    dff: "a2ffde59c3f524ab3a06ac08bb99f9e39481661ab363d897879b7a77db4413b1",
    accel: "20f41c6b864cc05e21930c9b2d79b53c37173e77928821f558f634edb644b0de",
  },
  "120x90": {
    dff: "8362ee78c1e1c61d10e2ed07850e5e0c78719f82e7fb925dbcd7eb41fa10eedd",
    accel: "fd74717983181b592c2c6e171b4f307b322dd9da8f11a78e32bb1e4e77bf170f",
  },
} as const;

for (const [size, hashes] of Object.entries(recorded)) {
  Deno.test(`DFF and Accel with resident tensors give the recorded labels at ${size}, and so does the host path`, async () => {
    const [width, height] = size.split("x").map(Number) as [number, number];
    const clip = await Deno.makeTempDir();
    try {
      await writeSyntheticDataset(clip, { width, height, frames: 8, fps: 15, seed: 5 }, 1);
      for (const method of ["dff", "accel"] as const) {
        const resident = await labelsOf(`graphs/${method}.yaml`, [], clip);
        assert.equal(resident.frames, 8);
        assert.equal(resident.hash, hashes[method], `${method}: labels differ from the recorded ones`);
        const host = await labelsOf(`graphs/${method}.yaml`, ["execution.resident_tensors=false"], clip);
        assert.equal(host.hash, hashes[method]);
        // Resident: only the frames go in and labels come out (the host path sends the warped score maps back in).
        assert.ok(
          resident.report.threads_traffic.bytes_to_workers < host.report.threads_traffic.bytes_to_workers,
          `${method}: ${resident.report.threads_traffic.bytes_to_workers} vs ${host.report.threads_traffic.bytes_to_workers}`,
        );
        assert.equal(resident.report.threads_traffic.bytes_from_workers, 8 * width * height, `${method}: labels only`);
      }
    } finally {
      await Deno.remove(clip, { recursive: true });
    }
  });
}

Deno.test("DFF non-key frame: only the shrunk current frame goes in and the labels come out", async () => {
  const g = await loaded("graphs/dff.yaml", ["source.width=64", "source.height=48", "source.frames=12"]);
  g.sinks.length = 0;
  const report = await runGraph(g, { quiet: true, warn: () => {} });
  const t = report.threads_traffic;
  // Key frames 0, 5, 10: the frame for the features (uint8 or float); every frame: labels back, nothing else.
  assert.equal(t.bytes_from_workers, 12 * 64 * 48);
  assert.equal(report.keyframes, 3);
  /** DFF on 64x48 synthetic frames with one key frame (the first) in `frames`. */
  const oneKeyFrame = async (frames: number) => {
    const graph = await loaded("graphs/dff.yaml", [
      "source.width=64",
      "source.height=48",
      `source.frames=${frames}`,
      "decide.every=100",
    ]);
    graph.sinks.length = 0;
    return await runGraph(graph, { quiet: true, warn: () => {} });
  };
  const nonKey = await oneKeyFrame(12);
  const one = await oneKeyFrame(2);
  // Frames 2..11 are non-key frames after the first (whose reference went in with it): each sends the shrunk
  // current frame (32x24 RGB bytes) and the label head's [H, W]; warp's cell ratio is 8 bytes.
  const perNonKey = (nonKey.threads_traffic.bytes_to_workers - one.threads_traffic.bytes_to_workers) / 10;
  assert.ok(perNonKey <= 32 * 24 * 3 + 64, `non-key frame sends ${perNonKey} bytes`);
});

/** Runs `graph` sampling, on frames `sampleAt` picks, the handles held on the main thread and what worker 0 holds. */
async function sampledRun(graph: LoadedGraph, sampleAt: (frame: Frame) => boolean) {
  const probe: ResidentProbe = {};
  const samples: Promise<{ count: number; bytes: number }[]>[] = [];
  const held: number[] = [];
  const report = await runGraph(graph, {
    quiet: true,
    warn: () => {},
    residentProbe: probe,
    onFrame: (frame) => {
      if (!sampleAt(frame)) return;
      held.push(probe.registry!.count);
      samples.push(probe.workers!());
    },
  });
  const workers = (await Promise.all(samples)).map((w) => w[0]!);
  return { report, probe, held, workers, maxCount: Math.max(...workers.map((w) => w.count)) };
}

Deno.test({
  name: "10,000 DFF frames: worker-resident tensors stay bounded (frames freed, key maps replaced)",
  // Long: tiny frames, testing cuts.
  async fn() {
    const frames = 10_000;
    const g = await loaded("graphs/dff.yaml", [
      "source.width=32",
      "source.height=32",
      `source.frames=${frames}`,
      "decide.every=7",
    ]);
    g.sinks.length = 0;
    g.stages.splice(g.stages.findIndex((stage) => stage.kind === "evaluate"), 1);
    const { report, held, workers, maxCount } = await sampledRun(g, (frame) => frame.index % 500 === 250);
    assert.equal(report.frames, frames);
    assert.ok(workers.length >= 19);
    const maxBytes = Math.max(...workers.map((w) => w.bytes));
    // At most max_in_flight frames' features, flows, warped maps and scores, plus the key map and reference frame.
    assert.ok(maxCount >= 2, "the key map and the frames' maps are resident");
    assert.ok(maxCount <= 4 * 4 + 2, `worker holds ${maxCount} tensors`);
    assert.ok(Math.max(...held) <= 4 * 4 + 2, `main thread holds ${Math.max(...held)} handles`);
    // The last samples hold no more than the first: nothing grows.
    assert.ok(workers.at(-1)!.bytes <= maxBytes && maxBytes <= workers[0]!.bytes * 3 + 1);
    // Fused: a non-key frame's flow, warp, head and argmax go in one call; a key frame's features, head, argmax too.
    assert.ok(
      report.threads_traffic.worker_calls_per_frame <= 1.01,
      `${report.threads_traffic.worker_calls_per_frame}`,
    );
  },
});

Deno.test({
  name: "hold keeps its cached map in the worker across frames and frees it: worker memory stays bounded",
  async fn() {
    const frames = 2000;
    const g = await loaded("graphs/clockwork.yaml", [
      "source.width=32",
      "source.height=32",
      `source.frames=${frames}`,
      "clock3.every=5",
    ]);
    g.sinks.length = 0;
    g.stages.splice(g.stages.findIndex((stage) => stage.id === "score"), 1);
    // Frames queue behind a slow stage before fuse, so hold replaces its map while earlier frames still need it.
    const { registry } = testSetup();
    const lag = { id: "lag", kind: "fake-model", role: "stage" as const, inputs: {}, outputs: {} };
    const definition = registry.stages.get("fake-model")!;
    g.stages.splice(g.stages.findIndex((s) => s.id === "fuse"), 0, {
      ...lag,
      definition,
      params: { run_ms: 0, concurrency: 1 },
    });
    const cached: unknown[] = [];
    // Frames 1..4 after each firing read the held map.
    const { report, probe, held, workers, maxCount } = await sampledRun(g, (frame) => {
      if (frame.index % 100 !== 52) return false;
      cached.push(frame.slots.get("score3_cached"));
      return true;
    });
    assert.equal(report.frames, frames);
    assert.ok(cached.every(isHandle), "the cached score is a worker-resident handle");
    assert.ok(probe.slots!.has("score3") && probe.slots!.has("score3_cached"));
    // Only the frames go in and the labels come out: S3's score never travels.
    assert.equal(report.threads_traffic.bytes_from_workers, frames * 32 * 32);
    assert.ok(workers.length >= 19);
    // At most max_in_flight frames' maps plus the held one; the last samples hold no more than the first.
    assert.ok(maxCount <= 4 * 7 + 1, `worker holds ${maxCount} tensors`);
    assert.ok(Math.max(...held) <= 4 * 7 + 1, `main thread holds ${Math.max(...held)} handles`);
    assert.ok(workers.at(-1)!.bytes <= workers[0]!.bytes * 2, `${workers.at(-1)!.bytes} vs ${workers[0]!.bytes}`);
    // At the end the stage gave its hold back: nothing is left.
    assert.equal(probe.registry!.count, 0);
  },
});

Deno.test("DVSNet with resident tensors: the labels and the confidences come out, the labels unchanged", async () => {
  const clip = await Deno.makeTempDir();
  try {
    await writeSyntheticDataset(clip, { width: 96, height: 64, frames: 12, fps: 15, seed: 5 }, 1);
    const resident = await labelsOf("graphs/dvsnet.yaml", [], clip);
    const host = await labelsOf("graphs/dvsnet.yaml", ["execution.resident_tensors=false"], clip);
    assert.equal(resident.frames, 12);
    assert.equal(resident.hash, host.hash);
    assert.equal(resident.report.counters.segmentation_steps, host.report.counters.segmentation_steps);
    // Back come the labels and each region's predicted confidence (one float32).
    assert.equal(resident.report.threads_traffic.bytes_from_workers, 12 * 96 * 64 + 12 * 4 * 4);
    assert.ok(
      resident.report.threads_traffic.worker_calls < host.report.threads_traffic.worker_calls / 2,
      `${resident.report.threads_traffic.worker_calls} vs ${host.report.threads_traffic.worker_calls} worker calls`,
    );
  } finally {
    await Deno.remove(clip, { recursive: true });
  }
});
