/**
 * `deno task ffmpeg ARGS...`: runs the ffmpeg Segflow uses (`SEGFLOW_FFMPEG`, a newer system ffmpeg, or
 * the bundled static one) with ARGS, stdin and stdout passed through, so pipes work on a machine without
 * a system ffmpeg. `deno task ffprobe` (this file with `--ffprobe` first) does the same for ffprobe.
 *
 * @example
 * ```sh
 * deno task ffmpeg -i in.mp4 -f yuv4mpegpipe - | deno task run graphs/per-frame.yaml --input - --output - | deno task ffmpeg -f yuv4mpegpipe -i - out.mp4
 * ```
 *
 * @module
 */
import { ffmpegTools } from "../datasets/ffmpeg_binary.ts";

/** Runs the resolved ffmpeg (or ffprobe with `--ffprobe` first) with `args`; returns its exit code. */
export async function runFfmpeg(args: string[]): Promise<number> {
  const probe = args[0] === "--ffprobe";
  const tools = await ffmpegTools();
  const tool = probe ? tools.ffprobe : tools.ffmpeg;
  if (!tool) throw new Error("no runnable ffprobe (set SEGFLOW_FFPROBE, or run 'deno install')");
  const child = new Deno.Command(tool.path, {
    args: probe ? args.slice(1) : args,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches ffmpeg too (same process group); wait for it to finish the file instead of dying first.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  try {
    return (await child.status).code;
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await runFfmpeg(Deno.args));
  } catch (error) {
    console.error(`error: ${(error as Error).message.split("\n")[0]}`);
    Deno.exit(1);
  }
}
