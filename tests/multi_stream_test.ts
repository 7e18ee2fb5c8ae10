/**
 * Several inputs in one run: each stream keeps its own state (DFF's key frames, tracks) and its own outputs and
 * stats, and gives what a run of it alone gives.
 */
import assert from "node:assert/strict";
import { keepsStreamState, loadGraph, loadGraphText } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { StatsReport } from "../engine/stats.ts";
import { formatY4mHeader, rgbToYuv420 } from "../datasets/y4m.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { uniqueNames } from "../engine/multi_source.ts";
import { overflowPolicy } from "../engine/stream_frames.ts";
import { synthMain } from "../datasets/synthetic/cli.ts";
import { formatMetrics, parseMetricsAddress, startMetricsServer } from "../engine/metrics.ts";
import { cli, countVideoFrames, errorLine } from "./_cli.ts";
import { methodGraphs, modelsRoot, projectRoot, testingSetOverrides, withTempDir } from "./_helpers.ts";

/** A y4m clip of `frames` frames: a bright square moving `speed` px per frame over a gradient, seeded by `tone`. */
async function writeClip(path: string, width: number, height: number, frames: number, tone: number, speed: number) {
  const parts: Uint8Array[] = [new TextEncoder().encode(formatY4mHeader(width, height, 10))];
  for (let f = 0; f < frames; f++) {
    const rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const inside = x >= 4 + speed * f && x < 20 + speed * f && y >= 8 && y < 24;
        const i = 3 * (y * width + x);
        rgb[i] = inside ? 250 : (tone + 3 * x) & 255;
        rgb[i + 1] = inside ? 240 : (tone + 2 * y) & 255;
        rgb[i + 2] = inside ? 30 : (tone * 2 + x + y) & 255;
      }
    }
    parts.push(new TextEncoder().encode("FRAME\n"), rgbToYuv420(rgb, width, height));
  }
  await Deno.writeFile(path, new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()));
}

/** Runs DFF on the testing models over `inputs` (one or several), label PNGs into `dir`. */
async function runDff(inputs: string[], dir: string): Promise<StatsReport> {
  const graph = await loadGraph(`${projectRoot}/graphs/dff.yaml`, {
    registry: builtinRegistry(),
    modelsRoot,
    modelSet: "testing",
    overrides: [...testingSetOverrides("dff"), "decide.every=4"],
    ...(inputs.length === 1 ? { input: inputs[0]! } : { inputs }),
    output: dir,
    warn: () => {},
  });
  return await runGraph(graph, { quiet: true, warn: () => {} });
}

const pngs = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".png")).sort();

Deno.test("two inputs in one run: each stream's labels, key frames and stats are those of a run of it alone", async () => {
  await withTempDir(async (dir) => {
    await writeClip(`${dir}/a.y4m`, 64, 48, 10, 20, 2);
    await writeClip(`${dir}/b.y4m`, 80, 48, 7, 120, 3); // another size and length
    const aloneA = await runDff([`${dir}/a.y4m`], `${dir}/alone-a`);
    const aloneB = await runDff([`${dir}/b.y4m`], `${dir}/alone-b`);
    const both = await runDff([`${dir}/a.y4m`, `${dir}/b.y4m`], `${dir}/both`);
    assert.equal(both.frames, 17);
    assert.deepEqual(Object.keys(both.streams), ["a", "b"]);
    assert.equal(both.streams.a!.frames, 10);
    assert.equal(both.streams.b!.frames, 7);
    // DFF's key every 4 frames counts per stream: keys at 0, 4, 8 of a and 0, 4 of b.
    assert.equal(both.keyframes, (aloneA.keyframes ?? 0) + (aloneB.keyframes ?? 0));
    assert.equal(both.keyframes, 5);
    const outputs = pngs(`${dir}/both`);
    assert.equal(outputs.length, 17);
    for (const [stream, alone] of [["a", "alone-a"], ["b", "alone-b"]] as const) {
      for (const name of pngs(`${dir}/${alone}`)) {
        const mine = await Deno.readFile(`${dir}/both/${stream}_${name}`);
        assert.deepEqual(mine, await Deno.readFile(`${dir}/${alone}/${name}`), `${stream} frame ${name}`);
      }
    }
  });
});

/** Runs `graph` on the testing models over `inputs`, label PNGs into `dir`. */
async function runMethod(name: string, inputs: string[], dir: string): Promise<StatsReport> {
  const graph = await loadGraph(`${projectRoot}/graphs/${name}.yaml`, {
    registry: builtinRegistry(),
    modelsRoot,
    modelSet: "testing",
    overrides: testingSetOverrides(name),
    ...(inputs.length === 1 ? { input: inputs[0]! } : { inputs }),
    output: dir,
    warn: () => {},
  });
  return await runGraph(graph, { quiet: true, warn: () => {} });
}

