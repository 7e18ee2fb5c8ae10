/**
 * A 5x7 bitmap font (lowercase letters, digits, `. - : # / ( ) % + , = > < _ '`; uppercase is drawn as
 * lowercase) for labels burnt into output frames, so video sinks need no font files or native text rendering.
 *
 * @module
 */

// Each glyph: 7 rows of 5 bits, most significant bit on the left.
const glyphs: Record<string, number[]> = {
  a: [0, 0, 14, 1, 15, 17, 15],
  b: [16, 16, 22, 25, 17, 17, 30],
  c: [0, 0, 14, 16, 16, 17, 14],
  d: [1, 1, 13, 19, 17, 17, 15],
  e: [0, 0, 14, 17, 31, 16, 14],
  f: [6, 9, 8, 28, 8, 8, 8],
  g: [0, 15, 17, 17, 15, 1, 14],
  h: [16, 16, 22, 25, 17, 17, 17],
  i: [4, 0, 12, 4, 4, 4, 14],
  j: [2, 0, 6, 2, 2, 18, 12],
  k: [16, 16, 18, 20, 24, 20, 18],
  l: [12, 4, 4, 4, 4, 4, 14],
  m: [0, 0, 26, 21, 21, 17, 17],
  n: [0, 0, 22, 25, 17, 17, 17],
  o: [0, 0, 14, 17, 17, 17, 14],
  p: [0, 0, 30, 17, 30, 16, 16],
  q: [0, 0, 13, 19, 15, 1, 1],
  r: [0, 0, 22, 25, 16, 16, 16],
  s: [0, 0, 14, 16, 14, 1, 30],
  t: [8, 8, 28, 8, 8, 9, 6],
  u: [0, 0, 17, 17, 17, 19, 13],
  v: [0, 0, 17, 17, 17, 10, 4],
  w: [0, 0, 17, 17, 21, 21, 10],
  x: [0, 0, 17, 10, 4, 10, 17],
  y: [0, 0, 17, 17, 15, 1, 14],
  z: [0, 0, 31, 2, 4, 8, 31],
  "0": [14, 17, 19, 21, 25, 17, 14],
  "1": [4, 12, 4, 4, 4, 4, 14],
  "2": [14, 17, 1, 2, 4, 8, 31],
  "3": [31, 2, 4, 2, 1, 17, 14],
  "4": [2, 6, 10, 18, 31, 2, 2],
  "5": [31, 16, 30, 1, 1, 17, 14],
  "6": [6, 8, 16, 30, 17, 17, 14],
  "7": [31, 1, 2, 4, 8, 8, 8],
  "8": [14, 17, 17, 14, 17, 17, 14],
  "9": [14, 17, 17, 15, 1, 2, 12],
  ".": [0, 0, 0, 0, 0, 12, 12],
  "-": [0, 0, 0, 31, 0, 0, 0],
  ":": [0, 12, 12, 0, 12, 12, 0],
  " ": [0, 0, 0, 0, 0, 0, 0],
  "#": [10, 10, 31, 10, 31, 10, 10],
  "/": [1, 1, 2, 4, 8, 16, 16],
  "(": [2, 4, 8, 8, 8, 4, 2],
  ")": [8, 4, 2, 2, 2, 4, 8],
  "%": [24, 25, 2, 4, 8, 19, 3],
  "+": [0, 4, 4, 31, 4, 4, 0],
  ",": [0, 0, 0, 0, 12, 4, 8],
  "=": [0, 0, 31, 0, 31, 0, 0],
  ">": [8, 4, 2, 1, 2, 4, 8],
  "<": [2, 4, 8, 16, 8, 4, 2],
  "_": [0, 0, 0, 0, 0, 0, 31],
  "'": [12, 4, 8, 0, 0, 0, 0],
};

/**
 * Whether the font draws character `ch` (uppercase letters count: they are drawn as lowercase).
 *
 * @example
 * ```ts
 * hasGlyph("#"); // true
 * hasGlyph("~"); // false: drawn blank
 * ```
 */
export function hasGlyph(ch: string): boolean {
  return Object.hasOwn(glyphs, ch.toLowerCase());
}

/**
 * Width in pixels of `text` drawn at `scale` (6 columns a character: 5 of glyph, 1 of space).
 *
 * @example
 * ```ts
 * textWidth("car", 2); // 36
 * ```
 */
export function textWidth(text: string, scale: number): number {
  return text.length * 6 * scale;
}

/**
 * Draws `text` into an interleaved RGB image with its top-left at (x, y), 7 rows of `scale` pixels high,
 * clipped to the image; unknown characters are blank.
 *
 * @example
 * ```ts
 * const rgb = new Uint8Array(64 * 16 * 3);
 * drawText(rgb, 64, 16, "#12 car", 1, 1, [255, 255, 0]);
 * ```
 */
export function drawText(
  rgb: Uint8Array,
  width: number,
  height: number,
  text: string,
  x: number,
  y: number,
  colour: readonly number[],
  scale = 1,
): void {
  for (const [n, ch] of [...text.toLowerCase()].entries()) {
    const rows = glyphs[ch];
    if (!rows) continue;
    for (let row = 0; row < 7; row++) {
      for (let col = 0; col < 5; col++) {
        if (!(rows[row]! & (16 >> col))) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = x + (n * 6 + col) * scale + dx, py = y + row * scale + dy;
            if (px < 0 || py < 0 || px >= width || py >= height) continue;
            const i = 3 * (py * width + px);
            rgb[i] = colour[0]!;
            rgb[i + 1] = colour[1]!;
            rgb[i + 2] = colour[2]!;
          }
        }
      }
    }
  }
}
