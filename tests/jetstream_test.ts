/**
 * Scale-out over NATS JetStream (`scaleout/`): publish -> workers -> collect loses and duplicates no frame, a worker
 * killed mid-stream hands its stream over (every frame still exactly once, in order), the labels equal a local run's
 * byte for byte, and an unreachable server is a one-line error. Needs `nats-server` (ignored without it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { connect, headers } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { patternFrames } from "../datasets/pattern.ts";
import { formatY4mHeader, rgbToYuv420 } from "../datasets/y4m.ts";
import { loadGraph } from "../engine/graph_load.ts";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { publish } from "../scaleout/publish.ts";
import { runWorker, type WorkerOptions, type WorkerReport } from "../scaleout/worker.ts";
import { collect } from "../scaleout/collect.ts";
import { busNames, ensureFramesStream, ensureResultsStream, header, sleep } from "../scaleout/_bus.ts";
import { endHeaders } from "../scaleout/_results.ts";
import { Leases } from "../scaleout/_leases.ts";
import { modelsRoot, projectRoot, withTempDir } from "./_helpers.ts";
import { type NatsServer, skipWithoutNats, startNatsServer } from "./_nats_server.ts";

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

/**
 * A JetStream test (ignored without nats-server): a fresh server on a free port and a temporary folder holding the
 * per-frame graph as `graph.yaml`; both removed afterwards.
 */
function natsTest(name: string, fn: (server: NatsServer, dir: string, graphFile: string) => Promise<void>): void {
  Deno.test({
    name,
    ignore,
    async fn() {
      const server = await startNatsServer();
      try {
        await withTempDir(async (dir) => {
          const graphFile = join(dir, "graph.yaml");
          await Deno.writeTextFile(graphFile, perFrameGraph);
          await fn(server, dir, graphFile);
        });
      } finally {
        await server.stop();
      }
    },
  });
}

