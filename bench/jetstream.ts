/**
 * Scale-out over JetStream on 127.0.0.1: the same input (two y4m streams) through a local `runGraph`, then through
 * a JetStream job (publisher and collector in this process, workers as processes) with 1 and with 2 workers. Prints
 * a markdown table: frames per second end to end (first publish to last result written) and the bus's overhead per
 * frame against the local run. Needs `nats-server` on PATH.
 *
 * `deno run -A bench/jetstream.ts [frames per stream] [WxH] [jpeg|raw]` (default 60 480x360 jpeg)
 *
 * @module
 */
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { patternFrames } from "../datasets/pattern.ts";
import { formatY4mHeader, rgbToYuv420 } from "../datasets/y4m.ts";
import { loadGraph } from "../engine/graph_load.ts";
import { runGraph } from "../engine/run.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { publish } from "../scaleout/publish.ts";
import { collect } from "../scaleout/collect.ts";
import { startNatsServer } from "../tests/_nats_server.ts";

const root = new URL("..", import.meta.url).pathname;
const modelsRoot = join(root, "models");

/**
 * The graphs measured: a cheap network (the bus dominates) and the synthetic-world `seg` (the model dominates), both
 * per-frame (streams shared by the workers); and DFF on the synthetic models (stream state: streams pinned).
 */
const graphs: { name: string; text: string; models?: string }[] = [
  {
    name: "testing/seg (1x1 conv)",
    text: `name: bench\nmodel_set: testing\nsource: { kind: pattern }\nmodels: { seg: seg }\n` +
      `stages:\n  - { id: seg, kind: model, model: seg, out: { labels: labels } }\n`,
  },
  {
    name: "synthetic/seg",
    text: `name: bench\nmodel_set: synthetic\nsource: { kind: pattern }\nmodels: { seg: seg }\n` +
      `stages:\n  - { id: seg, kind: model, model: seg, in: { image: image }, out: { labels: labels } }\n`,
  },
  {
    name: "synthetic DFF (pinned)",
    text: (await Deno.readTextFile(new URL("../graphs/dff.yaml", import.meta.url))).replace(/^sinks:[\s\S]*$/m, ""),
    models: "synthetic",
  },
];

async function writeY4m(path: string, frames: number, seed: number, width: number, height: number) {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  await file.write(new TextEncoder().encode(formatY4mHeader(width, height, 15)));
  for (const frame of patternFrames({ width, height, frames, fps: 15, seed, noise: 8 })) {
    await file.write(new TextEncoder().encode("FRAME\n"));
    await file.write(rgbToYuv420(frame.image.data, width, height));
  }
  file.close();
}

/** Frames per second of a local run over both inputs. */
async function local(graphFile: string, inputs: string[], models?: string): Promise<{ fps: number; frames: number }> {
  const graph = await loadGraph(graphFile, {
    registry: builtinRegistry(),
    modelsRoot,
    inputs,
    ...(models ? { modelSet: models } : {}),
  });
  const start = performance.now();
  const report = await runGraph(graph, { quiet: true, hostSlots: ["labels"] });
  return { fps: report.frames / ((performance.now() - start) / 1000), frames: report.frames };
}

/** Frames per second of a JetStream job with `workers` worker processes. */
async function bus(
  graphFile: string,
  inputs: string[],
  workers: number,
  format: "jpeg" | "raw",
  dir: string,
  models?: string,
): Promise<number> {
  const server = await startNatsServer();
  const children: Deno.ChildProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      children.push(
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "scaleout/worker.ts",
            graphFile,
            "--nats",
            server.url,
            "--stream",
            "bench",
            "--poll-ms",
            "200",
            ...(models ? ["--models", models] : []),
          ],
          cwd: root,
          stdout: "null",
          stderr: Deno.env.get("SEGFLOW_BENCH_DEBUG") ? "inherit" : "null",
        }).spawn(),
      );
    }
    // Timing starts once every worker is up (its presence is in the lease bucket).
    const nc = await connect({ servers: server.url });
    const kv = await new Kvm(nc).create("bench_leases", { ttl: 10000, history: 1 });
    for (let up = 0; up < workers; await new Promise((r) => setTimeout(r, 100))) {
      up = 0;
      for await (const _ of await kv.keys("worker.*")) up++;
    }
    await nc.close();
    const start = performance.now();
    const [published, collected] = await Promise.all([
      publish({ inputs, nats: server.url, stream: "bench", format }),
      collect({ nats: server.url, stream: "bench", output: join(dir, `out-${workers}`), idleTimeoutS: 60 }),
    ]);
    const seconds = (performance.now() - start) / 1000;
    const frames = Object.values(collected.streams).reduce((a, b) => a + b, 0);
    const sent = Object.values(published.streams).reduce((a, b) => a + b, 0);
    if (frames !== sent) throw new Error(`collected ${frames} of ${sent} frames`);
    return frames / seconds;
  } finally {
    for (const child of children) {
      child.kill("SIGTERM");
      await child.status;
    }
    await server.stop();
  }
}

if (import.meta.main) {
  const frames = Number(Deno.args[0] ?? 60);
  const [width, height] = (Deno.args[1] ?? "480x360").split("x").map(Number) as [number, number];
  const format = (Deno.args[2] ?? "jpeg") as "jpeg" | "raw";
  const dir = await Deno.makeTempDir({ prefix: "segflow-bench-js-" });
  try {
    const inputs = [join(dir, "a.y4m"), join(dir, "b.y4m")];
    await writeY4m(inputs[0]!, frames, 1, width, height);
    await writeY4m(inputs[1]!, frames, 2, width, height);
    const rows: string[] = [];
    const only = Deno.env.get("SEGFLOW_BENCH_ONLY");
    for (const { name, text, models } of graphs.filter((g) => !only || g.name.startsWith(only))) {
      const graphFile = join(dir, "graph.yaml");
      await Deno.writeTextFile(graphFile, text);
      const base = await local(graphFile, inputs, models);
      const row = (how: string, fps: number) =>
        `| ${name} | ${how} | ${fps.toFixed(1)} | ${(1000 / fps).toFixed(1)} | ${
          how === "local" ? "-" : (1000 / fps - 1000 / base.fps).toFixed(1)
        } |`;
      rows.push(row("local", base.fps));
      for (const workers of [1, 2]) {
        rows.push(
          row(
            `JetStream, ${workers} worker${workers > 1 ? "s" : ""}`,
            await bus(graphFile, inputs, workers, format, dir, models),
          ),
        );
      }
    }
    console.log(
      `${
        2 * frames
      } frames (2 streams of ${frames}, ${width}x${height}, ${format}), ${navigator.hardwareConcurrency} cores\n`,
    );
    console.log("| graph | run | fps | ms / frame | bus overhead ms / frame |");
    console.log("| --- | --- | ---: | ---: | ---: |");
    for (const row of rows) console.log(row);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
