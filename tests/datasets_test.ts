import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import type { Frame } from "../engine/frame.ts";
import { testSetup } from "./_helpers.ts";
import { sharedData, sharedDataPresent } from "./_cli.ts";

/** Runs a source through a graph and returns what the frames looked like. */
async function readFrames(input: string, frames: number): Promise<Frame[]> {
  const { probe, registry } = testSetup();
  const seen: Frame[] = [];
  probe.functions.set("keep", (frame) => void seen.push(frame));
  const { loadGraphText } = await import("../engine/graph.ts");
  const graph = await loadGraphText("read.yaml", "stages:\n  - { id: keep, kind: call, fn: keep }\n", {
    registry,
    modelsRoot: "/nonexistent",
    input,
  });
  await runGraph(graph, { frames });
  return seen;
}

Deno.test({
  name: "video source reads ../shared/data/video/vtest.avi frame by frame (768x576)",
  ignore: !sharedDataPresent("video/vtest.avi"),
  async fn() {
    const frames = await readFrames(`${sharedData}video/vtest.avi`, 5);
    assert.equal(frames.length, 5);
    assert.deepEqual([frames[0]!.image.width, frames[0]!.image.height], [768, 576]);
    assert.notDeepEqual(frames[0]!.image.data, frames[4]!.image.data);
    assert.equal(frames[4]!.timestamp, 0.4);
  },
});

Deno.test({
  name: "camvid source reads ../shared/data/camvid/val with labels 0..11 in the 0016E5 sequence",
  ignore: !sharedDataPresent("camvid/val"),
  async fn() {
    const frames = await readFrames(`${sharedData}camvid/val`, 3);
    assert.equal(frames.length, 3);
    const first = frames[0]!;
    assert.equal(first.name, "0016E5_07959.png");
    assert.equal(first.sequence, "0016E5");
    assert.deepEqual([first.image.width, first.image.height], [480, 360]);
    const labels = first.truth!.labels!;
    assert.equal(labels.length, 480 * 360);
    assert.ok(labels.every((v) => v <= 11));
    assert.ok(new Set(labels).size >= 6, "several classes on a street frame");
  },
});

Deno.test({
  name: "davis source reads every sequence of ../shared/data/davis2016 with 0/1 object masks",
  ignore: !sharedDataPresent("davis2016/JPEGImages"),
  async fn() {
    const frames = await readFrames(`${sharedData}davis2016`, 1000);
    const sequences = [...new Set(frames.map((f) => f.sequence))];
    assert.deepEqual(sequences, ["blackswan", "car-shadow", "dog", "kite-surf", "libby"]);
    assert.equal(frames.length, 249);
    const dog = frames.find((f) => f.sequence === "dog")!;
    assert.equal(dog.index, 0);
    assert.equal(dog.stream, "dog");
    assert.deepEqual([...new Set(dog.truth!.mask!)].sort(), [0, 1]);
    const one = await readFrames(`${sharedData}davis2016/JPEGImages/480p/libby`, 1000);
    assert.ok(one.length > 0 && one.every((f) => f.sequence === "libby"));
  },
});

Deno.test("davis source follows sequence folders that are symlinks, and names a folder with none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { encodeRgbPng } = await import("../datasets/png.ts");
    await Deno.mkdir(`${dir}/store/walk`, { recursive: true });
    for (const n of [0, 1]) {
      await Deno.writeFile(`${dir}/store/walk/0000${n}.png`, encodeRgbPng(new Uint8Array(24), 4, 2));
    }
    await Deno.mkdir(`${dir}/linked/JPEGImages/480p`, { recursive: true });
    await Deno.symlink(`${dir}/store/walk`, `${dir}/linked/JPEGImages/480p/walk`);
    const frames = await readFrames(`${dir}/linked`, 10);
    assert.deepEqual(frames.map((f) => f.name), ["walk/00000", "walk/00001"]);
    await Deno.mkdir(`${dir}/empty/JPEGImages/480p`, { recursive: true });
    await assert.rejects(readFrames(`${dir}/empty`, 10), /empty\/JPEGImages\/480p: no sequence folders/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cityscapes source reads a sequence layout and maps labelIds to train ids", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { encodeIndexedPng, encodeRgbPng } = await import("../datasets/png.ts");
    const img = `${dir}/leftImg8bit_sequence/val/bonn`;
    const gt = `${dir}/gtFine/val/bonn`;
    await Deno.mkdir(img, { recursive: true });
    await Deno.mkdir(gt, { recursive: true });
    for (const frame of [18, 19]) {
      const name = `bonn_000001_0000${frame}`;
      await Deno.writeFile(`${img}/${name}_leftImg8bit.png`, encodeRgbPng(new Uint8Array(4 * 2 * 3), 4, 2));
    }
    // labelIds: 7 road -> 0, 26 car -> 13, 0 unlabeled -> 255.
    await Deno.writeFile(
      `${gt}/bonn_000001_000019_gtFine_labelIds.png`,
      encodeIndexedPng(Uint8Array.of(7, 7, 26, 0, 7, 26, 26, 0), 4, 2, []),
    );
    const frames = await readFrames(dir, 10);
    assert.deepEqual(frames.map((f) => f.index), [18, 19]);
    assert.equal(frames[0]!.truth, undefined);
    assert.deepEqual([...frames[1]!.truth!.labels!], [0, 0, 13, 255, 0, 13, 13, 255]);
    assert.equal(frames[1]!.sequence, "bonn_000001");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
