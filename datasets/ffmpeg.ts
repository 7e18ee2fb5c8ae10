/**
 * ffmpeg and ffprobe as child processes: probing a video, decoding it to raw RGB frames on a pipe, and
 * encoding raw RGB frames into a video file. Children run in their own process group, so a Ctrl-C in the
 * terminal reaches Segflow only, which then finalises the output itself.
 *
 * @module
 */
import { InputError } from "../engine/errors.ts";

/** What ffprobe says about a video's first video stream. */
export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  /** Frame count if the container states it. */
  frames?: number;
}

/** True when ffmpeg can be run. */
export async function hasFfmpeg(): Promise<boolean> {
  try {
    const out = await new Deno.Command("ffmpeg", { args: ["-version"], stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

function missingFfmpeg(): InputError {
  return new InputError("ffmpeg is not installed (apt-get install ffmpeg); it is needed for video files");
}

/**
 * Reads a video's size and frame rate.
 *
 * @throws {InputError} naming the file when it is missing or not a readable video.
 */
export async function probeVideo(path: string): Promise<VideoInfo> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ffprobe", {
      args: [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames",
        "-of",
        "json",
        path,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch {
    throw missingFfmpeg();
  }
  const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
  if (!out.success) throw new InputError(`${path}: not a readable video (${stderr.replace(/^.*?: /, "")})`);
  const stream = JSON.parse(new TextDecoder().decode(out.stdout)).streams?.[0];
  if (!stream?.width || !stream?.height) throw new InputError(`${path}: no video stream found`);
  const rate = (text: string | undefined) => {
    const [num, den] = (text ?? "").split("/").map(Number);
    return num && den ? num / den : 0;
  };
  const info: VideoInfo = {
    width: stream.width,
    height: stream.height,
    fps: rate(stream.avg_frame_rate) || rate(stream.r_frame_rate) || 25,
  };
  const frames = Number(stream.nb_frames);
  if (Number.isInteger(frames) && frames > 0) info.frames = frames;
  return info;
}

/** Starts `ffmpeg` decoding `path` to raw rgb24 frames on its stdout. */
export function spawnDecoder(path: string): Deno.ChildProcess {
  try {
    return new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
  } catch {
    throw missingFfmpeg();
  }
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

/** Starts `ffmpeg` encoding raw rgb24 frames from its stdin into `path`. */
export function spawnEncoder(path: string, width: number, height: number, fps: number): Deno.ChildProcess {
  try {
    return new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        `${width}x${height}`,
        "-r",
        String(fps),
        "-i",
        "-",
        ...encoderArgs(path),
        path,
      ],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
      detached: true,
    }).spawn();
  } catch {
    throw missingFfmpeg();
  }
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
