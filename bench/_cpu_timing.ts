/**
 * Timing two implementations side by side on a busy machine: each call's wall time and this process's CPU time
 * (all threads: what the work costs, whatever else runs), medians over the calls.
 *
 * @module
 */
import process from "node:process";

/** Wall and CPU milliseconds of the calls timed so far. */
export interface CallTimes {
  ms: number[];
  cpuMs: number[];
}

/** Runs `run` once and adds its wall and CPU time to `into`. */
export async function timeOnce(run: () => unknown, into: CallTimes): Promise<void> {
  const cpu0 = process.cpuUsage(), t0 = performance.now();
  await run();
  const cpu = process.cpuUsage(cpu0);
  into.ms.push(performance.now() - t0);
  into.cpuMs.push((cpu.user + cpu.system) / 1000);
}

/** The median of `values` (sorts them in place). */
export function median(values: number[]): number {
  return values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}
