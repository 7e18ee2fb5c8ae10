import assert from "node:assert/strict";
import { formatY4mHeader, parseY4mHeader, rgbToYuv420, y4mFrameSize, yuvToRgb } from "../datasets/y4m.ts";
import { decodeIndexedPng, encodeIndexedPng, encodeRgbPng } from "../datasets/png.ts";
import { ByteReader } from "../datasets/byte_reader.ts";
import { runGraph } from "../engine/run.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

Deno.test("ByteReader reads exact sizes across chunk borders and reports short reads at the end", async () => {
  const reader = new ByteReader(streamOf(Uint8Array.of(1, 2), Uint8Array.of(3, 10, 4), Uint8Array.of(5)));
  assert.deepEqual([...(await reader.read(3))!], [1, 2, 3]);
  assert.deepEqual([...(await reader.read(1))!], [10]);
  assert.deepEqual([...(await reader.read(4))!], [4, 5]);
  assert.equal(await reader.read(1), null);
});

Deno.test("parseY4mHeader reads size, rate, chroma and range; rejects interlaced and high bit depth", () => {
  assert.deepEqual(parseY4mHeader("YUV4MPEG2 W480 H360 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG"), {
    width: 480,
    height: 360,
    fps: 30000 / 1001,
    chroma: "420",
    fullRange: false,
  });
  assert.equal(parseY4mHeader("YUV4MPEG2 W4 H2 F25:1 C444 XCOLORRANGE=FULL").fullRange, true);
  assert.throws(() => parseY4mHeader("YUV4MPEG2 W4 H2 It C420"), /interlaced/);
  assert.throws(() => parseY4mHeader("YUV4MPEG2 W4 H2 C420p10"), /not 8-bit/);
  assert.throws(() => parseY4mHeader("P6 4 2"), /not a YUV4MPEG2 stream/);
  assert.equal(y4mFrameSize({ width: 5, height: 3, chroma: "420" }), 15 + 2 * 3 * 2);
  assert.equal(formatY4mHeader(480, 360, 15), "YUV4MPEG2 W480 H360 F15:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n");
});

Deno.test("rgbToYuv420 then yuvToRgb keeps flat colours within 3 levels", () => {
  const width = 4, height = 4;
  const rgb = new Uint8Array(width * height * 3);
  const colours = [[128, 64, 128], [0, 128, 192], [250, 250, 250], [10, 10, 10]];
  for (let p = 0; p < width * height; p++) {
    const c = colours[Math.floor((p % width) / 2) + 2 * Math.floor(Math.floor(p / width) / 2)]!;
    rgb.set(c, 3 * p);
  }
  const back = yuvToRgb(rgbToYuv420(rgb, width, height), { width, height, fps: 1, chroma: "420", fullRange: false });
  for (let i = 0; i < rgb.length; i++) {
    assert.ok(Math.abs(back[i]! - rgb[i]!) <= 3, `byte ${i}: ${rgb[i]} -> ${back[i]}`);
  }
});

Deno.test("decodeIndexedPng returns the raw ids of an indexed PNG and leaves colour PNGs to sharp", () => {
  const labels = Uint8Array.from({ length: 35 }, (_, i) => (i * 7) % 12);
  const decoded = decodeIndexedPng(encodeIndexedPng(labels, 7, 5, [[1, 2, 3]]))!;
  assert.deepEqual([decoded.width, decoded.height], [7, 5]);
  assert.deepEqual(decoded.data, labels);
  assert.equal(decodeIndexedPng(encodeRgbPng(new Uint8Array(12), 2, 2)), undefined);
  assert.throws(() => decodeIndexedPng(Uint8Array.of(1, 2, 3)), /not a PNG/);
});

Deno.test("runGraph: a frame whose size changes mid-stream fails naming the frame; earlier frames finish", async () => {
  const { probe, registry } = testSetup();
  const { defineSource } = await import("../engine/source.ts");
  registry.source(defineSource({
    kind: "resizing",
    doc: "frames 0-2 are 8x8, frame 3 is 16x8",
    params: {},
    open: () =>
      Promise.resolve({
        info: { name: "resizing", fps: 10, live: false },
        async *frames() {
          for (let index = 0; index < 5; index++) {
            const width = index === 3 ? 16 : 8;
            yield {
              index,
              timestamp: index / 10,
              name: `f${index}.png`,
              image: { width, height: 8, data: new Uint8Array(width * 24) },
            };
          }
        },
        close: () => Promise.resolve(),
      }),
  }));
  const graph = await graphFrom("source: { kind: resizing }\nsinks:\n  - { kind: slow, delay_ms: 1 }\n", registry);
  await assert.rejects(() => runGraph(graph), /frame 3 \(f3\.png\) is 16x8 but the stream started at 8x8/);
  assert.deepEqual(probe.completed, [0, 1, 2]);
});
