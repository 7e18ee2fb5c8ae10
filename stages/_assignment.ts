/**
 * Optimal rectangular linear assignment (the Hungarian method with potentials, in the shortest-augmenting-path
 * form of Jonker and Volgenant), for matching tracks to detections. O(n²·m) for n ≤ m, no dependencies.
 *
 * @module
 */

/** Which rows got which columns, and what was left over. */
export interface Assignment {
  /** `[row, col]` pairs, sorted by row. */
  matches: [row: number, col: number][];
  /** Rows with no column, ascending. */
  unmatchedRows: number[];
  /** Columns with no row, ascending. */
  unmatchedCols: number[];
}

/**
 * Pairs rows with columns so that the number of allowed pairs is as large as possible and, among such
 * pairings, their total cost is smallest. A pair whose cost is above `maxCost` (or not finite) is forbidden:
 * it is priced higher than any pairing of allowed ones before solving and dropped afterwards, so it never
 * changes which allowed pairs are chosen. The result is deterministic for a given matrix.
 *
 * @param cost `cost[row][col]`; every row must have the same length. `[]` (no rows) is allowed, but carries no
 *   column count: its result has no unmatched columns, so callers with no rows should handle that case.
 * @param maxCost the largest cost a match may have.
 * @throws {TypeError} if the rows have different lengths.
 * @example
 * ```ts
 * // Greedy would take the 1 and then pay 10; the optimum pays 2 + 2.
 * minCostAssignment([[1, 2], [2, 10]], 5);
 * // => { matches: [[0, 1], [1, 0]], unmatchedRows: [], unmatchedCols: [] }
 * ```
 */
export function minCostAssignment(cost: number[][], maxCost: number): Assignment {
  const rows = cost.length;
  const cols = rows === 0 ? 0 : cost[0]!.length;
  for (const [row, values] of cost.entries()) {
    if (values.length !== cols) {
      throw new TypeError(`cost matrix rows must all have ${cols} columns, but row ${row} has ${values.length}`);
    }
  }
  const allowed = (c: number) => Number.isFinite(c) && c <= maxCost;
  let low = Infinity, high = -Infinity;
  for (const values of cost) {
    for (const c of values) {
      if (allowed(c)) [low, high] = [Math.min(low, c), Math.max(high, c)];
    }
  }
  // One forbidden pair must outweigh any difference between two pairings of allowed ones.
  const forbidden = low === Infinity ? 1 : high + (high - low + 1) * (Math.min(rows, cols) + 1);
  const priced = (row: number, col: number) => {
    const c = cost[row]![col]!;
    return allowed(c) ? c : forbidden;
  };
  const transposed = rows > cols;
  const colOfRow = transposed
    ? assignRowsToColumns(cols, rows, (r, c) => priced(c, r))
    : assignRowsToColumns(rows, cols, priced);
  const matches: [number, number][] = [];
  const rowTaken = new Array<boolean>(rows).fill(false);
  const colTaken = new Array<boolean>(cols).fill(false);
  for (const [a, b] of colOfRow) {
    const [row, col] = transposed ? [b, a] : [a, b];
    if (!allowed(cost[row]![col]!)) continue;
    matches.push([row, col]);
    rowTaken[row] = colTaken[col] = true;
  }
  matches.sort((p, q) => p[0] - q[0]);
  return {
    matches,
    unmatchedRows: [...rowTaken.keys()].filter((r) => !rowTaken[r]),
    unmatchedCols: [...colTaken.keys()].filter((c) => !colTaken[c]),
  };
}

/**
 * The core for `n ≤ m`: every row gets a column. Returns `[row, col]` pairs. Rows are added one at a time,
 * each by a shortest augmenting path (Dijkstra on reduced costs), keeping potentials `u` and `v` feasible.
 */
function assignRowsToColumns(
  n: number,
  m: number,
  cost: (row: number, col: number) => number,
): [number, number][] {
  // 1-based; column 0 is a virtual start holding the row being added.
  const u = new Float64Array(n + 1), v = new Float64Array(m + 1);
  const rowOfCol = new Int32Array(m + 1), way = new Int32Array(m + 1);
  const minReduced = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    rowOfCol[0] = i;
    let col0 = 0;
    minReduced.fill(Infinity);
    used.fill(0);
    do {
      used[col0] = 1;
      const row0 = rowOfCol[col0]!;
      let delta = Infinity, col1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const reduced = cost(row0 - 1, j - 1) - u[row0]! - v[j]!;
        if (reduced < minReduced[j]!) [minReduced[j], way[j]] = [reduced, col0];
        if (minReduced[j]! < delta) [delta, col1] = [minReduced[j]!, j];
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          const row = rowOfCol[j]!;
          u[row] = u[row]! + delta;
          v[j] = v[j]! - delta;
        } else minReduced[j] = minReduced[j]! - delta;
      }
      col0 = col1;
    } while (rowOfCol[col0] !== 0);
    do {
      const col1 = way[col0]!;
      rowOfCol[col0] = rowOfCol[col1]!;
      col0 = col1;
    } while (col0 !== 0);
  }
  const pairs: [number, number][] = [];
  for (let j = 1; j <= m; j++) if (rowOfCol[j] !== 0) pairs.push([rowOfCol[j]! - 1, j - 1]);
  return pairs;
}
