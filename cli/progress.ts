/**
 * A progress bar on stderr, only when stderr is a terminal (stdout may be carrying frames).
 *
 * @module
 */
import cliProgress from "cli-progress";
import process from "node:process";

/** A progress display: `update` after each frame, `stop` at the end. */
export interface Progress {
  update(frames: number, fps: number): void;
  stop(): void;
}

/** Returns a bar on a TTY stderr, else a no-op. */
export function startProgress(total: number | undefined, enabled: boolean): Progress {
  if (!enabled || !Deno.stderr.isTerminal()) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: total ? " {bar} {value}/{total} frames | {fps} fps | eta {eta_formatted}" : " {value} frames | {fps} fps",
    hideCursor: true,
    clearOnComplete: true,
    fps: 5,
  }, cliProgress.Presets.shades_classic);
  bar.start(total ?? 0, 0, { fps: "0.0" });
  return {
    update: (frames, fps) => bar.update(frames, { fps: fps.toFixed(1) }),
    stop: () => bar.stop(),
  };
}
