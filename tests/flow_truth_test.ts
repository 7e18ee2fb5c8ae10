/**
 * Ground-truth flow readers (`.flo`, KITTI 16-bit PNG, Sintel invalid masks) and the detection of each
 * benchmark's folder layout, on small synthetic files of odd sizes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { crc32, deflateSync } from "node:zlib";
import { join } from "node:path";
import {
  applyInvalidMask,
  decodeKittiFlow,
  findFlowPairs,
  type FlowTruth,
  readFlowPair,
  readFlowTruth,
} from "../datasets/flow_truth.ts";
import { encodeFlo } from "../datasets/flo.ts";
import { encodeIndexedPng, encodeRgbPng } from "../datasets/png.ts";
import { withTempDir } from "./_helpers.ts";
import { sharedData, sharedDataPresent } from "./_cli.ts";

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length), view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Encodes a PNG of `samples` (big-endian at 16 bits), row y filtered with filter type y % 5 so that every
 * filter is exercised; `interlace` only sets the header flag (enough to test that it is rejected).
 */
function encodePng(
  width: number,
  height: number,
  colourType: number,
  bitDepth: 8 | 16,
  samples: ArrayLike<number>,
  interlace = 0,
): Uint8Array {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colourType]!;
  const bpp = (channels * bitDepth) / 8, rowBytes = width * bpp;
  const pixels = new Uint8Array(rowBytes * height);
  for (let i = 0; i < width * height * channels; i++) {
    if (bitDepth === 8) pixels[i] = samples[i]!;
    else [pixels[2 * i], pixels[2 * i + 1]] = [samples[i]! >> 8, samples[i]! & 0xff];
  }
  const raw = new Uint8Array((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    const filter = y % 5, row = pixels.subarray(y * rowBytes, (y + 1) * rowBytes);
    const up = y > 0 ? pixels.subarray((y - 1) * rowBytes, y * rowBytes) : new Uint8Array(rowBytes);
    raw[y * (rowBytes + 1)] = filter;
    for (let x = 0; x < rowBytes; x++) {
      const a = x >= bpp ? row[x - bpp]! : 0, b = up[x]!, c = x >= bpp ? up[x - bpp]! : 0;
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter]!;
      raw[y * (rowBytes + 1) + 1 + x] = (row[x]! - predictor) & 0xff;
    }
  }
  const header = new Uint8Array(13), view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([bitDepth, colourType, 0, 0, interlace], 8);
  const parts = [
    Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) out.set(part, (offset += part.length) - part.length);
  return out;
}

/** A KITTI flow PNG of `truth` (16-bit RGB, or RGBA with `alpha`). */
function encodeKittiFlow(truth: FlowTruth, alpha = false): Uint8Array {
  const channels = alpha ? 4 : 3, samples = new Uint16Array(truth.valid.length * channels);
  for (let i = 0; i < truth.valid.length; i++) {
    if (!truth.valid[i]) continue;
    samples[i * channels] = Math.round(truth.flow[2 * i]! * 64 + 32768);
    samples[i * channels + 1] = Math.round(truth.flow[2 * i + 1]! * 64 + 32768);
    samples[i * channels + 2] = 1;
    if (alpha) samples[i * channels + 3] = 65535;
  }
  return encodePng(truth.width, truth.height, alpha ? 6 : 2, 16, samples);
}

/** A 37x23 truth with varied flow (multiples of 1/64, so KITTI stores it exactly) and every 7th pixel invalid. */
function oddTruth(width = 37, height = 23): FlowTruth {
  const flow = new Float32Array(2 * width * height), valid = new Uint8Array(width * height);
  for (let i = 0; i < valid.length; i++) {
    valid[i] = i % 7 === 0 ? 0 : 1;
    if (!valid[i]) continue;
    flow[2 * i] = ((i * 37) % 2000 - 1000) / 64;
    flow[2 * i + 1] = ((i * 11) % 1500 - 700) / 64;
  }
  return { width, height, flow, valid };
}

/** An RGB PNG of `width` x `height` with a little texture. */
function framePng(width: number, height: number, seed = 0): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 31 + seed * 17) % 251;
  return encodeRgbPng(rgb, width, height);
}

async function writeFile(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeFile(path, bytes);
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected a rejection");
}

