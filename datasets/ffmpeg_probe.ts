/**
 * What a video file declares about its first video stream: size, frame rate, container format and the
 * frame count (so a truncated file can be told from a short one). Read with ffprobe, or with ffmpeg
 * itself (`ffmpeg -i`) when no ffprobe can be run or it crashes.
 *
 * @module
 */
import { InputError } from "../engine/errors.ts";
import { recordToolUse, type ToolInfo } from "../engine/tool_use.ts";
import { type FfmpegTools, ffmpegTools } from "./ffmpeg_binary.ts";

/** What a video's container says about its first video stream. */
export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  /** ffmpeg's name of the container format (`mov,mp4,m4a,3gp,3g2,mj2`, `avi`, `matroska,webm`...). */
  format: string;
  /** Frame count the container declares (nb_frames, or duration x fps where the container stores a duration). */
  frames?: number;
}

/** Containers whose duration is stored, not estimated from the bit rate (MPEG-TS, MPEG-PS, raw streams). */
const storedDuration = /^(mov|matroska|avi|asf|flv|ogg|gif)/;

/** The frame count a container declares: `nb_frames`, else duration x fps where the duration is stored. */
function declaredFrames(format: string, nbFrames: unknown, duration: unknown, fps: number): number | undefined {
  const frames = Number(nbFrames);
  if (Number.isInteger(frames) && frames > 0) return frames;
  const seconds = Number(duration);
  if (storedDuration.test(format) && Number.isFinite(seconds) && seconds > 0) return Math.round(seconds * fps);
  return undefined;
}

/** ffmpeg's complaints without the `[demuxer @ 0x...]` and `path:` prefixes, distinct, joined. */
function reasonOf(stderr: string, path: string): string {
  const lines = stderr.split("\n").map((l) => l.trim().replace(/^\[[^\]]* @ 0x[0-9a-f]+\] /, "")).filter(Boolean);
  const reasons = [...new Set(lines.map((l) => l.startsWith(`${path}: `) ? l.slice(path.length + 2) : l))];
  const moov = reasons.find((r) => r.includes("moov atom not found"));
  if (moov) return "moov atom not found: the file is truncated or was never finalised";
  return reasons.slice(-2).join("; ").slice(0, 240) || "ffmpeg could not open it";
}

/** ffprobe's answer, or `null` when ffprobe crashed (the bundled static builds segfault on MPEG-TS). */
async function withFfprobe(ffprobe: ToolInfo, path: string): Promise<VideoInfo | null> {
  recordToolUse("ffprobe", ffprobe);
  const out = await new Deno.Command(ffprobe.path, {
    args: [
      ...["-v", "error", "-select_streams", "v:0", "-of", "json", "-show_entries"],
      "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,duration:format=format_name,duration",
      path,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.signal) return null;
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new InputError(`${path}: not a readable video (${reasonOf(stderr, path)})`);
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  const stream = json.streams?.[0];
  if (!stream?.width || !stream?.height) throw new InputError(`${path}: no video stream found`);
  const rate = (text: string | undefined) => {
    const [num, den] = (text ?? "").split("/").map(Number);
    return num && den ? num / den : 0;
  };
  const fps = rate(stream.avg_frame_rate) || rate(stream.r_frame_rate) || 25;
  const format = String(json.format?.format_name ?? "");
  const frames = declaredFrames(format, stream.nb_frames, stream.duration ?? json.format?.duration, fps);
  return { width: stream.width, height: stream.height, fps, format, ...(frames ? { frames } : {}) };
}

/** `ffmpeg -i path` prints the streams on stderr (and fails, having no output): read them from there. */
async function withFfmpeg(ffmpeg: ToolInfo, path: string): Promise<VideoInfo> {
  recordToolUse("ffmpeg", ffmpeg);
  const out = await new Deno.Command(ffmpeg.path, {
    args: ["-hide_banner", "-nostdin", "-i", path],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const input = stderr.match(/^Input #0, (.+?), from /m);
  if (!input) throw new InputError(`${path}: not a readable video (${reasonOf(stderr, path)})`);
  const video = stderr.match(/^\s*Stream #0:\d+.*?: Video: (.*)$/m)?.[1];
  const size = video?.match(/, (\d+)x(\d+)/);
  if (!video || !size) throw new InputError(`${path}: no video stream found`);
  const fps = Number(video.match(/([\d.]+) fps/)?.[1] ?? video.match(/([\d.]+) tbr/)?.[1] ?? 25);
  const d = stderr.match(/Duration: (\d+):(\d+):([\d.]+)/);
  const duration = d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : undefined;
  const format = input[1]!;
  const frames = declaredFrames(format, undefined, duration, fps);
  return { width: Number(size[1]), height: Number(size[2]), fps, format, ...(frames ? { frames } : {}) };
}

/**
 * Reads a video's size, frame rate and declared frame count.
 *
 * @param tools which programs to run (default: the process's, see `ffmpegTools`).
 * @throws {InputError} naming the file when it is missing or not a readable video, e.g.
 *   `in.mp4: not a readable video (moov atom not found: the file is truncated or was never finalised)`.
 */
export async function probeVideo(path: string, tools?: FfmpegTools): Promise<VideoInfo> {
  const { ffmpeg, ffprobe } = tools ?? await ffmpegTools();
  return (ffprobe ? await withFfprobe(ffprobe, path) : null) ?? await withFfmpeg(ffmpeg, path);
}
