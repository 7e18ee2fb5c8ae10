/**
 * Byte outputs for sinks: a file or standard output (`-`), written with awaited writes so a slow disk or
 * a slow pipe reader stalls the graph instead of filling memory. A reader that goes away (EPIPE) is not an
 * error: the output reports it once through `onReaderGone` and drops further writes.
 *
 * @module
 */
import { dirname } from "node:path";
import { openAtomic } from "../engine/atomic_write.ts";
import { InputError } from "../engine/errors.ts";

/** An open byte output. */
export interface ByteOutput {
  /** Writes all bytes; resolves when the file or pipe took them. */
  write(bytes: Uint8Array): Promise<void>;
  /** True once the reader of a pipe went away. */
  readonly gone: boolean;
  close(): Promise<void>;
}

function isBrokenPipe(error: unknown): boolean {
  const e = error as { name?: string; code?: string; message?: string };
  return e?.name === "BrokenPipe" || e?.code === "EPIPE" || /broken pipe|os error 32/i.test(e?.message ?? "");
}

/**
 * Opens `path` for writing (creating its folder), or standard output for `-`. A file is written under a
 * temporary name and renamed into place on `close` (at the end of the run, on errors and on interruption:
 * what was written is complete); after a failed write (a full disk) it is removed instead.
 */
export async function openByteOutput(path: string, onReaderGone?: () => void): Promise<ByteOutput> {
  const isStdout = path === "-";
  if (!isStdout) await Deno.mkdir(dirname(path), { recursive: true });
  const atomic = isStdout ? undefined : await openAtomic(path);
  const file = atomic?.file ?? Deno.stdout;
  let gone = false;
  let writeFailed = false;
  return {
    get gone() {
      return gone;
    },
    async write(bytes) {
      if (gone) return;
      try {
        let written = 0;
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
      } catch (error) {
        if (!isBrokenPipe(error)) {
          writeFailed = true;
          throw new InputError(`${isStdout ? "stdout" : path}: cannot write (${(error as Error).message})`, {
            cause: error,
          });
        }
        gone = true;
        onReaderGone?.();
      }
    },
    async close() {
      if (atomic) await (writeFailed ? atomic.discard() : atomic.commit());
    },
  };
}

/** A frame's output file stem: the source item's name without extension, else its zero-padded index. */
export function frameStem(frame: { index: number; name?: string; sequence?: string }): string {
  if (frame.name) return frame.name.replace(/\.[^.]*$/, "").replaceAll("/", "_");
  const index = String(frame.index).padStart(6, "0");
  return frame.sequence ? `${frame.sequence}_${index}` : index;
}
