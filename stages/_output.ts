/**
 * Byte outputs for sinks: a file or standard output (`-`), written with awaited writes so a slow disk or
 * a slow pipe reader stalls the graph instead of filling memory.
 *
 * @module
 */
import { dirname } from "node:path";

/** An open byte output. */
export interface ByteOutput {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Opens `path` for writing (creating its folder), or standard output for `-`. */
export async function openByteOutput(path: string): Promise<ByteOutput> {
  const isStdout = path === "-";
  if (!isStdout) await Deno.mkdir(dirname(path), { recursive: true });
  const file = isStdout ? Deno.stdout : await Deno.open(path, { write: true, create: true, truncate: true });
  const writer = file.writable.getWriter();
  return {
    write: (bytes) => writer.write(bytes),
    async close() {
      try {
        await writer.close();
      } catch {
        // Already closed (e.g. the reader went away).
      }
    },
  };
}

/** A frame's output file stem: the source item's name without extension, else its zero-padded index. */
export function frameStem(frame: { index: number; name?: string }): string {
  if (frame.name) return frame.name.replace(/^.*\//, "").replace(/\.[^.]*$/, "");
  return String(frame.index).padStart(6, "0");
}
