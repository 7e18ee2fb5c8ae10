/**
 * A one-line description of the machine for reports and benchmark results (CPU model, cores, Deno version).
 * Uses `node:os` (needs `--allow-sys`); Deno only reads `/proc/cpuinfo` with `--allow-all`.
 *
 * @module
 */
import { cpus } from "node:os";

/** E.g. `AMD EPYC, 2 cores, Deno 2.9.6`. */
export function machineDescription(): string {
  let model = "unknown CPU";
  try {
    model = cpus()[0]?.model?.trim() || model;
  } catch {
    // No --allow-sys: keep the placeholder.
  }
  return `${model}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}`;
}