Deno.test("readFlowTruth reads a 37x23 .flo and marks components above 1e9 (and NaN) as invalid", async () => {
  await withTempDir(async (dir) => {
    const flow = new Float32Array(2 * 37 * 23).map((_, i) => i / 10);
    flow[0] = 1e10; // u unknown
    flow[3] = -2e9; // v unknown
    flow[5] = NaN;
    await Deno.writeFile(join(dir, "t.flo"), encodeFlo(flow, 37, 23));
    const truth = await readFlowTruth(join(dir, "t.flo"));
    assert.equal(truth.width, 37);
    assert.equal(truth.height, 23);
    assert.deepEqual([...truth.valid.subarray(0, 4)], [0, 0, 0, 1]);
    assert.equal(truth.valid.reduce((a, b) => a + b, 0), 37 * 23 - 3);
    assert.equal(truth.flow[7], Math.fround(0.7));
  });
});

Deno.test("readFlowTruth names a truncated .flo, a non-.flo and a missing file in one line", async () => {
  await withTempDir(async (dir) => {
    const bytes = encodeFlo(new Float32Array(2 * 5 * 4), 5, 4);
    await Deno.writeFile(join(dir, "cut.flo"), bytes.subarray(0, 50));
    await Deno.writeFile(join(dir, "junk.flo"), new Uint8Array(40));
    await Deno.writeFile(join(dir, "t.txt"), bytes);
    const cut = await rejection(readFlowTruth(join(dir, "cut.flo")));
    assert.match(cut, /cut\.flo: \.flo file is truncated \(38 of 160 data bytes\)$/);
    assert.match(await rejection(readFlowTruth(join(dir, "junk.flo"))), /junk\.flo: not a \.flo file/);
    assert.match(await rejection(readFlowTruth(join(dir, "t.txt"))), /t\.txt: ground-truth flow must be a \.flo/);
    assert.match(await rejection(readFlowTruth(join(dir, "gone.flo"))), /gone\.flo: cannot read .* \(not found\)$/);
    assert(!cut.includes("\n"));
  });
});

Deno.test("decodeKittiFlow reads 16-bit RGB of every filter type: u, v = (R, G - 2^15) / 64, valid iff B > 0", () => {
  const truth = oddTruth();
  const decoded = decodeKittiFlow(encodeKittiFlow(truth));
  assert.equal(decoded.width, 37);
  assert.equal(decoded.height, 23);
  assert.deepEqual(decoded.valid, truth.valid);
  assert.deepEqual(decoded.flow, truth.flow);
});

Deno.test("decodeKittiFlow reads 16-bit RGBA (colour type 6) the same way", () => {
  const truth = oddTruth(5, 3);
  assert.deepEqual(decodeKittiFlow(encodeKittiFlow(truth, true)), truth);
});

Deno.test("readFlowTruth rejects 8-bit, palette, interlaced and truncated KITTI PNGs, naming the file", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, Uint8Array, RegExp][] = [
      ["rgb8.png", encodePng(4, 3, 2, 8, new Uint8Array(36)), /16-bit RGB PNG; this one is 8-bit with 3 channel/],
      ["grey16.png", encodePng(4, 3, 0, 16, new Uint16Array(12)), /this one is 16-bit with 1 channel/],
      ["palette.png", encodePng(4, 3, 3, 8, new Uint8Array(12)), /colour type 3 is not supported/],
      ["laced.png", encodePng(4, 3, 2, 16, new Uint16Array(36), 1), /interlaced PNGs are not supported/],
      ["cut.png", encodeKittiFlow(oddTruth()).subarray(0, 60), /truncated PNG/],
      ["text.png", new TextEncoder().encode("hello"), /not a PNG file/],
    ];
    for (const [name, bytes, expected] of cases) {
      await Deno.writeFile(join(dir, name), bytes);
      const message = await rejection(readFlowTruth(join(dir, name)));
      assert.match(message, expected, name);
      assert(message.startsWith(join(dir, name) + ": "), message);
    }
  });
});

Deno.test("applyInvalidMask clears the pixels a Sintel mask marks and checks its size", async () => {
  await withTempDir(async (dir) => {
    const truth = oddTruth(6, 2);
    const mask = new Uint8Array(12);
    mask[1] = 1;
    mask[8] = 1;
    await Deno.writeFile(join(dir, "mask.png"), encodeIndexedPng(mask, 6, 2, [[0, 0, 0], [255, 255, 255]]));
    await applyInvalidMask(truth, join(dir, "mask.png"));
    assert.deepEqual([...truth.valid], [0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1]);
    await Deno.writeFile(join(dir, "small.png"), encodeIndexedPng(new Uint8Array(4), 2, 2, [[0, 0, 0]]));
    assert.match(await rejection(applyInvalidMask(truth, join(dir, "small.png"))), /small\.png: invalid mask is 2x2/);
  });
});

