/**
 * Checks that an output path can be written before a run starts, so a bad `--output`, `--stats`, `--trace`
 * or sink path fails in one line before the first frame instead of after minutes of work.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { InputError } from "./errors.ts";

/** What is expected at an output path. */
export type OutputKind = "file" | "folder";

let probes = 0;

function reason(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotADirectory) return "a part of the path is a file, not a folder";
  if (error instanceof Deno.errors.NotFound) return "no such folder";
  if (error instanceof Deno.errors.AlreadyExists) return "a part of the path is a file, not a folder";
  const message = (error as Error)?.message ?? String(error);
  if (/read-only file system/i.test(message)) return "read-only file system";
  if (/no space left/i.test(message)) return "no space left on the device";
  return message.replace(/ \(os error \d+\).*$/, "").toLowerCase();
}

async function kindAt(path: string): Promise<"file" | "folder" | "special" | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isDirectory ? "folder" : info.isFile ? "file" : "special";
  } catch {
    return undefined;
  }
}

/**
 * Makes sure `path` can be written as a file (or as a folder of files): creates the folder it goes in (as
 * the sinks do), then creates and removes a probe file there. `-` (standard output) always passes.
 *
 * @param label what set the path, for the message: `--stats`, `--output`, `sink 'encode' dir`.
 * @throws {InputError} `<label> <path>: cannot write there (permission denied)`, or that the path is a
 *   folder where a file is expected (or the reverse).
 *
 * @example
 * ```ts
 * await checkWritable("--stats", "out/run.json", "file");
 * ```
 */
export async function checkWritable(label: string, path: string, kind: OutputKind): Promise<void> {
  if (path === "-" || path === "") return;
  const fail = (why: string) => new InputError(`${label} ${path}: ${why}`);
  const existing = await kindAt(path);
  // A pipe or device (`/dev/stdout`, a FIFO) is written in place; opening a FIFO to probe it would block.
  if (existing === "special" && kind === "file") return;
  if (kind === "file" && (existing === "folder" || path.endsWith("/"))) {
    throw fail("is a folder; a file is expected there");
  }
  if (kind === "folder" && (existing === "file" || existing === "special")) {
    throw fail("is a file; a folder is expected there");
  }
  const folder = kind === "folder" ? path : dirname(path);
  try {
    await Deno.mkdir(folder, { recursive: true });
  } catch (error) {
    throw fail(`cannot write there (${reason(error)})`);
  }
  const probe = join(folder, `.segflow-probe-${Deno.pid}-${++probes}`);
  try {
    const file = await Deno.open(probe, { write: true, createNew: true });
    file.close();
  } catch (error) {
    throw fail(`cannot write there (${reason(error)})`);
  }
  await Deno.remove(probe).catch(() => {});
}
