/**
 * Running the CLI (and shell pipelines around it) from tests.
 *
 * @module
 */
import { projectRoot } from "./_helpers.ts";
import { ffmpegTools } from "../datasets/ffmpeg_binary.ts";

/** What a finished command printed. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A main.ts ...args` in the project root, with `stdin` as its standard input and `env` added to
 * this process's environment.
 */
export function cli(args: string[], stdin?: string, env?: Record<string, string>): Promise<CommandResult> {
  return runScript("main.ts", args, stdin, env);
}

/** Runs `deno run -A <script> ...args` in the project root, as {@linkcode cli} runs main.ts. */
export async function runScript(
  script: string,
  args: string[],
  stdin?: string,
  env?: Record<string, string>,
): Promise<CommandResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: projectRoot,
    ...(env ? { env } : {}),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/**
 * Starts `deno run -A main.ts ...args` in the project root without waiting for it (stdout discarded, stderr
 * piped), for tests that signal a running CLI; {@linkcode exited} collects it.
 */
export function spawnCli(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd: projectRoot,
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Waits for a child from {@linkcode spawnCli} to exit: its exit code and stderr. */
export async function exited(child: Deno.ChildProcess): Promise<{ code: number; stderr: string }> {
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/**
 * Polls `dir` until it holds `count` files ending in `suffix` or `timeoutMs` passes (a folder not yet created
 * counts as empty), and returns how many it saw: tests signal a run once it has written frames, instead of
 * sleeping and hoping. It does not throw on a timeout, so the caller still stops the child and asserts.
 */
export async function waitForFiles(dir: string, count: number, suffix = ".png", timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let found = 0;
  while (Date.now() < deadline) {
    found = 0;
    try {
      for (const entry of Deno.readDirSync(dir)) if (entry.name.endsWith(suffix)) found++;
    } catch {
      // Not created yet.
    }
    if (found >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return found;
}

/**
 * Runs a bash command line in the project root; `SEGFLOW` in it expands to the CLI invocation, `DENO` to
 * this Deno (for `DENO task ffmpeg ...`).
 */
export async function shell(command: string): Promise<CommandResult> {
  const segflow = `'${Deno.execPath()}' run -A main.ts`;
  const out = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", command.replaceAll("SEGFLOW", segflow).replaceAll("DENO", `'${Deno.execPath()}'`)],
    cwd: projectRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Number of frames ffprobe counts in a video file (decoding it: proves the file is playable). */
export async function countVideoFrames(path: string): Promise<number> {
  const { ffprobe } = await ffmpegTools();
  if (!ffprobe) throw new Error("no runnable ffprobe (see datasets/ffmpeg_binary.ts)");
  const out = await new Deno.Command(ffprobe.path, {
    args: [
      "-v",
      "error",
      "-count_frames",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=nb_read_frames",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`ffprobe failed on ${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** The shared data folder, and whether a dataset in it is present (tests say so when it is not). */
export const sharedData = new URL("../../shared/data/", import.meta.url).pathname;

/** True when `../shared/data/<relative>` exists; logs a clear note when it does not. */
export function sharedDataPresent(relative: string): boolean {
  try {
    Deno.statSync(`${sharedData}${relative}`);
    return true;
  } catch {
    console.warn(`SKIPPED: ${sharedData}${relative} is missing (shared data not available on this machine)`);
    return false;
  }
}

/** The single `error: ...` line of a command's stderr (warnings may precede it); fails if there are more. */
export function errorLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l.startsWith("error:"));
  if (lines.length !== 1) throw new Error(`expected one 'error:' line, got ${lines.length}:\n${stderr}`);
  return lines[0]!;
}
