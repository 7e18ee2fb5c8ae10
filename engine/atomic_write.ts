/**
 * Atomic file writes: every output file is written under a temporary name in its own folder and renamed
 * into place once complete, so a full disk, a failed write or a crash never leaves a half-written PNG,
 * stats file, trace, jsonl or npy file at the path a user (or the next tool) reads.
 *
 * @module
 */
import { basename, dirname, extname, join } from "node:path";

let counter = 0;
/** Temporary files not yet renamed or removed, for {@linkcode removeTempFiles} on a hard exit. */
const pending = new Set<string>();

/** Remembers a temporary file another writer (ffmpeg) fills, so a hard exit removes it. */
export function trackTemp(path: string): void {
  pending.add(path);
}

/** Forgets a temporary file once it was renamed into place or removed. */
export function untrackTemp(path: string): void {
  pending.delete(path);
}

/**
 * Removes every temporary file still being written (synchronously): called before a hard exit (a second
 * Ctrl-C), so quitting at once leaves neither half-written outputs nor temporary files behind.
 */
export function removeTempFiles(): void {
  for (const path of pending) removeIfThereSync(path);
  pending.clear();
}

/** True when `path` is a pipe, device or socket (`/dev/stdout`, a FIFO): those are written in place. */
function isSpecialSync(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return !info.isFile && !info.isDirectory;
  } catch {
    return false;
  }
}

/**
 * A fresh temporary name next to `path`: `path.tmp-<pid>-<n>`. With `keepExtension` (for tools that pick
 * the format from the name, like ffmpeg) a hidden `.<stem>.tmp-<pid>-<n><ext>` in the same folder.
 */
export function tempPathFor(path: string, options: { keepExtension?: boolean } = {}): string {
  const tag = `tmp-${Deno.pid}-${++counter}`;
  if (!options.keepExtension) return `${path}.${tag}`;
  const ext = extname(path);
  return join(dirname(path), `.${basename(path, ext)}.${tag}${ext}`);
}

/**
 * Writes `bytes` to `path` atomically: to a temporary name, then renamed. On failure the temporary file is
 * removed and the error rethrown; whatever was at `path` before is untouched. Pipes and devices
 * (`/dev/stdout`, a FIFO) are written in place.
 *
 * @example
 * ```ts
 * await writeFileAtomic("out/0001.png", png);
 * ```
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  write: (path: string, bytes: Uint8Array) => Promise<void> = Deno.writeFile,
): Promise<void> {
  if (isSpecialSync(path)) return await write(path, bytes);
  const temp = tempPathFor(path);
  pending.add(temp);
  await completeOrRemove(temp, async () => {
    await write(temp, bytes);
    await Deno.rename(temp, path);
  });
}

/**
 * Runs `complete` (which renames the tracked temporary file `tempPath` into place); if it throws, removes the
 * temporary file and rethrows. Either way `tempPath` is no longer tracked.
 */
async function completeOrRemove(tempPath: string, complete: () => Promise<void>): Promise<void> {
  try {
    await complete();
  } catch (error) {
    await Deno.remove(tempPath).catch(() => {});
    throw error;
  } finally {
    pending.delete(tempPath);
  }
}

/** {@linkcode writeFileAtomic} for text. */
export function writeTextFileAtomic(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, new TextEncoder().encode(text));
}

/** A file being streamed under a temporary name; `commit` renames it into place, `discard` removes it. */
export interface AtomicFile {
  readonly file: Deno.FsFile;
  readonly tempPath: string;
  readonly path: string;
  /** Closes the file and renames it to `path` (once; later calls do nothing). */
  commit(): Promise<void>;
  /** Closes and removes the temporary file (once). */
  discard(): Promise<void>;
}

/** Removes `path` if it is there; a file that is already gone is what the caller wanted. */
function removeIfThereSync(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Gone already.
  }
}

/**
 * Where a streamed write to `path` goes: a pipe or device is opened in place, anything else under a fresh
 * temporary name that only exclusive creation may open (so two writers never share one).
 */
function streamTarget(path: string): { special: boolean; tempPath: string; options: Deno.OpenOptions } {
  const special = isSpecialSync(path);
  return {
    special,
    tempPath: special ? path : tempPathFor(path),
    options: special ? { write: true } : { write: true, createNew: true },
  };
}

/**
 * Closes `file` on the first call and returns true; later calls return false, so `commit` and `discard` each
 * act once whichever of them comes first.
 */
function closeOnce(file: Deno.FsFile): () => boolean {
  let done = false;
  return () => {
    if (done) return false;
    done = true;
    try {
      file.close();
    } catch {
      // Already closed.
    }
    return true;
  };
}

/**
 * Opens a temporary file next to `path` for streaming; the caller commits or discards it. A pipe or device
 * at `path` is opened in place (commit and discard only close it).
 */
export async function openAtomic(path: string): Promise<AtomicFile> {
  const { special, tempPath, options } = streamTarget(path);
  const file = await Deno.open(tempPath, options);
  if (!special) pending.add(tempPath);
  const close = closeOnce(file);
  return {
    file,
    tempPath,
    path,
    async commit() {
      if (!close() || special) return;
      await completeOrRemove(tempPath, () => Deno.rename(tempPath, path));
    },
    async discard() {
      if (!close() || special) return;
      await Deno.remove(tempPath).catch(() => {});
      pending.delete(tempPath);
    },
  };
}

/** The synchronous {@linkcode AtomicFile} of {@linkcode openAtomicSync}. */
export interface AtomicFileSync {
  readonly file: Deno.FsFile;
  /** Closes the file and renames it into place (once; later calls do nothing). */
  commit(): void;
  /** Closes and removes the temporary file (once). */
  discard(): void;
}

/** Synchronous {@linkcode openAtomic}, for writers that flush synchronously (the trace). */
export function openAtomicSync(path: string): AtomicFileSync {
  const { special, tempPath, options } = streamTarget(path);
  const file = Deno.openSync(tempPath, options);
  if (!special) pending.add(tempPath);
  const close = closeOnce(file);
  return {
    file,
    commit() {
      if (!close() || special) return;
      pending.delete(tempPath);
      try {
        Deno.renameSync(tempPath, path);
      } catch (error) {
        removeIfThereSync(tempPath);
        throw error;
      }
    },
    discard() {
      if (!close() || special) return;
      pending.delete(tempPath);
      removeIfThereSync(tempPath);
    },
  };
}
