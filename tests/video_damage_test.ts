import assert from "node:assert/strict";
import { ffmpegTools } from "../datasets/ffmpeg_binary.ts";
import { cli, errorLine } from "./_cli.ts";
import { withTempDir } from "./_helpers.ts";

/** 30 frames of 320x240 test pattern with noise (so every frame has bytes of its own), encoded with `codec`. */
async function makeVideo(path: string, codec: string[]): Promise<Uint8Array> {
  const { ffmpeg } = await ffmpegTools();
  const out = await new Deno.Command(ffmpeg.path, {
    args: [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30,noise=alls=30:allf=t"],
      ...["-frames:v", "30", ...codec, path],
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return await Deno.readFile(path);
}

const x264 = ["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", "-movflags", "+faststart"];
const mjpeg = ["-c:v", "mjpeg", "-q:v", "3"];

/** The same bytes with 2,000 bytes in the middle scrambled. */
function scrambled(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  for (let i = out.length >> 1; i < (out.length >> 1) + 2000; i++) out[i] = (out[i]! * 7 + 13) & 255;
  return out;
}

/** Runs the per-frame graph on `input` writing labels to `labels`: the result, PNGs written, damage lines. */
async function runOn(input: string, labels: string, extra: string[] = []) {
  const result = await cli([
    ...["run", "graphs/per-frame.yaml", "--models", "testing", "--input", input, "--output", labels, "--quiet"],
    ...extra,
  ]);
  let pngs = 0;
  try {
    pngs = [...Deno.readDirSync(labels)].filter((e) => e.name.endsWith(".png")).length;
  } catch {
    // No frame was written.
  }
  const damage = result.stderr.split("\n").filter((l) => l.includes("damaged or truncated video"));
  return { ...result, pngs, damage };
}

/** Asserts the one-line damage error and that exactly the good frames were written; returns the good count. */
function assertDamaged(result: Awaited<ReturnType<typeof runOn>>, input: string): number {
  assert.equal(result.code, 1, result.stderr);
  const line = errorLine(result.stderr);
  const match = line.match(
    /^error: (.+): damaged or truncated video: decoded (\d+) of 30 declared frames \((?:last good frame (\d+)|no good frame)(?:; ffmpeg: .+)?\)$/,
  );
  assert.ok(match, line);
  assert.equal(match[1], input);
  const good = match[3] === undefined ? 0 : Number(match[3]) + 1;
  assert.equal(Number(match[2]), good, "without --allow-partial only good frames are decoded");
  assert.equal(result.pngs, good, "every good frame was written before the error");
  assert.ok(good < 30, line);
  return good;
}

for (const [name, codec] of [["mp4", x264], ["avi", mjpeg]] as const) {
  Deno.test(`video source: an intact ${name} runs with no warning; truncated to 60% it fails after its good frames`, async () => {
    await withTempDir(async (dir) => {
      const bytes = await makeVideo(`${dir}/intact.${name}`, [...codec]);
      const intact = await runOn(`${dir}/intact.${name}`, `${dir}/intact`);
      assert.equal(intact.code, 0, intact.stderr);
      assert.equal(intact.pngs, 30);
      assert.deepEqual(intact.damage, []);

      const input = `${dir}/truncated.${name}`;
      await Deno.writeFile(input, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      const good = assertDamaged(await runOn(input, `${dir}/strict`), input);
      assert.ok(good >= 10, `${good} good frames of the first 60%`);

      const partial = await runOn(input, `${dir}/partial`, ["--allow-partial"]);
      assert.equal(partial.code, 0, partial.stderr);
      assert.equal(partial.damage.length, 1, partial.stderr);
      assert.match(
        partial.damage[0]!,
        /^warning: .*: damaged or truncated video: decoded \d+ of 30 declared frames .*--allow-partial\)$/,
      );
      assert.doesNotMatch(partial.stderr, /^error:/m);
      assert.ok(partial.pngs >= good && partial.pngs < 30, `${partial.pngs} frames kept`);
    });
  });

  Deno.test(`video source: an ${name} with bytes overwritten in the middle fails naming the last good frame`, async () => {
    await withTempDir(async (dir) => {
      const input = `${dir}/damaged.${name}`;
      await Deno.writeFile(input, scrambled(await makeVideo(`${dir}/intact.${name}`, [...codec])));
      assertDamaged(await runOn(input, `${dir}/strict`), input);
      const partial = await runOn(input, `${dir}/partial`, ["--allow-partial"]);
      assert.equal(partial.code, 0, partial.stderr);
      assert.equal(partial.damage.length, 1, partial.stderr);
      assert.match(partial.damage[0]!, /\(last good frame \d+; ffmpeg: .+\); kept the frames ffmpeg decoded/);
      assert.equal(partial.pngs, 30, "concealed frames are kept with --allow-partial");
    });
  });
}

Deno.test("video source: an mp4 cut to its first 1 KB (no moov atom) fails at open, naming the file", async () => {
  await withTempDir(async (dir) => {
    // Without +faststart the moov atom is written last, so the first kilobyte has none.
    const bytes = await makeVideo(`${dir}/whole.mp4`, ["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    await Deno.writeFile(`${dir}/cut.mp4`, bytes.subarray(0, 1024));
    const result = await runOn(`${dir}/cut.mp4`, `${dir}/labels`);
    assert.equal(result.code, 1);
    assert.equal(
      errorLine(result.stderr),
      `error: ${dir}/cut.mp4: not a readable video (moov atom not found: the file is truncated or was never finalised)`,
    );
    assert.equal(result.pngs, 0);
  });
});

Deno.test("video source: an absurd declared size fails naming the file and the size, before the decoder starts", async () => {
  await withTempDir(async (dir) => {
    // Stand-ins: an ffprobe that declares 100000x100000, an ffmpeg that notes when it is asked to decode.
    await Deno.writeTextFile(
      `${dir}/ffprobe`,
      `#!/bin/sh\nif [ "$1" = -version ]; then echo "ffprobe version 9.9 Copyright (c) 2007-2030"; exit 0; fi\n` +
        `echo '{"streams":[{"width":100000,"height":100000,"avg_frame_rate":"30/1","nb_frames":"30"}],"format":{"format_name":"avi"}}'\n`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(
      `${dir}/ffmpeg`,
      `#!/bin/sh\nif [ "$1" = -version ]; then echo "ffmpeg version 9.9 Copyright (c) 2000-2030"; exit 0; fi\n` +
        `touch '${dir}/decoder-started'\n`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(`${dir}/huge.avi`, "not really a video");
    const result = await cli(
      ["run", "graphs/per-frame.yaml", "--models", "testing", "--input", `${dir}/huge.avi`],
      undefined,
      { SEGFLOW_FFMPEG: `${dir}/ffmpeg`, SEGFLOW_FFPROBE: `${dir}/ffprobe`, NO_COLOR: "1" },
    );
    assert.equal(result.code, 1);
    assert.equal(
      errorLine(result.stderr),
      `error: ${dir}/huge.avi: frame size 100000x100000 is not plausible (at most 16384 per side and 1 GiB per frame)`,
    );
    assert.throws(() => Deno.statSync(`${dir}/decoder-started`), Deno.errors.NotFound);
  });
});
