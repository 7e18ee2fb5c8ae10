/**
 * The `live` source: a camera or a stream on its own clock, decoded by ffmpeg to rgb24. `--input` picks it for
 * `rtsp://`, `rtsps://`, `rtmp://`, `rtmps://`, `http(s)://` (HLS `.m3u8`, MJPEG, MPEG-TS over HTTP; a URL
 * ending in a video file's extension such as `.mp4` stays a `video` file), `udp://`, `rtp://`, `tcp://`,
 * `srt://` (when the ffmpeg in use has the protocol) and V4L2 devices (`/dev/video0`). Frames are marked live
 * (`info.live`), so the run is real time (`keep_latest`) unless the graph sets `execution.overflow` (README,
 * "Live sources").
 * A drop (ffmpeg exits, or no frame for `stall_s`) reconnects with back-off (see `live_stream.ts`).
 *
 * @module
 */
import { InputError, UsageError } from "../engine/errors.ts";
import { assertFrameSize } from "../engine/frame_limits.ts";
import { defineSource, type FrameSource, type SourceDefinition } from "../engine/source.ts";
import type { ParamSchema } from "../engine/params.ts";
import { recordToolUse } from "../engine/tool_use.ts";
import { ffmpegTools } from "./ffmpeg_binary.ts";
import { redactUrl } from "./live_connection.ts";
import { LiveStream } from "./live_stream.ts";
import { videoExtensions } from "./video.ts";

/** URL schemes read as live streams. */
export const liveSchemes = ["rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "rtp", "tcp", "srt"];

/** Whether `--input` reads `input` as a live source: a live URL scheme, or a V4L2 device path. */
export function isLiveInput(input: string): boolean {
  if (/^\/dev\/video\d+$/.test(input)) return true;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(input)?.[1]?.toLowerCase();
  if (!scheme || !liveSchemes.includes(scheme)) return false;
  if (scheme !== "http" && scheme !== "https") return true;
  // A file on a web server is a video; MPEG-TS (`.ts`) over HTTP is usually a live stream.
  const path = input.replace(/[?#].*$/, "").toLowerCase();
  return !videoExtensions.some((ext) => ext !== ".ts" && ext !== ".mts" && path.endsWith(ext));
}

/** What the source reports, for tests: warnings (default: stderr). */
export interface LiveSourceOptions {
  warn?: (message: string) => void;
}

const params = {
  url: {
    type: "string",
    required: true,
    doc: "stream URL (rtsp://, rtmp://, http(s)://, udp://, srt://) or V4L2 device (/dev/video0)",
  },
  width: { type: "integer", min: 1, doc: "scale frames to this width (with height; default: the stream's size)" },
  height: { type: "integer", min: 1, doc: "scale frames to this height (with width)" },
  fps: { type: "number", min: 0.1, doc: "frame rate outputs are written at (default: the stream's, else 25)" },
  stall_s: { type: "number", min: 0.1, default: 5, doc: "no frame for this long is a drop (twice that to connect)" },
  reconnect: {
    type: "integer",
    min: 0,
    doc: "reconnect attempts after a drop before the run fails; 0: a drop ends the run (default: unlimited)",
  },
  connect_attempts: { type: "integer", min: 1, default: 3, doc: "tries for the first connection" },
  backoff_s: { type: "number", min: 0, default: 0.5, doc: "first wait before reconnecting; doubles each try" },
  backoff_max_s: { type: "number", min: 0, default: 10, doc: "longest wait between reconnect attempts" },
  rtsp_transport: {
    type: "string",
    oneOf: ["tcp", "udp", "udp_multicast", "http"],
    default: "tcp",
    doc: "RTSP transport (tcp: no lost packets behind NAT and firewalls)",
  },
  input_format: { type: "string", doc: "V4L2 pixel format to ask the device for (mjpeg, yuyv422)" },
} satisfies ParamSchema;

/** Protocols the ffmpeg in use reads (`ffmpeg -protocols`), asked once. */
let protocols: Promise<Set<string>> | undefined;

async function inputProtocols(path: string): Promise<Set<string>> {
  const out = await new Deno.Command(path, { args: ["-hide_banner", "-protocols"], stdout: "piped", stderr: "null" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  const input = text.split(/^Output:/m)[0]!.split(/^Input:/m)[1] ?? "";
  return new Set(input.split(/\s+/).filter(Boolean));
}

/**
 * The `live` source kind, with its warnings sent to `options.warn`.
 *
 * @example
 * ```ts
 * const registry = builtinRegistry().source(liveSourceWith({ warn: (m) => log.push(m) }));
 * ```
 */
export function liveSourceWith(options: LiveSourceOptions = {}): SourceDefinition<typeof params> {
  const warn = options.warn ?? ((message: string) => console.error(`warning: ${message}`));
  return defineSource({
    kind: "live",
    doc: "A live stream or camera (RTSP/RTMP/HTTP/HLS/UDP/SRT URL, /dev/video*) through ffmpeg, reconnected on drops",
    params,
    input: {
      param: "url",
      accepts: isLiveInput,
      layout: `live: a ${liveSchemes.map((s) => `${s}://`).join(", ")} URL or a /dev/video* device`,
    },
    check(p) {
      if ((p.width === undefined) !== (p.height === undefined)) {
        throw new UsageError(`${redactUrl(p.url)}: give both source.width and source.height, or neither`);
      }
      if (p.width !== undefined && p.height !== undefined) assertFrameSize(redactUrl(p.url), p.width, p.height);
    },
    async open(p): Promise<FrameSource> {
      const shown = redactUrl(p.url);
      const { ffmpeg } = await ffmpegTools();
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(p.url)?.[1]?.toLowerCase();
      if (scheme && !scheme.startsWith("rtsp")) {
        const known = await (protocols ??= inputProtocols(ffmpeg.path));
        if (known.size > 0 && !known.has(scheme)) {
          throw new InputError(
            `${shown}: the ffmpeg in use (${ffmpeg.path}, ${ffmpeg.version}) cannot read ${scheme}://; ` +
              "set SEGFLOW_FFMPEG to one that can",
          );
        }
      }
      recordToolUse("ffmpeg", ffmpeg);
      const size = p.width !== undefined && p.height !== undefined ? { width: p.width, height: p.height } : undefined;
      const stream = await LiveStream.open({
        ffmpeg: ffmpeg.path,
        target: {
          url: p.url,
          device: scheme === undefined,
          rtspTransport: p.rtsp_transport,
          ...(p.input_format ? { inputFormat: p.input_format } : {}),
          ...(size ? { size } : {}),
          ...(p.fps ? { fps: p.fps } : {}),
        },
        shown,
        stallMs: p.stall_s * 1000,
        connectAttempts: p.connect_attempts,
        reconnect: p.reconnect ?? Infinity,
        backoffMs: p.backoff_s * 1000,
        backoffMaxMs: p.backoff_max_s * 1000,
        warn,
      });
      const { width, height, fps } = stream.banner;
      try {
        assertFrameSize(shown, width, height);
      } catch (error) {
        await stream.close();
        throw error;
      }
      return {
        info: { name: shown, width, height, fps: p.fps ?? fps ?? 25, live: true },
        frames: () => stream.frames(),
        close: () => stream.close(),
      };
    },
  });
}

/** The `live` source kind (warnings on stderr). */
export const liveSource: SourceDefinition<typeof params> = liveSourceWith();
