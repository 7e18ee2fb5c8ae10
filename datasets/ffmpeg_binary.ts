/**
 * Which ffmpeg and ffprobe Segflow runs. In order: `SEGFLOW_FFMPEG` / `SEGFLOW_FFPROBE` (an override that
 * must work), a system program on PATH when it is newer than the bundled one, and the static binaries of
 * the npm packages `@ffmpeg-installer/linux-x64` and `@ffprobe-installer/linux-x64` (pinned in deno.json,
 * so a fresh machine needs no system packages). Deno installs the ffprobe binary without its executable
 * bit, so it is copied once into a cache folder with mode 0755; if that is impossible, videos are probed
 * with ffmpeg itself.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { InputError } from "../engine/errors.ts";
import type { ToolInfo } from "../engine/tool_use.ts";

/** The programs to run; `ffprobe` is `null` when videos must be probed with ffmpeg. */
export interface FfmpegTools {
  ffmpeg: ToolInfo;
  ffprobe: ToolInfo | null;
}

/** What {@linkcode resolveFfmpegTools} looks at; tests inject these. */
export interface ResolveOptions {
  /** Environment (`SEGFLOW_FFMPEG`, `SEGFLOW_FFPROBE`, `PATH`, `XDG_CACHE_HOME`, `HOME`). Default: the process's. */
  env?: Record<string, string | undefined>;
  /** Folders to copy the bundled ffprobe into, first that works. Default: `$XDG_CACHE_HOME/segflow`, `node_modules/.segflow-bin`. */
  cacheDirs?: string[];
  /** The bundled binaries. Default: inside the npm packages. */
  bundled?: { ffmpeg: string | null; ffprobe: string | null };
}

/** A version line parsed: the version word and the copyright year (how builds without a release number compare). */
export interface ParsedVersion {
  version: string;
  release: number[] | null;
  year: number;
}

/**
 * Parses the first lines of `ffmpeg -version` / `ffprobe -version`.
 *
 * @example
 * ```ts
 * parseFfmpegVersion("ffmpeg version 6.1.1-3ubuntu5 Copyright (c) 2000-2023"); // { version: "6.1.1-3ubuntu5", release: [6, 1, 1], year: 2023 }
 * ```
 */
export function parseFfmpegVersion(text: string): ParsedVersion | null {
  const match = text.match(/^ff(?:mpeg|probe) version (\S+)/m);
  if (!match) return null;
  const version = match[1]!;
  const numbers = version.match(/^n?(\d+)\.(\d+)(?:\.(\d+))?/);
  const year = Number(text.match(/Copyright \(c\) \d{4}-(\d{4})/)?.[1] ?? 0);
  return { version, release: numbers ? numbers.slice(1).map((n) => Number(n ?? 0)) : null, year };
}

/** True when `a` is a newer ffmpeg than `b`: by release number when both have one, else by copyright year. */
export function isNewerFfmpeg(a: ParsedVersion, b: ParsedVersion): boolean {
  if (a.release && b.release) {
    for (let i = 0; i < 3; i++) {
      const d = (a.release[i] ?? 0) - (b.release[i] ?? 0);
      if (d) return d > 0;
    }
    return false;
  }
  return a.year > b.year;
}

/** Runs `path -version`; the parsed version, or why it cannot be run. */
async function versionOf(path: string): Promise<ParsedVersion | string> {
  try {
    const out = await new Deno.Command(path, { args: ["-version"], stdin: "null", stdout: "piped", stderr: "null" })
      .output();
    if (!out.success) return `exit code ${out.code}`;
    return parseFfmpegVersion(new TextDecoder().decode(out.stdout)) ?? "it printed no ffmpeg version";
  } catch (error) {
    return (error as Error).message.replace(/^Failed to spawn '.*?': /, "").replace(/ \(os error \d+\)/, "");
  }
}

/** The first executable `name` in a PATH list. */
function onPath(name: string, path: string | undefined): string | null {
  for (const dir of (path ?? "").split(":")) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(join(dir, name));
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return join(dir, name);
    } catch {
      // Not here.
    }
  }
  return null;
}

/** The npm package's binary, or `null` when the package is not installed. */
function bundledBinary(pkg: string, name: string): string | null {
  try {
    const path = join(dirname(fromFileUrl(import.meta.resolve(`${pkg}/package.json`))), name);
    Deno.statSync(path);
    return path;
  } catch {
    return null;
  }
}

function defaultBundled(): { ffmpeg: string | null; ffprobe: string | null } {
  return {
    ffmpeg: bundledBinary("@ffmpeg-installer/linux-x64", "ffmpeg"),
    ffprobe: bundledBinary("@ffprobe-installer/linux-x64", "ffprobe"),
  };
}