// Pipelined Clockwork hands each frame its stream's previous run; DVSNet keeps regions and keys per stream.
for (const name of ["clockwork-pipelined", "dvsnet", "accel"]) {
  Deno.test(`two inputs through ${name}: each stream's labels are those of a run of it alone`, async () => {
    await withTempDir(async (dir) => {
      await writeClip(`${dir}/a.y4m`, 64, 48, 8, 20, 2);
      await writeClip(`${dir}/b.y4m`, 64, 48, 6, 120, 3);
      const both = await runMethod(name, [`${dir}/a.y4m`, `${dir}/b.y4m`], `${dir}/both`);
      assert.equal(both.frames, 14);
      for (const stream of ["a", "b"]) {
        await runMethod(name, [`${dir}/${stream}.y4m`], `${dir}/alone-${stream}`);
        const alone = pngs(`${dir}/alone-${stream}`);
        assert.equal(alone.length, stream === "a" ? 8 : 6);
        for (const file of alone) {
          const mine = await Deno.readFile(`${dir}/both/${stream}_${file}`);
          assert.deepEqual(mine, await Deno.readFile(`${dir}/alone-${stream}/${file}`), `${stream} frame ${file}`);
        }
      }
    });
  });
}

Deno.test("a run mixing live and file inputs needs an explicit overflow policy; files alone are lossless", () => {
  const exec = {} as Parameters<typeof overflowPolicy>[0];
  const info = (live: boolean[]) => ({
    name: "inputs",
    fps: 25,
    live: live.some(Boolean),
    streams: live.map((l, i) => ({ name: l ? `cam${i}` : `clip${i}`, fps: 25, live: l })),
  });
  assert.equal(overflowPolicy(exec, info([false, false])), "block");
  assert.equal(overflowPolicy(exec, info([true, true])), "keep_latest");
  assert.throws(() => overflowPolicy(exec, info([true, false])), /cam0 is live and clip1 is not.*execution\.overflow/);
  assert.equal(overflowPolicy({ ...exec, overflow: "block" }, info([true, false])), "block");
});

Deno.test("two inputs: a video output gives one video per stream; a y4m pipe refuses in one line", async () => {
  await withTempDir(async (dir) => {
    await writeClip(`${dir}/a.y4m`, 64, 48, 6, 20, 2);
    await writeClip(`${dir}/b.y4m`, 64, 48, 4, 90, 1);
    const base = ["run", "graphs/per-frame.yaml", "--models", "testing", "--input", `${dir}/a.y4m`, "--input"];
    const video = await cli([...base, `${dir}/b.y4m`, "--output", `${dir}/out.mp4`, "--stats", `${dir}/s.json`]);
    assert.equal(video.code, 0, video.stderr);
    assert.equal(await countVideoFrames(`${dir}/out.a.mp4`), 6);
    assert.equal(await countVideoFrames(`${dir}/out.b.mp4`), 4);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/s.json`));
    assert.deepEqual(Object.keys(stats.streams), ["a", "b"]);
    assert.match(video.stderr, /^stream +frames +fps +dropped/m, "the summary has a line per stream");
    const pipe = await cli([...base, `${dir}/b.y4m`, "--output", "-"]);
    assert.equal(pipe.code, 1);
    assert.equal(
      errorLine(pipe.stderr),
      "error: stdout: a y4m stream holds one video, and this run has 2 inputs; write a video per stream " +
        "(--output out.mp4 gives out.<stream>.mp4) or a folder",
    );
  });
});

Deno.test("a graph's source: { kind: inputs, inputs: [...] } runs each input as its own stream; names stay unique", async () => {
  assert.deepEqual(uniqueNames(["clip", "clip", "road", "clip"]), ["clip", "clip#2", "road", "clip#3"]);
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/x`);
    await Deno.mkdir(`${dir}/y`);
    await writeClip(`${dir}/x/clip.y4m`, 64, 48, 3, 20, 2);
    await writeClip(`${dir}/y/clip.y4m`, 64, 48, 2, 60, 2);
    const seen: string[] = [];
    const registry = builtinRegistry();
    const graph = await loadGraphText(
      "g.yaml",
      `model_set: testing
source: { kind: inputs, inputs: ["${dir}/x/clip.y4m", "${dir}/y/clip.y4m"] }
models: { seg: seg }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
`,
      { registry, modelsRoot },
    );
    const report = await runGraph(graph, { onFrame: (frame) => seen.push(`${frame.stream}:${frame.index}`) });
    assert.deepEqual(seen, ["clip:0", "clip#2:0", "clip:1", "clip#2:1", "clip:2"], "round-robin, one each in turn");
    assert.deepEqual(Object.keys(report.streams), ["clip", "clip#2"]);
    const bad = await loadGraphText("g.yaml", "source: { kind: inputs, inputs: [] }\nstages: []\n", {
      registry,
      modelsRoot,
    }).then(() => undefined, (error: Error) => error.message);
    assert.match(bad ?? "", /source\.inputs must be a list of paths or URLs/);
    const missing = await loadGraphText(
      "g.yaml",
      `source: { kind: inputs, inputs: ["${dir}/x/clip.y4m", "${dir}/nope.y4m"] }\nstages: []\n`,
      { registry, modelsRoot },
    ).then(() => undefined, (error: Error) => error.message);
    assert.equal(missing, `source.inputs '${dir}/nope.y4m': no such file or folder`);
  });
});

