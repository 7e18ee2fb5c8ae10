/**
 * Scale-out over NATS JetStream (`scaleout/`): publish -> workers -> collect loses and duplicates no frame, a worker
 * killed mid-stream hands its stream over (every frame still exactly once, in order), the labels equal a local run's
 * byte for byte, and an unreachable server is a one-line error. Needs `nats-server` (ignored without it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { patternFrames } from "../datasets/pattern.ts";
import { formatY4mHeader, rgbToYuv420 } from "../datasets/y4m.ts";
import { loadGraph } from "../engine/graph_load.ts";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { publish } from "../scaleout/publish.ts";
import { runWorker } from "../scaleout/worker.ts";
import { collect } from "../scaleout/collect.ts";
import { modelsRoot, projectRoot, withTempDir } from "./_helpers.ts";
import { skipWithoutNats, startNatsServer } from "./_nats_server.ts";

const ignore = skipWithoutNats("tests/jetstream_test.ts");

/** A per-frame graph on the hand-built `testing` models. */
const perFrameGraph = `name: per-frame-test
model_set: testing
source: { kind: pattern, frames: 2 }
models: { seg: seg }
execution: { max_in_flight: 2 }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
`;

/** Writes a `frames`-frame pattern clip as y4m. */
async function writeY4m(path: string, frames: number, seed: number, width = 32, height = 24): Promise<void> {
  const parts: Uint8Array[] = [new TextEncoder().encode(formatY4mHeader(width, height, 15))];
  for (const frame of patternFrames({ width, height, frames, fps: 15, seed, noise: 8 })) {
    parts.push(new TextEncoder().encode("FRAME\n"), rgbToYuv420(frame.image.data, width, height));
  }
  await Deno.writeFile(path, new Uint8Array(parts.flatMap((p) => [...p])));
}