function defaultCacheDirs(env: Record<string, string | undefined>): string[] {
  const dirs: string[] = [];
  const cache = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, ".cache") : "");
  if (cache) dirs.push(join(cache, "segflow"));
  dirs.push(fromFileUrl(new URL("../node_modules/.segflow-bin", import.meta.url)));
  return dirs;
}

/**
 * An executable copy of `path` (the bundled ffprobe is installed without its executable bit): the file
 * itself when it already runs, else a copy in the first cache folder that takes it, else `null`.
 */
async function executable(path: string, cacheDirs: string[]): Promise<string | null> {
  if (typeof (await versionOf(path)) !== "string") return path;
  const size = Deno.statSync(path).size;
  let version = "unknown";
  try {
    version = String(JSON.parse(Deno.readTextFileSync(join(dirname(path), "package.json"))).version);
  } catch {
    // No package.json: the size alone tells copies apart.
  }
  // Named after the package version and size, so an upgrade makes a new copy.
  const name = `${basename(path)}-${version.replace(/[^\w.+-]/g, "_")}-${size}`;
  for (const dir of cacheDirs) {
    const target = join(dir, name);
    try {
      const existing = Deno.statSync(target);
      if (existing.size === size && typeof (await versionOf(target)) !== "string") return target;
    } catch {
      // Not copied yet.
    }
    try {
      Deno.mkdirSync(dir, { recursive: true });
      // Copy under a private name and rename: parallel runs never see half a file.
      const partial = `${target}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.partial`;
      Deno.copyFileSync(path, partial);
      Deno.chmodSync(partial, 0o755);
      Deno.renameSync(partial, target);
      if (typeof (await versionOf(target)) !== "string") return target;
    } catch {
      // Read-only or full: try the next folder.
    }
  }
  return null;
}

async function override(variable: string, path: string): Promise<ToolInfo> {
  const version = await versionOf(path);
  if (typeof version === "string") {
    throw new InputError(`${variable}='${path}' cannot be run (${version}); unset it or point it at an executable`);
  }
  return { path, version: version.version, source: "override" };
}

/** Override > system (newer than bundled, or no bundled) > bundled; `null` when there is none. */
async function pick(
  name: "ffmpeg" | "ffprobe",
  env: Record<string, string | undefined>,
  bundledPath: () => Promise<string | null>,
): Promise<ToolInfo | null> {
  const variable = name === "ffmpeg" ? "SEGFLOW_FFMPEG" : "SEGFLOW_FFPROBE";
  if (env[variable]) return await override(variable, env[variable]!);
  const bundle = await bundledPath();
  const bundled = bundle ? await versionOf(bundle) : "not installed";
  const systemPath = onPath(name, env.PATH);
  const system = systemPath ? await versionOf(systemPath) : "not found";
  if (typeof system !== "string" && (typeof bundled === "string" || isNewerFfmpeg(system, bundled))) {
    return { path: systemPath!, version: system.version, source: "system" };
  }
  if (typeof bundled !== "string") return { path: bundle!, version: bundled.version, source: "bundled" };
  return null;
}

/**
 * Finds ffmpeg and ffprobe (see the module doc for the order). Prefer {@linkcode ffmpegTools}, which
 * resolves once per process.
 *
 * @throws {InputError} when an override cannot be run, or no ffmpeg exists at all.
 */
export async function resolveFfmpegTools(options: ResolveOptions = {}): Promise<FfmpegTools> {
  const env = options.env ?? Deno.env.toObject();
  const bundled = options.bundled ?? defaultBundled();
  const cacheDirs = options.cacheDirs ?? defaultCacheDirs(env);
  const runnable = async (path: string | null) => path ? await executable(path, cacheDirs) : null;
  const ffmpeg = await pick("ffmpeg", env, () => runnable(bundled.ffmpeg));
  if (!ffmpeg) {
    throw new InputError(
      "ffmpeg not found: run 'deno install' (it installs npm:@ffmpeg-installer/linux-x64), put ffmpeg on PATH, or set SEGFLOW_FFMPEG",
    );
  }
  return { ffmpeg, ffprobe: await pick("ffprobe", env, () => runnable(bundled.ffprobe)) };
}

let resolved: Promise<FfmpegTools> | undefined;

/**
 * The ffmpeg and ffprobe of this process, resolved on first use and cached.
 *
 * @example
 * ```ts
 * const { ffmpeg } = await ffmpegTools();
 * await new Deno.Command(ffmpeg.path, { args: ["-version"] }).output();
 * ```
 */
export function ffmpegTools(): Promise<FfmpegTools> {
  return resolved ??= resolveFfmpegTools();
}