Deno.test("--metrics serves Prometheus text while the run lasts: per-stream frames, latency histogram, queue", async () => {
  await withTempDir(async (dir) => {
    await writeClip(`${dir}/a.y4m`, 64, 48, 8, 20, 2);
    await writeClip(`${dir}/b.y4m`, 64, 48, 5, 90, 1);
    const graph = await loadGraph(`${projectRoot}/graphs/per-frame.yaml`, {
      registry: builtinRegistry(),
      modelsRoot,
      modelSet: "testing",
      inputs: [`${dir}/a.y4m`, `${dir}/b.y4m`],
      output: `${dir}/labels`,
      warn: () => {},
    });
    let collector: Parameters<typeof formatMetrics>[0];
    const server = await startMetricsServer("127.0.0.1:0", () => collector);
    try {
      const scrape = async () => await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      assert.match(await scrape(), /^segflow_up 1$/m, "before the run: up, nothing else");
      await runGraph(graph, { quiet: true, warn: () => {}, onStats: (stats) => (collector = stats) });
      const text = await scrape();
      const value = (name: string) =>
        Number(text.split("\n").find((l) => l.startsWith(`${name} `))?.slice(name.length + 1));
      assert.equal(value('segflow_frames_total{graph="per-frame",stream="a"}'), 8);
      assert.equal(value('segflow_frames_total{graph="per-frame",stream="b"}'), 5);
      assert.equal(value('segflow_frame_latency_seconds_count{graph="per-frame",stream="a"}'), 8);
      assert.equal(value('segflow_frame_latency_seconds_bucket{graph="per-frame",stream="b",le="+Inf"}'), 5);
      assert.ok(value('segflow_frame_latency_seconds_sum{graph="per-frame",stream="a"}') > 0);
      assert.equal(value('segflow_queue_depth{graph="per-frame"}'), 0);
      // Per stream: none in flight once the run is over, and each stream's own model time (a took more frames).
      assert.equal(value('segflow_stream_in_flight{graph="per-frame",stream="a"}'), 0);
      const modelA = value('segflow_stream_model_seconds_total{graph="per-frame",stream="a"}');
      const modelB = value('segflow_stream_model_seconds_total{graph="per-frame",stream="b"}');
      assert.ok(modelA > 0 && modelB > 0, `${modelA} ${modelB}`);
      const total = value('segflow_model_seconds_total{graph="per-frame"}');
      assert.ok(Math.abs(modelA + modelB - total) < 1e-3, `${modelA} + ${modelB} vs ${total}`);
      assert.ok(value('segflow_stage_seconds_total{graph="per-frame",stage="segment"}') > 0);
      // Every line is a comment or `name{labels} value`; buckets are cumulative.
      for (const line of text.trim().split("\n")) {
        assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+-]+|\w+(\{[^}]*\})? [+-]Inf)$/, line);
      }
      const buckets = [...text.matchAll(/^segflow_frame_latency_seconds_bucket\{[^}]*stream="a"[^}]*\} (\d+)$/gm)]
        .map((m) => Number(m[1]));
      assert.deepEqual(buckets, [...buckets].sort((x, y) => x - y));
      assert.equal(await fetch(`http://127.0.0.1:${server.port}/other`).then((r) => (r.body?.cancel(), r.status)), 404);
    } finally {
      await server.close();
    }
    assert.throws(() => parseMetricsAddress("9464"), /--metrics '9464': expected \[HOST\]:PORT/);
    assert.deepEqual(parseMetricsAddress(":9464"), { hostname: "0.0.0.0", port: 9464 });
  });
});

/** Runs the per-frame graph on `set` over `inputs` into label PNGs, with `extra` flags; returns the report. */
async function runPerFrame(set: string, inputs: string[], dir: string, extra: string[] = []) {
  const graph = await loadGraph(`${projectRoot}/graphs/per-frame.yaml`, {
    registry: builtinRegistry(),
    modelsRoot,
    modelSet: set,
    overrides: extra,
    inputs,
    output: dir,
    execution: { max_in_flight: 8 },
    warn: () => {},
  });
  return await runGraph(graph, { quiet: true, warn: () => {} });
}