/** The collected metadata lines of a stream. */
async function lines(dir: string, stream: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(join(dir, `${stream}.jsonl`));
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

/** The label pixels of a collected PNG. */
async function pngPixels(path: string): Promise<Uint8Array> {
  const { data } = await sharp(await Deno.readFile(path)).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

for (const pin of [false, true]) {
  Deno.test({
    name:
      `jetstream: publish -> 2 workers -> collect (${
        pin ? "pinned" : "shared"
      } streams): every frame once, in order, ` +
      "labels equal a local run",
    ignore,
    async fn() {
      const server = await startNatsServer();
      try {
        await withTempDir(async (dir) => {
          const graphFile = join(dir, "graph.yaml");
          await Deno.writeTextFile(graphFile, perFrameGraph);
          await writeY4m(join(dir, "a.y4m"), 12, 1);
          await writeY4m(join(dir, "b.y4m"), 9, 2);
          const abort = new AbortController();
          const logs: string[] = [];
          const worker = (id: string) =>
            runWorker({
              graph: graphFile,
              nats: server.url,
              stream: "job",
              id,
              pollMs: 100,
              pin,
              // Shared: paced, so that both workers are up before a stream is done. Pinned: as fast as it goes.
              set: pin ? [] : ["execution.realtime_fps=40"],
              signal: abort.signal,
              log: (line) => logs.push(`${id}: ${line}`),
            });
          const workers = [worker("w0"), worker("w1")];
          try {
            const published = await publish({
              inputs: [join(dir, "a.y4m"), join(dir, "b.y4m")],
              nats: server.url,
              stream: "job",
              format: "raw",
            });
            assert.deepEqual(published.streams, { a: 12, b: 9 });
            const out = join(dir, "out");
            const collected = await collect({ nats: server.url, stream: "job", output: out, idleTimeoutS: 20 });
            abort.abort();
            const reports = await Promise.all(workers);
            assert.deepEqual(collected.streams, { a: 12, b: 9 }, logs.join("\n"));
            assert.deepEqual(collected.incomplete, []);
            assert.equal(reports.reduce((sum, r) => sum + r.frames, 0), 21, "each frame processed once");
            assert.deepEqual(reports.map((r) => r.dropped), [0, 0], "the bus is lossless: the engine drops nothing");
            if (pin) {
              for (const r of reports) {
                assert.ok(Object.keys(r.streams).length <= 1, `pinned: ${JSON.stringify(r.streams)}`);
              }
            } else {
              // A per-frame graph keeps no stream state: both workers take frames of each stream.
              for (const r of reports) assert.ok((r.streams.a ?? 0) > 0, `shared: ${JSON.stringify(r.streams)}`);
            }

            // The same graph run locally on each input gives the same label maps, byte for byte.
            for (const [stream, frames] of [["a", 12], ["b", 9]] as const) {
              const meta = await lines(out, stream);
              assert.deepEqual(meta.map((m) => m.index), [...Array(frames).keys()]);
              assert.ok(meta.every((m) => m.stream === stream && m.type === "frame"));
              const local: Uint8Array[] = [];
              const graph = await loadGraph(graphFile, {
                registry: builtinRegistry(),
                modelsRoot,
                input: join(dir, `${stream}.y4m`),
              });
              await runGraph(graph, {
                quiet: true,
                hostSlots: ["labels"],
                onFrame: (frame) => local.push((frame.slots.get("labels") as Tensor).data.slice() as Uint8Array),
              });
              assert.equal(local.length, frames);
              for (let i = 0; i < frames; i++) {
                const file = join(out, stream, `${String(i).padStart(6, "0")}.png`);
                assert.deepEqual(await pngPixels(file), local[i], `${stream} frame ${i}`);
              }
            }
          } finally {
            abort.abort();
            await Promise.allSettled(workers);
          }
        });
      } finally {
        await server.stop();
      }
    },
  });
}

for (const pin of [true, false]) {
  Deno.test({
    name:
      `jetstream: a worker killed mid-stream (SIGKILL, ${pin ? "pinned" : "shared"} streams) hands its frames over; ` +
      "every frame arrives once, in order",
    ignore,
    async fn() {
      const server = await startNatsServer();
      const children: Deno.ChildProcess[] = [];
      try {
        await withTempDir(async (dir) => {
          const graphFile = join(dir, "graph.yaml");
          await Deno.writeTextFile(graphFile, perFrameGraph);
          const frames = 30;
          await writeY4m(join(dir, "a.y4m"), frames, 3);
          await writeY4m(join(dir, "b.y4m"), frames, 4);
          const spawn = (id: string) =>
            new Deno.Command(Deno.execPath(), {
              args: [
                "run",
                "-A",
                "scaleout/worker.ts",
                graphFile,
                ...["--nats", server.url, "--stream", "kill", "--id", id],
                ...["--lease-s", "2", "--ack-wait-s", "2", "--poll-ms", "200"],
                ...(pin ? ["--pin", "--max-streams", "1"] : []),
                // Paced, so that the kill lands mid-stream.
                ...["--set", "execution.realtime_fps=8"],
              ],
              cwd: projectRoot,
              stdout: "null",
              stderr: "piped",
            }).spawn();
          children.push(spawn("victim"), spawn("survivor"));
          const published = await publish({
            inputs: [join(dir, "a.y4m"), join(dir, "b.y4m")],
            nats: server.url,
            stream: "kill",
          });
          assert.deepEqual(published.streams, { a: frames, b: frames });
          const out = join(dir, "out");
          const collecting = collect({ nats: server.url, stream: "kill", output: out, idleTimeoutS: 30 });
          // Kill the victim once both workers have published a few results each.
          const nc = await connect({ servers: server.url });
          const jsm = await jetstreamManager(nc);
          for (let i = 0; i < 300; i++) {
            const info = await jsm.streams.info("kill_RESULTS", { subjects_filter: ">" }).catch(() => undefined);
            const counts = Object.values(info?.state.subjects ?? {});
            if (counts.length === 2 && counts.every((n) => n >= 3)) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          await nc.close();
          children[0]!.kill("SIGKILL");
          const collected = await collecting;
          children[1]!.kill("SIGTERM");
          const survivor = await children[1]!.output();
          const log = new TextDecoder().decode(survivor.stderr);
          assert.equal(survivor.code, 0, log);
          assert.deepEqual(collected.streams, { a: frames, b: frames }, log);
          assert.deepEqual(collected.incomplete, []);
          const workersOf = new Set<string>();
          for (const stream of ["a", "b"]) {
            const meta = await lines(out, stream);
            assert.deepEqual(meta.map((m) => m.index), [...Array(frames).keys()], `${stream} in order, once each`);
            const workers = new Set(meta.map((m) => String(m.worker)));
            if (workers.has("victim") || !pin) assert.ok(workers.has("survivor"), `${stream}: the survivor took over`);
            for (const w of workers) workersOf.add(w);
          }
          assert.ok(workersOf.has("victim"), "the victim did some frames before it was killed");
        });
      } finally {
        for (const child of children) {
          try {
            child.kill("SIGKILL");
          } catch {
            // Exited already.
          }
          await child.status;
          await child.stderr.cancel().catch(() => {});
        }
        await server.stop();
      }
    },
  });
}

Deno.test({
  name: "jetstream: an unreachable server or a missing graph is a one-line error",
  async fn() {
    await withTempDir(async (dir) => {
      await writeY4m(join(dir, "a.y4m"), 2, 1);
      const url = "nats://127.0.0.1:1";
      const run = async (script: string, args: string[]) => {
        const { code, stderr } = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `scaleout/${script}.ts`, ...args],
          cwd: projectRoot,
          stdout: "null",
          stderr: "piped",
        }).output();
        return { code, stderr: new TextDecoder().decode(stderr).trim() };
      };
      const cases = [
        [run("publish", [join(dir, "a.y4m"), "--nats", url, "--stream", "x"]), /^error: --nats .*: cannot connect/],
        [run("worker", ["graphs/per-frame.yaml", "--nats", url, "--stream", "x"]), /^error: --nats .*: cannot connect/],
        [
          run("collect", ["--nats", url, "--stream", "x", "--output", join(dir, "o")]),
          /^error: --nats .*cannot connect/,
        ],
        [run("worker", [join(dir, "missing.yaml"), "--nats", url, "--stream", "x"]), /^error: .*missing\.yaml/],
        [run("publish", [join(dir, "a.y4m"), "--stream", "x"]), /^error: publish needs --nats/],
      ] as const;
      for (const [result, pattern] of cases) {
        const { code, stderr } = await result;
        assert.equal(code, 1, stderr);
        assert.equal(stderr.split("\n").length, 1, stderr);
        assert.match(stderr, pattern);
      }
    });
  },
});
