/**
 * "Did you mean" suggestions for misspelt names.
 *
 * @module
 */

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/**
 * Returns `" (did you mean 'x'?)"` for the closest candidate within a small edit distance, else the list
 * of valid names, so an error message always tells the user what would have worked.
 *
 * @example
 * ```ts
 * suggest("segmnt", ["segment", "warp"]); // " (did you mean 'segment'?)"
 * ```
 */
export function suggest(name: string, candidates: Iterable<string>): string {
  const names = [...candidates];
  const best = closestName(name, names);
  if (best !== undefined) return ` (did you mean '${best}'?)`;
  return names.length ? ` (expected one of: ${names.map((n) => `'${n}'`).join(", ")})` : "";
}

/** The candidate within a small edit distance of `name` (case ignored), or undefined when none is close. */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
