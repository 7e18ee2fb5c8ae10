/**
 * The `tensors` sink: chosen slots (and ground truth) of every frame as NumPy `.npy` files under
 * `<dir>/<slot>/`, with a `frames.jsonl` index of each frame's tensors and scalar slots.
 */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import { encodeNpy } from "../stages/encode_tensors.ts";
import { graphFrom, testSetup, withTempDir } from "./_helpers.ts";
import { fileNames } from "./_sinks.ts";

/** Reads a `.npy` file: its header text and its data bytes. */
async function readNpy(path: string): Promise<{ header: string; data: Uint8Array }> {
  const bytes = await Deno.readFile(path);
  const headerLength = bytes[8]! | (bytes[9]! << 8);
  return {
    header: new TextDecoder().decode(bytes.subarray(10, 10 + headerLength)).trim(),
    data: bytes.slice(10 + headerLength),
  };
}

Deno.test("encodeNpy writes a NumPy 1.0 header (64-byte aligned) followed by the raw data", () => {
  const bytes = encodeNpy({ type: "float32", dims: [1, 2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) });
  assert.deepEqual([...bytes.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const headerLength = bytes[8]! | (bytes[9]! << 8);
  assert.equal((10 + headerLength) % 64, 0);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(1, 2, 3\), \} *\n$/);
  assert.deepEqual([...new Float32Array(bytes.slice(10 + headerLength).buffer)], [0, 1, 2, 3, 4, 5]);
});

Deno.test("tensors dumps each frame's chosen slots and ground truth as .npy, indexed in frames.jsonl", async () => {
  await withTempDir(async (dir) => {
    const { probe, registry } = testSetup();
    const truths: Uint8Array[] = [];
    probe.functions.set("copy", (frame) => {
      // Predict the truth shifted by one class, so labels and truth differ.
      const truth = frame.truth!.labels!;
      truths.push(truth);
      frame.slots.set("labels", { type: "uint8", dims: [1, 16, 24], data: truth.map((id) => id + 1) });
    });
    const graph = await graphFrom(
      `source: { kind: pattern, frames: 3, width: 24, height: 16 }
stages:
  - { id: key, kind: decide, every: 2, out: { key: is_key } }
  - { id: copy, kind: call, fn: copy, out: { value: labels } }
sinks:
  - { kind: tensors, dir: "${dir}", slots: [labels, truth.labels, truth.mask, is_key] }
`,
      registry,
    );
    await runGraph(graph, { quiet: true });
    assert.deepEqual(fileNames(dir), ["frames.jsonl", "is_key", "labels", "truth.labels", "truth.mask"]);
    // Scalars and missing truth (the pattern clip has no object masks) make no .npy files.
    assert.deepEqual([fileNames(`${dir}/is_key`), fileNames(`${dir}/truth.mask`)], [[], []]);
    const lines = (await Deno.readTextFile(`${dir}/frames.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.index), [0, 1, 2]);
    assert.deepEqual(lines.map((l) => l.tensors), Array(3).fill(["labels", "truth.labels"]));
    assert.deepEqual(lines.map((l) => l.slots), [{ is_key: true }, { is_key: false }, { is_key: true }]);
    for (const [index, line] of lines.entries()) {
      const labels = await readNpy(`${dir}/labels/${line.name}.npy`);
      assert.match(labels.header, /'descr': '\|u1', 'fortran_order': False, 'shape': \(1, 16, 24\)/);
      assert.deepEqual([...labels.data], [...truths[index]!].map((id) => id + 1));
      const truth = await readNpy(`${dir}/truth.labels/${line.name}.npy`);
      assert.match(truth.header, /'shape': \(16, 24\)/);
      assert.deepEqual([...truth.data], [...truths[index]!]);
    }
  });
});
