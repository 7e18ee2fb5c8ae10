import assert from "node:assert/strict";
import { shrinkImage } from "../engine/image_resize.ts";

Deno.test("shrinkImage averages areas: 2x2 blocks exactly, constants stay constant at any ratio", () => {
  const data = new Uint8Array([0, 0, 0, 100, 100, 100, 20, 20, 20, 40, 40, 40]); // 2x2 RGB
  assert.deepEqual([...shrinkImage({ width: 2, height: 2, data }, 1, 1).data], [40, 40, 40]);
  const flat = { width: 30, height: 18, data: new Uint8Array(30 * 18 * 3).fill(77) };
  const small = shrinkImage(flat, 16, 8);
  assert.equal(small.data.length, 16 * 8 * 3);
  assert.ok(small.data.every((v) => v === 77));
});