/** A worker in this process on `graph`, polling every 100 ms, its log lines into `logs` after its id. */
function testWorker(
  server: NatsServer,
  graph: string,
  stream: string,
  id: string,
  signal: AbortSignal,
  logs: string[],
  options: Partial<WorkerOptions> = {},
): Promise<WorkerReport> {
  return runWorker({
    graph,
    nats: server.url,
    stream,
    id,
    pollMs: 100,
    signal,
    log: (line) => logs.push(`${id}: ${line}`),
    ...options,
  });
}

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
  natsTest(
    `jetstream: publish -> 2 workers -> collect (${pin ? "pinned" : "shared"} streams): every frame once, in order, ` +
      "labels equal a local run",
    async (server, dir, graphFile) => {
      await writeY4m(join(dir, "a.y4m"), 12, 1);
      await writeY4m(join(dir, "b.y4m"), 9, 2);
      const abort = new AbortController();
      const logs: string[] = [];
      const worker = (id: string) =>
        // Shared: paced, so that both workers are up before a stream is done. Pinned: as fast as it goes.
        testWorker(server, graphFile, "job", id, abort.signal, logs, {
          pin,
          set: pin ? [] : ["execution.realtime_fps=40"],
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
        assert.equal(collected.duplicates, 0, "nothing was done twice on the bus");
        assert.equal(collected.late, 0);
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
    },
  );
}

for (const mode of ["pinned", "shared", "dff"] as const) {
  const pin = mode === "pinned";
  Deno.test({
    name:
      `jetstream: a worker killed mid-stream (SIGKILL, ${
        mode === "dff" ? "DFF, pinned by its state" : `${mode} streams`
      }) hands its frames over; every frame arrives once, in order` +
      (mode === "dff" ? "; the new worker starts the stream on a key frame" : ""),
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
                mode === "dff" ? `${projectRoot}/graphs/dff.yaml` : graphFile,
                ...["--nats", server.url, "--stream", "kill", "--id", id],
                ...["--lease-s", "2", "--ack-wait-s", "2", "--poll-ms", "200"],
                ...(pin ? ["--pin", "--max-streams", "1"] : []),
                ...(mode === "dff"
                  ? ["--max-streams", "1", "--models", "testing", "--set", "models.seg=seg-staged"]
                  : []),
                ...(mode === "dff" ? ["--set", "decide.every=4"] : []),
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
            if (workers.has("victim") || mode === "shared") {
              assert.ok(workers.has("survivor"), `${stream}: the survivor took over`);
            }
            if (mode === "dff") {
              // Keys every 4 frames from the stream's first frame on each worker: the hand-over starts afresh.
              const slots = meta.map((m) => m.slots as Record<string, unknown>);
              assert.ok(slots[0]!.is_key, `${stream}: frame 0 is a key frame`);
              assert.ok(slots.some((slot) => slot.is_key === false), `${stream}: not every frame is a key`);
              for (let i = 1; i < frames; i++) {
                if (meta[i]!.worker !== meta[i - 1]!.worker) {
                  assert.ok(slots[i]!.is_key, `${stream}: frame ${i}, the first on ${meta[i]!.worker}, is a key`);
                }
              }
            }
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

natsTest(
  "jetstream: the collector writes label maps as they come and reorders the metadata; an overflow is reported",
  async (server) => {
    await withTempDir(async (dir) => {
      const nc = await connect({ servers: server.url });
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      // Results as a worker publishes them, frame 0 last (a dead worker's frame, redelivered after AckWait).
      const results = async (job: string, frames: number) => {
        const names = busNames(job);
        await ensureFramesStream(jsm, names);
        await ensureResultsStream(jsm, names);
        for (const index of [...Array(frames).keys()].slice(1).concat(0)) {
          const h = headers();
          h.set(header.stream, "s");
          h.set(header.index, String(index));
          h.set(header.metadata, JSON.stringify({ stream: "s", index }));
          await js.publish(names.resultSubject("s"), new Uint8Array([index & 255]), { headers: h });
        }
        await js.publish(names.resultSubject("s"), new Uint8Array(), { headers: endHeaders("s", frames) });
      };
      try {
        await results("late", 400); // more than the old 256-result window
        const out = join(dir, "late");
        const collected = await collect({ nats: server.url, stream: "late", output: out, idleTimeoutS: 10 });
        assert.deepEqual(collected.streams, { s: 400 });
        assert.deepEqual([collected.duplicates, collected.late, collected.incomplete], [0, 0, []]);
        assert.deepEqual((await lines(out, "s")).map((m) => m.index), [...Array(400).keys()]);
        assert.equal([...Deno.readDirSync(join(out, "s"))].length, 400);
        assert.deepEqual(await Deno.readFile(join(out, "s", "000007.png")), new Uint8Array([7]));

        await results("tight", 30);
        const tight = join(dir, "tight");
        const logs: string[] = [];
        const cut = await collect({
          nats: server.url,
          stream: "tight",
          output: tight,
          reorder: 10,
          idleTimeoutS: 3,
          log: (line) => logs.push(line),
        });
        assert.deepEqual(cut.missing, { s: 1 }, logs.join("\n"));
        assert.equal(cut.late, 1, "frame 0 came after it was given up on: late, not a duplicate");
        assert.equal(cut.duplicates, 0);
        assert.deepEqual(cut.incomplete, ["s"]);
        assert.deepEqual((await lines(tight, "s")).map((m) => m.index), [...Array(30).keys()].slice(1));
        assert.match(logs.join("\n"), /reorder buffer full \(10\); frames 0\.\.0 skipped as missing/);
      } finally {
        await nc.close();
      }
    });
  },
);

natsTest(
  "jetstream: a worker whose lease is taken while it works drains its frames; the stream goes on without a stall",
  async (server, dir, graphFile) => {
    const frames = 40;
    await writeY4m(join(dir, "a.y4m"), frames, 5);
    const abort = new AbortController();
    const logs: string[] = [];
    const worker = (id: string) =>
      testWorker(server, graphFile, "steal", id, abort.signal, logs, {
        leaseS: 1.5,
        pin: true,
        set: ["execution.realtime_fps=20"],
      });
    const workers = [worker("w0")];
    const nc = await connect({ servers: server.url });
    try {
      await publish({ inputs: [join(dir, "a.y4m")], nats: server.url, stream: "steal", format: "raw" });
      const started = performance.now();
      const collecting = collect({ nats: server.url, stream: "steal", output: join(dir, "out"), idleTimeoutS: 20 });
      const jsm = await jetstreamManager(nc);
      for (let i = 0; i < 200; i++) {
        const info = await jsm.streams.info("steal_RESULTS").catch(() => undefined);
        if ((info?.state.messages ?? 0) >= 8) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      // Another owner writes the lease (as a worker would after w0 stalled past the lease time).
      const kv = await new Kvm(nc).open("steal_leases");
      await kv.put("stream.a", "intruder");
      workers.push(worker("w1"));
      const collected = await collecting;
      const seconds = (performance.now() - started) / 1000;
      abort.abort();
      const reports = await Promise.all(workers);
      const log = logs.join("\n");
      assert.match(log, /w0: lost the lease on stream a/);
      assert.deepEqual(collected.streams, { a: frames }, log);
      assert.deepEqual(collected.incomplete, [], log);
      assert.deepEqual((await lines(join(dir, "out"), "a")).map((m) => m.index), [...Array(frames).keys()]);
      // The frames w0 had in its graph were acked as they finished: nobody waited out an AckWait (30 s).
      assert.ok(seconds < 20, `${seconds.toFixed(1)} s\n${log}`);
      assert.ok(reports.reduce((sum, r) => sum + r.frames, 0) >= frames);
    } finally {
      abort.abort();
      await Promise.allSettled(workers);
      await nc.close();
    }
  },
);

natsTest(
  "jetstream: Ctrl-C stops a publisher whose input is quiet; what it sent gets its end marker",
  async (server) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scaleout/publish.ts", "-", "--nats", server.url, "--stream", "quiet", "--format", "raw"],
      cwd: projectRoot,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    const width = 16, height = 8;
    await writer.write(new TextEncoder().encode(formatY4mHeader(width, height, 15)));
    for (const frame of patternFrames({ width, height, frames: 2, fps: 15, seed: 1, noise: 0 })) {
      await writer.write(new TextEncoder().encode("FRAME\n"));
      await writer.write(rgbToYuv420(frame.image.data, width, height));
    }
    // The pipe stays open and quiet: the publisher waits for a third frame.
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      let messages = 0;
      for (let i = 0; i < 200 && messages < 2; i++) {
        messages = await jsm.streams.info("quiet").then((info) => info.state.messages, () => 0);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(messages, 2);
      child.kill("SIGINT");
      const { code, stderr } = await child.output();
      const log = new TextDecoder().decode(stderr);
      assert.equal(code, 0, log);
      assert.match(log, /published 2 frames/);
      const info = await jsm.streams.info("quiet");
      assert.equal(info.state.messages, 3, "two frames and the end marker");
    } finally {
      await writer.close().catch(() => {});
      await nc.close();
    }
  },
);

natsTest("jetstream: a worker with another --lease-s than the job's leases fails in one line", async (server) => {
  const nc = await connect({ servers: server.url });
  try {
    const first = await Leases.open(nc, "lease_job_leases", "w0", 10);
    assert.deepEqual(first.held, []);
    await assert.rejects(() => Leases.open(nc, "lease_job_leases", "w1", 3), /--lease-s 3: .*set up with 10 s/);
    await Leases.open(nc, "lease_job_leases", "w2", 10);
  } finally {
    await nc.close();
  }
});

natsTest(
  "jetstream: a frame delivered more than --max-deliver times is published as an error, the rest go on",
  async (server, dir, graphFile) => {
    await writeY4m(join(dir, "a.y4m"), 6, 7);
    await publish({ inputs: [join(dir, "a.y4m")], nats: server.url, stream: "poison", format: "raw" });
    // Frame 0 taken and given back 3 times, as by workers that failed on it.
    const nc = await connect({ servers: server.url });
    try {
      const names = busNames("poison");
      const jsm = await jetstreamManager(nc);
      await jsm.consumers.add(names.frames, {
        durable_name: names.consumer("a"),
        filter_subject: names.frameSubject("a"),
        ack_policy: AckPolicy.Explicit,
        max_ack_pending: 1,
      });
      const consumer = await jetstream(nc).consumers.get(names.frames, names.consumer("a"));
      for (let i = 0; i < 3; i++) {
        const msg = await consumer.next({ expires: 2000 });
        assert.equal(msg?.headers?.get(header.index), "0");
        msg!.nak();
        await nc.flush(); // the nak reaches the server before the next pull (and before the close)
      }
    } finally {
      await nc.close();
    }
    const abort = new AbortController();
    const logs: string[] = [];
    const worker = testWorker(server, graphFile, "poison", "w0", abort.signal, logs, { pin: true, maxDeliver: 3 });
    try {
      const out = join(dir, "out");
      const collected = await collect({ nats: server.url, stream: "poison", output: out, idleTimeoutS: 10 });
      assert.deepEqual(collected.streams, { a: 6 }, logs.join("\n"));
      const meta = await lines(out, "a");
      assert.deepEqual(meta.map((m) => m.index), [0, 1, 2, 3, 4, 5]);
      assert.match(String(meta[0]!.error), /frame 0: delivered 4 times without a result/);
      assert.ok(meta.slice(1).every((m) => m.error === undefined));
      assert.equal([...Deno.readDirSync(join(out, "a"))].length, 5, "no label map for the error");
    } finally {
      abort.abort();
      await worker;
    }
  },
);

natsTest(
  "jetstream: a server restart mid-stream is waited out by the worker and the collector; no frame is lost",
  async (server, dir, graphFile) => {
    const frames = 40;
    await writeY4m(join(dir, "a.y4m"), frames, 8);
    await publish({ inputs: [join(dir, "a.y4m")], nats: server.url, stream: "restart", format: "raw" });
    const abort = new AbortController();
    const logs: string[] = [];
    const worker = testWorker(server, graphFile, "restart", "w0", abort.signal, logs, {
      pin: true,
      set: ["execution.realtime_fps=20"],
    });
    try {
      const collecting = collect({
        nats: server.url,
        stream: "restart",
        output: join(dir, "out"),
        idleTimeoutS: 30,
        log: (line) => logs.push(`collect: ${line}`),
      });
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      for (let i = 0; i < 200; i++) {
        const info = await jsm.streams.info("restart_RESULTS").catch(() => undefined);
        if ((info?.state.messages ?? 0) >= 8) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await nc.close();
      await server.restart(1500);
      const collected = await collecting;
      const log = logs.join("\n");
      assert.match(log, /w0: lost the connection to .*; reconnecting/);
      assert.match(log, /w0: reconnected to/);
      assert.deepEqual(collected.streams, { a: frames }, log);
      assert.deepEqual(collected.incomplete, [], log);
      assert.deepEqual((await lines(join(dir, "out"), "a")).map((m) => m.index), [...Array(frames).keys()]);
    } finally {
      abort.abort();
      await worker.catch(() => {});
    }
  },
);

natsTest(
  "jetstream: a worker that joins late gets a pinned stream handed over; every frame once, in order",
  async (server, dir, graphFile) => {
    const frames = 40;
    await writeY4m(join(dir, "a.y4m"), frames, 9);
    await writeY4m(join(dir, "b.y4m"), frames, 10);
    const abort = new AbortController();
    const logs: string[] = [];
    const options = { pin: true, leaseS: 1, set: ["execution.realtime_fps=10"] };
    const workers = [testWorker(server, graphFile, "late", "w0", abort.signal, logs, options)];
    try {
      await publish({ inputs: [join(dir, "a.y4m"), join(dir, "b.y4m")], nats: server.url, stream: "late" });
      const collecting = collect({ nats: server.url, stream: "late", output: join(dir, "out"), idleTimeoutS: 20 });
      // w0 holds both streams for a while before w1 starts.
      for (let i = 0; i < 100 && !logs.join("\n").includes("took stream b"); i++) await sleep(50);
      await sleep(1500);
      workers.push(testWorker(server, graphFile, "late", "w1", abort.signal, logs, options));
      const collected = await collecting;
      abort.abort();
      const reports = await Promise.all(workers);
      const log = logs.join("\n");
      assert.match(log, /w0: handing stream [ab] over/);
      assert.deepEqual(collected.streams, { a: frames, b: frames }, log);
      assert.deepEqual(collected.incomplete, [], log);
      for (const stream of ["a", "b"]) {
        const meta = await lines(join(dir, "out"), stream);
        assert.deepEqual(meta.map((m) => m.index), [...Array(frames).keys()], `${stream}: once each, in order`);
      }
      assert.ok(reports[1]!.frames > 0, `w1 got work: ${JSON.stringify(reports.map((r) => r.streams))}`);
    } finally {
      abort.abort();
      await Promise.allSettled(workers);
    }
  },
);
