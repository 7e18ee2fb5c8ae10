/**
 * The flow model's throughput next to the segmentation model's: the original `flow.onnx` formulation (a
 * Slice/Mul/ReduceSum per cost-volume displacement), the current file (batched cost volumes, decoder inputs padded to
 * multiples of 8 channels) and `seg.onnx`, in one process, call by call in rotating order so all see the same load
 * on a busy machine; medians of wall ms and CPU ms per run, GFLOPs per second, and how far the two flow files'
 * outputs are apart on the same inputs. Markdown table on stdout.
 *
 * `deno run -A bench/flow_model.ts [--set camvid] [--old PATH | --old-rev REV] [--new PATH ...] [--sizes 184x240,360x480]
 * [--runs 40] [--threads 2]`
 *
 * The old file is `PATH`, or `models/<set>/flow.onnx` as of git revision `REV` (default 5dc4f52, the last commit with
 * the original formulation of both sets' files), read with `git show`; `--old ''` leaves it out. 184x240 is what
 * DFF's `flow(scale: 0.5)` feeds the model for 480x360 frames (240x180, padded to multiples of 8); 360x480 is full
 * resolution. GFLOPs are the cards' `cost.gflops` (2 x conv MACs at 360x480) scaled by the pixel count. Inputs are
 * two structured uint8 frames, the second the first shifted by a few pixels plus noise. Sessions are configured as
 * the engine's model workers configure theirs (`engine/session_options.ts`), `--threads` intra-op threads.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { sessionOptions } from "../engine/session_options.ts";
import { loadModelCard, type ModelCard } from "../engine/model_card.ts";
import { median, timeOnce } from "./_cpu_timing.ts";

const ORIGINAL_REV = "5dc4f52";

interface Candidate {
  label: string;
  bytes: Uint8Array;
  gflops: number;
  inputs: string[];
  session?: ort.InferenceSession;
}

/** A smooth pseudo-random RGB frame (sums of sines plus noise), shifted by (dx, dy). */
function frame(width: number, height: number, dx: number, dy: number, seed: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  let s = seed >>> 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x - dx, v = y - dy;
      for (let c = 0; c < 3; c++) {
        s = (s * 1664525 + 1013904223) >>> 0;
        const value = 128 + 60 * Math.sin(u * (0.05 + 0.02 * c) + v * 0.03) + 40 * Math.cos(v * (0.07 - 0.01 * c)) +
          (s >>> 24) / 16;
        data[3 * (y * width + x) + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  return data;
}

async function gitShow(rev: string, path: string): Promise<Uint8Array> {
  const out = await new Deno.Command("git", { args: ["show", `${rev}:${path}`], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`git show ${rev}:${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
  return out.stdout;
}

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  if (a.dims.join() !== b.dims.join()) return Infinity;
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      set: { type: "string", default: "camvid" },
      old: { type: "string" },
      "old-rev": { type: "string", default: ORIGINAL_REV },
      new: { type: "string", multiple: true },
      sizes: { type: "string", default: "184x240,360x480" },
      runs: { type: "string", default: "40" },
      threads: { type: "string", default: "2" },
    },
  });
  const dir = `models/${values.set}`;
  const runs = Number(values.runs), threads = Number(values.threads);
  const sizes = values.sizes.split(",").map((s) => s.split("x").map(Number) as [number, number]);
  const flowCard = await loadModelCard(`${dir}/flow.yaml`);
  const segCard = await loadModelCard(`${dir}/seg.yaml`);
  const gflops = (card: ModelCard) => {
    const cost = card.extra.cost as { gflops?: number; at?: number[] } | undefined;
    if (cost?.at?.join("x") !== "360x480" || typeof cost.gflops !== "number") {
      throw new Error(`${card.cardFile}: no cost at 360x480`);
    }
    return cost.gflops;
  };
  const flowInputs = flowCard.inputs.map((i) => i.name);
  const candidates: Candidate[] = [];
  if (values.old !== "") {
    const bytes = values.old ? await Deno.readFile(values.old) : await gitShow(values["old-rev"], `${dir}/flow.onnx`);
    candidates.push({
      label: values.old ? `old flow (${values.old})` : `old flow (${values["old-rev"]})`,
      bytes,
      gflops: gflops(flowCard),
      inputs: flowInputs,
    });
  }
  for (const path of values.new ?? [`${dir}/flow.onnx`]) {
    candidates.push({
      label: `flow (${path})`,
      bytes: await Deno.readFile(path),
      gflops: gflops(flowCard),
      inputs: flowInputs,
    });
  }
  candidates.push({
    label: `seg (${dir}/seg.onnx)`,
    bytes: await Deno.readFile(`${dir}/seg.onnx`),
    gflops: gflops(segCard),
    inputs: segCard.inputs.map((i) => i.name),
  });
  for (const c of candidates) c.session = await ort.InferenceSession.create(c.bytes, sessionOptions("cpu", threads));

  const flows = candidates.filter((c) => c.inputs.length === 2);
  const lines = [
    `${runs} runs per model and size, ${threads} onnxruntime threads, models called in rotating order; medians.`,
    "",
    "| input (HxW) | model | ms/run | CPU ms/run | GFLOPs | GFLOPs/s | vs old | vs seg GFLOPs/s | max abs diff flow / features vs first |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [h, w] of sizes) {
    const reference = new ort.Tensor("uint8", frame(w, h, 0, 0, 1), [1, h, w, 3]);
    const current = new ort.Tensor("uint8", frame(w, h, 3, -2, 2), [1, h, w, 3]);
    const feedsOf = (c: Candidate): Record<string, ort.Tensor> =>
      c.inputs.length === 2 ? { [c.inputs[0]!]: reference, [c.inputs[1]!]: current } : { [c.inputs[0]!]: current };
    // Outputs of the flow files, compared with the first one's.
    const outputs = [];
    for (const c of flows) outputs.push(await c.session!.run(feedsOf(c)));
    const times = candidates.map(() => ({ ms: [] as number[], cpuMs: [] as number[] }));
    for (let i = 0; i < 3; i++) for (const c of candidates) await c.session!.run(feedsOf(c));
    for (let i = 0; i < runs; i++) {
      for (let j = 0; j < candidates.length; j++) {
        const k = (i + j) % candidates.length, c = candidates[k]!;
        await timeOnce(() => c.session!.run(feedsOf(c)), times[k]!);
      }
    }
    const scale = (h * w) / (360 * 480);
    const rate = (k: number) => (candidates[k]!.gflops * scale) / (median(times[k]!.ms) / 1000);
    const seg = candidates.length - 1;
    for (const [k, c] of candidates.entries()) {
      const f = flows.indexOf(c);
      const diff = f > 0
        ? `${maxAbsDiff(outputs[0]!.flow!, outputs[f]!.flow!).toExponential(1)} / ${
          maxAbsDiff(outputs[0]!.features!, outputs[f]!.features!).toExponential(1)
        }`
        : "";
      lines.push(
        `| ${h}x${w} | ${c.label} | ${median(times[k]!.ms).toFixed(2)} | ${median(times[k]!.cpuMs).toFixed(2)} | ${
          (c.gflops * scale).toFixed(3)
        } | ${rate(k).toFixed(1)} | ${
          values.old !== "" && f >= 0 ? `${(median(times[0]!.ms) / median(times[k]!.ms)).toFixed(2)}x` : ""
        } | ${(rate(k) / rate(seg)).toFixed(2)} | ${diff} |`,
      );
    }
  }
  for (const c of candidates) await c.session!.release();
  console.log(lines.join("\n"));
}