for (const set of ["testing", "camvid"]) {
  Deno.test(`model batch across streams (${set} set): labels equal the unbatched run's, frame for frame`, async () => {
    await withTempDir(async (dir) => {
      const inputs: string[] = [];
      for (let i = 0; i < 4; i++) {
        inputs.push(`${dir}/cam${i}.y4m`);
        await writeClip(inputs[i]!, 96, 64, 6 - (i % 2), 30 * i, 1 + i);
      }
      const plain = await runPerFrame(set, inputs, `${dir}/plain`);
      const batched = await runPerFrame(set, inputs, `${dir}/batched`, ["segment.batch=4", "segment.batch_wait_ms=20"]);
      assert.equal(batched.frames, plain.frames);
      assert.ok((batched.counters.model_batches ?? 0) > 0, JSON.stringify(batched.counters));
      assert.ok(batched.models.runs < plain.models.runs, `${batched.models.runs} runs vs ${plain.models.runs}`);
      const names = pngs(`${dir}/plain`);
      assert.deepEqual(pngs(`${dir}/batched`), names);
      for (const name of names) {
        assert.deepEqual(
          await Deno.readFile(`${dir}/batched/${name}`),
          await Deno.readFile(`${dir}/plain/${name}`),
          name,
        );
      }
    });
  });
}

Deno.test("keepsStreamState: only per-frame of the method graphs may send a stream's frames to different engines", async () => {
  const kept: Record<string, boolean> = {};
  for (const name of methodGraphs) {
    const graph = await loadGraph(`${projectRoot}/graphs/${name}.yaml`, {
      registry: builtinRegistry(),
      modelsRoot,
      modelSet: "testing",
      overrides: testingSetOverrides(name),
      warn: () => {},
    });
    kept[name] = keepsStreamState(graph);
  }
  assert.deepEqual(kept, Object.fromEntries(methodGraphs.map((name) => [name, name !== "per-frame"])));
});

Deno.test("a model stage's batch may be given as { max, wait_ms }; an unknown field or bad value is one line", async () => {
  const text = (batch: string) =>
    `name: t\nmodel_set: testing\nsource: { kind: pattern, frames: 2 }\nmodels: { seg: seg }\nstages:\n` +
    `  - { id: seg, kind: model, model: seg, ${batch}, out: { labels: labels } }\n`;
  const load = (batch: string) => loadGraphText("g.yaml", text(batch), { registry: builtinRegistry(), modelsRoot });
  const params = async (batch: string) => (await load(batch)).stages.find((s) => s.id === "seg")!.params;
  assert.deepEqual(
    [
      (await params("batch: { max: 4, wait_ms: 7 }")).batch,
      (await params("batch: { max: 4, wait_ms: 7 }")).batch_wait_ms,
    ],
    [4, 7],
  );
  assert.equal((await params("batch: 3")).batch, 3);
  await assert.rejects(
    () => load("batch: { max: 4, wait: 7 }"),
    /g\.yaml:6:\d+: stage 'seg': 'batch' has no field 'wait'/,
  );
  await assert.rejects(() => load("batch: { max: 0 }"), /'batch\.max' must be at least 1, got 0/);
  await assert.rejects(
    () => load("batch: { max: 4, wait_ms: 7 }, batch_wait_ms: 9"),
    /'batch\.wait_ms' and 'batch_wait_ms' set the same thing; keep one/,
  );
});

Deno.test("two dataset inputs with sequences: one video per sequence, each finished when its input moves on", async () => {
  await withTempDir(async (dir) => {
    const synth = async (out: string, sequences: number, seed: number) => {
      const code = await synthMain(
        ["--out", out, "--frames", "3", "--sequences", String(sequences), "--width", "64", "--height", "48"]
          .concat(["--split", "train", "--seed", String(seed)]),
      );
      assert.equal(code, 0);
    };
    await synth(`${dir}/p`, 2, 1);
    await synth(`${dir}/q`, 1, 5);
    const run = await cli([
      "run",
      "graphs/per-frame.yaml",
      "--models",
      "testing",
      ...["--input", `${dir}/p`, "--input", `${dir}/q`, "--output", `${dir}/v/out.mp4`],
    ]);
    assert.equal(run.code, 0, run.stderr);
    const videos = [...Deno.readDirSync(`${dir}/v`)].map((e) => e.name).sort();
    assert.deepEqual(videos, ["out.p_synth001.mp4", "out.p_synth002.mp4", "out.q_synth005.mp4"]);
    for (const video of videos) assert.equal(await countVideoFrames(`${dir}/v/${video}`), 3, video);
  });
});
