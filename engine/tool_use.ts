/**
 * Which external programs (ffmpeg, ffprobe) a run started, for the `--stats` report and `--debug`. The
 * code that spawns a program records it here; a run's stats report the programs used since the run began.
 *
 * @module
 */

/** An external program: where it is, its version, and why it was chosen. */
export interface ToolInfo {
  path: string;
  version: string;
  /** `override` (an environment variable), `system` (found on PATH) or `bundled` (an npm package). */
  source: "override" | "system" | "bundled";
}

const lastUse = new Map<string, { tool: ToolInfo; mark: number }>();
let uses = 0;

/**
 * Notes that `name` was started. Cheap; called on every spawn.
 *
 * @example
 * ```ts
 * recordToolUse("ffmpeg", { path: "/usr/bin/ffmpeg", version: "6.1.1", source: "system" });
 * ```
 */
export function recordToolUse(name: string, tool: ToolInfo): void {
  lastUse.set(name, { tool, mark: ++uses });
}

/** A mark to pass to {@linkcode toolUsedSince} later (the number of uses so far). */
export function toolUseMark(): number {
  return uses;
}

/** The program last used as `name` after `mark` was taken, or `null` when it was not used since. */
export function toolUsedSince(name: string, mark: number): ToolInfo | null {
  const use = lastUse.get(name);
  return use && use.mark > mark ? { ...use.tool } : null;
}