Deno.test("findFlowPairs detects the official Middlebury layout and a scene folder", async () => {
  await withTempDir(async (dir) => {
    for (const scene of ["Venus", "RubberWhale"]) {
      await writeFile(join(dir, "other-gt-flow", scene, "flow10.flo"), encodeFlo(new Float32Array(2 * 6), 3, 2));
      await writeFile(join(dir, "other-data", scene, "frame10.png"), framePng(3, 2));
    }
    const pairs = await findFlowPairs(dir);
    assert.deepEqual(pairs.map((p) => p.name), ["RubberWhale", "Venus"]);
    assert.deepEqual(pairs[0], {
      name: "RubberWhale",
      layout: "middlebury",
      first: join(dir, "other-data/RubberWhale/frame10.png"),
      second: join(dir, "other-data/RubberWhale/frame11.png"),
      truth: join(dir, "other-gt-flow/RubberWhale/flow10.flo"),
    });
    const scene = join(dir, "scene");
    await writeFile(join(scene, "flow10.flo"), encodeFlo(new Float32Array(2 * 6), 3, 2));
    await writeFile(join(scene, "frame10.png"), framePng(3, 2));
    assert.deepEqual((await findFlowPairs(scene)).map((p) => [p.name, p.second]), [
      ["scene", join(scene, "frame11.png")],
    ]);
  });
});

Deno.test("findFlowPairs detects NAME_gt.flo with NAME1.png and NAME2.png (the shared RubberWhale layout)", async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, "rubberwhale_gt.flo"), encodeFlo(new Float32Array(2 * 6), 3, 2));
    assert.deepEqual(await findFlowPairs(dir), [{
      name: "rubberwhale",
      layout: "middlebury",
      first: join(dir, "rubberwhale1.png"),
      second: join(dir, "rubberwhale2.png"),
      truth: join(dir, "rubberwhale_gt.flo"),
    }]);
  });
});

Deno.test("findFlowPairs detects KITTI 2015 and 2012, from the root or training/, flow_occ or --kitti flow_noc", async () => {
  await withTempDir(async (dir) => {
    const k15 = join(dir, "kitti2015"), k12 = join(dir, "kitti2012", "training");
    for (const id of ["000000", "000001"]) {
      await writeFile(join(k15, "training/image_2", `${id}_10.png`), framePng(3, 2));
      await writeFile(join(k15, "training/flow_occ", `${id}_10.png`), encodeKittiFlow(oddTruth(3, 2)));
      await writeFile(join(k15, "training/flow_noc", `${id}_10.png`), encodeKittiFlow(oddTruth(3, 2)));
    }
    await writeFile(join(k12, "colored_0", "000007_10.png"), framePng(3, 2));
    await writeFile(join(k12, "flow_occ", "000007_10.png"), encodeKittiFlow(oddTruth(3, 2)));
    const pairs = await findFlowPairs(k15);
    assert.deepEqual(pairs.map((p) => [p.name, p.layout]), [["000000_10", "kitti"], ["000001_10", "kitti"]]);
    assert.deepEqual([pairs[1]!.first, pairs[1]!.second, pairs[1]!.truth], [
      join(k15, "training/image_2/000001_10.png"),
      join(k15, "training/image_2/000001_11.png"),
      join(k15, "training/flow_occ/000001_10.png"),
    ]);
    const noc = await findFlowPairs(join(k15, "training"), { kitti: "flow_noc" });
    assert.equal(noc[0]!.truth, join(k15, "training/flow_noc/000000_10.png"));
    const twelve = await findFlowPairs(join(dir, "kitti2012"));
    assert.deepEqual(twelve.map((p) => p.first), [join(k12, "colored_0/000007_10.png")]);
    const message = await rejection(findFlowPairs(k12, { kitti: "flow_noc" }));
    assert.match(message, /has no .*flow_noc \(it has flow_occ; use --kitti flow_occ\)$/);
  });
});

