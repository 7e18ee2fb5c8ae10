/**
 * The `agreement` stage: its ONNX graph (`stages/_agreement_graph.ts`) against the JavaScript reference
 * (`_pixel_ops_reference.ts`), the same value to the bit at several shapes, ties included; and the stage in a
 * graph.
 */
import assert from "node:assert/strict";
import type { Tensor } from "../engine/tensor.ts";
import { runGraph } from "../engine/run.ts";
import { buildAgreementGraph } from "../stages/_agreement_graph.ts";
import { argmaxAgreement, seededFloats } from "./_pixel_ops_reference.ts";
import { runOnce } from "./_pixel_ops_run.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

/** 100 x agreeing cells / cells, the count from the graph (as the stage computes it). */
async function agreementOnnx(a: Tensor, b: Tensor): Promise<number> {
  const { same } = await runOnce(buildAgreementGraph(), { a, b });
  return (100 * Number((same!.data as BigInt64Array)[0])) / (a.dims[2]! * a.dims[3]!);
}

const scores = (classes: number, h: number, w: number, seed: number, levels?: number): Tensor => {
  const data = seededFloats(classes * h * w, seed);
  // Few levels: many exact ties between classes (the first class wins them in both).
  if (levels) { for (let i = 0; i < data.length; i++) data[i] = Math.floor(data[i]! * levels); }
  return { type: "float32", dims: [1, classes, h, w], data };
};

Deno.test("buildAgreementGraph counts agreeing argmax cells like the reference (45x60, 135x240, 1x1; ties)", async () => {
  for (const [classes, h, w] of [[11, 45, 60], [11, 135, 240], [2, 1, 1], [1, 3, 5], [19, 7, 13]] as const) {
    for (const levels of [undefined, 3]) {
      const a = scores(classes, h, w, h + w, levels);
      // b: a with a third of the cells' scores replaced, so the agreement is neither 0 nor 100.
      const b = { ...a, data: (a.data as Float32Array).slice() };
      const other = scores(classes, h, w, 7 * h + w, levels).data as Float32Array;
      for (let i = 0; i < other.length; i += 3) (b.data as Float32Array)[i] = other[i]!;
      const expected = argmaxAgreement(a, b);
      assert.equal(await agreementOnnx(a, b), expected, `C=${classes} ${h}x${w} levels ${levels}`);
      assert.equal(await agreementOnnx(a, a), 100);
    }
  }
});

Deno.test("agreement: the stage writes 100 x the agreeing share, and rejects maps of different shapes", async () => {
  const { probe, registry } = testSetup();
  const values: number[] = [];
  // Two classes on 2x2 cells: b flips the first cell's class on odd frames.
  const map = (flip: boolean) => {
    const data = new Float32Array([1, 1, 1, 1, 0, 0, 0, 0]);
    if (flip) data[4] = 2;
    return { type: "float32", dims: [1, 2, 2, 2], data };
  };
  probe.functions.set("a", (frame) => void frame.slots.set("a", map(false)));
  probe.functions.set("b", (frame) => void frame.slots.set("b", map(frame.index % 2 === 1)));
  probe.functions.set("keep", (frame) => void values.push(frame.slots.get("agreement") as number));
  const graph = await graphFrom(
    `source: { kind: fake, frames: 4, width: 16, height: 16 }
stages:
  - { id: a, kind: call, fn: a, out: { value: a } }
  - { id: b, kind: call, fn: b, out: { value: b } }
  - { id: agreement, kind: agreement, in: { scores: a, reference: b }, out: { agreement: agreement } }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
  );
  await runGraph(graph, { quiet: true });
  assert.deepEqual(values, [100, 75, 100, 75]);
  probe.functions.set("b", (frame) => void frame.slots.set("b", { ...map(false), dims: [1, 2, 1, 4] }));
  await assert.rejects(() => runGraph(graph, { quiet: true }), /differ in shape/);
});
