/**
 * ffmpeg as a child process (the one `ffmpegTools` resolves): decoding a video to raw RGB frames on a
 * pipe, and encoding raw RGB frames into a video file (probing is in `ffmpeg_probe.ts`). Children run in
 * their own process group, so a Ctrl-C in the terminal reaches Segflow only, which then finalises the
 * output itself.
 *
 * @module
 */
import { recordToolUse } from "../engine/tool_use.ts";
import { ffmpegTools } from "./ffmpeg_binary.ts";

export { probeVideo, type VideoInfo } from "./ffmpeg_probe.ts";

/** Starts the resolved ffmpeg with `args` in its own process group. */
async function spawnFfmpeg(
  args: string[],
  stdin: "piped" | "null",
  stdout: "piped" | "null",
): Promise<Deno.ChildProcess> {
  const { ffmpeg } = await ffmpegTools();
  recordToolUse("ffmpeg", ffmpeg);
  return new Deno.Command(ffmpeg.path, { args, stdin, stdout, stderr: "piped", detached: true }).spawn();
}

/**
 * Starts ffmpeg decoding `path`'s first video stream to raw rgb24 frames on its stdout. Only errors reach
 * stderr (`-v error`), so anything there is ffmpeg complaining about the file; packets the demuxer
 * marks corrupt (the cut-off end of a truncated file) are dropped rather than decoded into garbage.
 */
export function spawnDecoder(path: string): Promise<Deno.ChildProcess> {
  return spawnFfmpeg(
    [
      ...["-v", "error", "-nostdin", "-fflags", "+discardcorrupt", "-i", path],
      ...["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    ],
    "null",
    "piped",
  );
}

/** Codec arguments for an output file, by extension. */
function encoderArgs(path: string): string[] {
  const lower = path.toLowerCase();
  if (lower.endsWith(".webm")) return ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "32", "-deadline", "realtime"];
  if (lower.endsWith(".avi")) return ["-c:v", "mjpeg", "-q:v", "3"];
  if (lower.endsWith(".gif")) return [];
  const args = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"];
  if (lower.endsWith(".mp4") || lower.endsWith(".mov") || lower.endsWith(".m4v")) args.push("-movflags", "+faststart");
  return args;
}

/** Starts ffmpeg encoding raw rgb24 frames from its stdin into `path`. */
export function spawnEncoder(path: string, width: number, height: number, fps: number): Promise<Deno.ChildProcess> {
  return spawnFfmpeg(
    [
      ...["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${width}x${height}`, "-r", String(fps)],
      ...["-i", "-", ...encoderArgs(path), path],
    ],
    "piped",
    "null",
  );
}

/** Collects a child's stderr (bounded to the last 4 KB) for error messages. */
export function collectStderr(child: Deno.ChildProcess): Promise<string> {
  return (async () => {
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) text = (text + decoder.decode(chunk)).slice(-4096);
    return text.trim();
  })();
}