Deno.test("findFlowPairs detects Sintel clean and final with the invalid masks that exist", async () => {
  await withTempDir(async (dir) => {
    const base = join(dir, "training");
    for (const n of [1, 2]) {
      await writeFile(join(base, "flow/alley_1", `frame_000${n}.flo`), encodeFlo(new Float32Array(2 * 6), 3, 2));
    }
    await writeFile(join(base, "flow/bamboo_2/frame_0009.flo"), encodeFlo(new Float32Array(2 * 6), 3, 2));
    await writeFile(join(base, "clean/alley_1/frame_0001.png"), framePng(3, 2));
    await writeFile(join(base, "final/alley_1/frame_0001.png"), framePng(3, 2));
    await writeFile(join(base, "invalid/alley_1/frame_0002.png"), framePng(3, 2));
    const pairs = await findFlowPairs(dir);
    assert.deepEqual(pairs.map((p) => p.name), ["alley_1/frame_0001", "alley_1/frame_0002", "bamboo_2/frame_0009"]);
    assert.deepEqual(pairs[1], {
      name: "alley_1/frame_0002",
      layout: "sintel",
      first: join(base, "clean/alley_1/frame_0002.png"),
      second: join(base, "clean/alley_1/frame_0003.png"),
      truth: join(base, "flow/alley_1/frame_0002.flo"),
      invalid: join(base, "invalid/alley_1/frame_0002.png"),
    });
    assert.equal(pairs[2]!.second, join(base, "clean/bamboo_2/frame_0010.png"));
    const final = await findFlowPairs(base, { pass: "final" });
    assert.equal(final[0]!.first, join(base, "final/alley_1/frame_0001.png"));
  });
});

Deno.test("findFlowPairs says in one line that a folder holds no flow pairs, or is missing", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(join(dir, "photo.png"), framePng(3, 2));
    const message = await rejection(findFlowPairs(dir));
    assert.match(message, /: no flow pairs found \(expected Middlebury, KITTI or Sintel layout: .*other-gt-flow/);
    assert(message.startsWith(dir) && !message.includes("\n"), message);
    assert.match(await rejection(findFlowPairs(join(dir, "nope"))), /nope: no such folder$/);
    assert.match(await rejection(findFlowPairs(join(dir, "photo.png"))), /photo\.png: is a file, not a folder/);
  });
});

Deno.test("readFlowPair names the file whose size differs, the missing frame and the unreadable one", async () => {
  await withTempDir(async (dir) => {
    const path = (name: string) => join(dir, name);
    await Deno.writeFile(path("a.png"), framePng(37, 23));
    await Deno.writeFile(path("b.png"), framePng(37, 23, 1));
    await Deno.writeFile(path("small.png"), framePng(36, 23));
    await Deno.writeFile(path("bad.png"), new TextEncoder().encode("not an image"));
    await Deno.writeFile(path("t.flo"), encodeFlo(new Float32Array(2 * 37 * 23), 37, 23));
    await Deno.writeFile(path("t20.flo"), encodeFlo(new Float32Array(2 * 37 * 20), 37, 20));
    const pair = (second: string, truth = "t.flo") => ({
      name: "p",
      layout: "pair" as const,
      first: path("a.png"),
      second: path(second),
      truth: path(truth),
    });
    const loaded = await readFlowPair(pair("b.png"));
    assert.equal(loaded.truth.valid.length, 37 * 23);
    assert.match(
      await rejection(readFlowPair(pair("small.png"))),
      /small\.png: frame is 36x23, but .*a\.png is 37x23$/,
    );
    assert.match(
      await rejection(readFlowPair(pair("b.png", "t20.flo"))),
      /t20\.flo: ground truth is 37x20, but the frames are 37x23$/,
    );
    assert.match(await rejection(readFlowPair(pair("gone.png"))), /gone\.png: frame not found$/);
    assert.match(await rejection(readFlowPair(pair("bad.png"))), /bad\.png: not a readable image/);
  });
});

Deno.test({
  name: "findFlowPairs finds the RubberWhale pair in ../shared/data/flow/middlebury",
  ignore: !sharedDataPresent("flow/middlebury"),
  fn: async () => {
    const pairs = await findFlowPairs(`${sharedData}flow/middlebury`);
    assert.deepEqual(pairs.map((p) => [p.name, p.layout]), [["rubberwhale", "middlebury"]]);
    const { truth } = await readFlowPair(pairs[0]!);
    assert.equal(`${truth.width}x${truth.height}`, "584x388");
  },
});
