/**
 * Pipe throughput: YUV4MPEG2 in on stdin, out on stdout, at 480x360, measured side by side in one run:
 * ffmpeg alone doing the same decode + encode, Segflow passing frames through (I/O only), and Segflow
 * segmenting each frame (testing/seg, a 1x1-conv model) with label maps out.
 *
 * `deno run -A bench/pipe_throughput.ts [frames]`
 *
 * @module
 */
import { ffmpegTools } from "../datasets/ffmpeg_binary.ts";

/** One pipeline's throughput. */
export interface PipeResult {
  name: string;
  command: string;
  seconds: number;
  fps: number;
}

async function timeShell(name: string, command: string, frames: number): Promise<PipeResult> {
  const start = performance.now();
  const out = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", command],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  if (!out.success) throw new Error(`${name} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  return { name, command, seconds, fps: frames / seconds };
}

/** Runs the three pipelines over `frames` frames of ffmpeg's test pattern. */
export async function measurePipeThroughput(frames = 300): Promise<PipeResult[]> {
  const input = await Deno.makeTempFile({ suffix: ".y4m" });
  // The ffmpeg Segflow itself would run (override, newer system one, or the bundled one).
  const ffmpegPath = (await ffmpegTools()).ffmpeg.path;
  const ffmpeg = `'${ffmpegPath}'`;
  try {
    const make = await new Deno.Command(ffmpegPath, {
      args: [
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=480x360:rate=30",
        "-frames:v",
        String(frames),
        "-pix_fmt",
        "yuv420p",
        "-f",
        "yuv4mpegpipe",
        input,
      ],
    }).output();
    if (!make.success) throw new Error("ffmpeg could not make the test input");
    const segflow = `'${Deno.execPath()}' run -A main.ts run`;
    return [
      await timeShell(
        "ffmpeg alone (y4m decode + encode)",
        `cat ${input} | ${ffmpeg} -v error -f yuv4mpegpipe -i - -f yuv4mpegpipe -`,
        frames,
      ),
      await timeShell(
        "ffmpeg alone (y4m decode -> gray8 raw encode)",
        `cat ${input} | ${ffmpeg} -v error -f yuv4mpegpipe -i - -f rawvideo -pix_fmt gray -`,
        frames,
      ),
      await timeShell(
        "segflow passthrough (y4m in -> y4m out)",
        `cat ${input} | ${segflow} graphs/tools/passthrough.yaml --input - --output - --quiet`,
        frames,
      ),
      await timeShell(
        "segflow per-frame, testing/seg (y4m in -> gray8 labels out)",
        `cat ${input} | ${segflow} graphs/per-frame.yaml --models testing --input - --output - --format labels --quiet`,
        frames,
      ),
    ];
  } finally {
    await Deno.remove(input);
  }
}

if (import.meta.main) {
  for (const r of await measurePipeThroughput(Number(Deno.args[0] ?? 300))) {
    console.log(`${r.name}: ${r.fps.toFixed(1)} fps (${r.seconds.toFixed(2)} s)`);
  }
}
