import assert from "node:assert/strict";
import { cli, countVideoFrames, errorLine, shell } from "./_cli.ts";
import { encodeRgbPng } from "../datasets/png.ts";

const tiny = ["--set", "source.width=64", "--set", "source.height=48", "--quiet"];

Deno.test("cli: y4m from 'deno task ffmpeg' on stdin -> y4m on stdout -> mp4 (the README's round trip)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // `deno task ffmpeg` runs the resolved ffmpeg (bundled when the machine has none); its "Task" line
    // goes to stderr, so the pipes carry only frames.
    const result = await shell(
      `DENO task ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -frames:v 12 -pix_fmt yuv420p -f yuv4mpegpipe - ` +
        `| SEGFLOW run graphs/per-frame.yaml --input - --output - --quiet --stats ${dir}/s.json ` +
        `| DENO task ffmpeg -v error -y -f yuv4mpegpipe -i - ${dir}/out.mp4`,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await countVideoFrames(`${dir}/out.mp4`), 12);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/s.json`));
    assert.equal(stats.frames, 12);
    assert.equal(stats.ffmpeg, null, "Segflow itself started no ffmpeg for y4m in and out");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: raw rgb24 on stdin with --size, raw gray8 labels out with --format labels", async () => {
  const result = await shell(
    `head -c ${3 * 32 * 16 * 3} /dev/zero | SEGFLOW run graphs/per-frame.yaml --input - --size 32x16 ` +
      `--output - --format labels --quiet | wc -c`,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(Number(result.stdout.trim()), 3 * 32 * 16);
});

Deno.test("cli: a truncated y4m stream fails naming the frame, and the frames before it are written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const frame = 32 * 16 + 2 * 16 * 8;
    const header = "YUV4MPEG2 W32 H16 F10:1 Ip C420jpeg\n";
    await Deno.writeFile(
      `${dir}/in.y4m`,
      new Uint8Array([
        ...new TextEncoder().encode(header),
        ...[0, 1, 2].flatMap(() => [...new TextEncoder().encode("FRAME\n"), ...new Uint8Array(frame).fill(100)]),
        ...new TextEncoder().encode("FRAME\n"),
        ...new Uint8Array(frame / 2),
      ]),
    );
    const result = await cli([
      "run",
      "graphs/per-frame.yaml",
      "--input",
      `${dir}/in.y4m`,
      "--output",
      `${dir}/labels`,
      "--quiet",
    ]);
    assert.equal(result.code, 1);
    assert.equal(
      errorLine(result.stderr),
      `error: ${dir}/in.y4m: frame 3 is truncated (${frame / 2} of ${frame} bytes)`,
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/labels`)].map((e) => e.name).sort(), [
      "000000.png",
      "000001.png",
      "000002.png",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: bad folders: a corrupt image names the file; an empty or unknown folder lists the layouts tried", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/frames`);
    await Deno.writeFile(`${dir}/frames/001.png`, encodeRgbPng(new Uint8Array(32 * 32 * 3), 32, 32));
    await Deno.writeFile(`${dir}/frames/002.png`, new TextEncoder().encode("not a png at all"));
    const corrupt = await cli([
      "run",
      "graphs/per-frame.yaml",
      "--input",
      `${dir}/frames`,
      "--output",
      `${dir}/o`,
      "--quiet",
    ]);
    assert.equal(corrupt.code, 1);
    assert.match(errorLine(corrupt.stderr), new RegExp(`^error: ${dir}/frames/002\\.png: not a readable image \\(`));
    assert.ok(Deno.statSync(`${dir}/o/001.png`).isFile, "the frame before the corrupt one was written");

    await Deno.mkdir(`${dir}/empty/sub`, { recursive: true });
    const empty = await cli(["run", "graphs/per-frame.yaml", "--input", `${dir}/empty`, "--quiet"]);
    assert.equal(empty.code, 1);
    assert.match(
      errorLine(empty.stderr),
      /no PNG or JPEG images in the folder, and no dataset layout recognised \(tried camvid: .*; cityscapes: .*; davis: .*\)$/,
    );

    await Deno.writeTextFile(`${dir}/notes.txt`, "hello");
    const unknown = await cli(["run", "graphs/per-frame.yaml", "--input", `${dir}/notes.txt`, "--quiet"]);
    assert.equal(unknown.code, 1);
    assert.match(
      errorLine(unknown.stderr),
      /notes\.txt': no source reads it; tried live: .*y4m: .*video: .*camvid: .*images: /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: an unreadable video fails with one line naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/broken.mp4`, "this is not a video");
    const result = await cli(["run", "graphs/per-frame.yaml", "--input", `${dir}/broken.mp4`, "--quiet"]);
    assert.equal(result.code, 1);
    assert.match(errorLine(result.stderr), new RegExp(`^error: ${dir}/broken\\.mp4: not a readable video \\(.+\\)$`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a reader that closes stdout early (EPIPE) ends the run cleanly", async () => {
  const result = await shell(
    `SEGFLOW run graphs/per-frame.yaml --set source.frames=500 ${
      tiny.join(" ")
    } --output - | head -c 2000 > /dev/null; ` +
      `echo "exit=\${PIPESTATUS[0]}"`,
  );
  assert.match(result.stdout, /exit=0/, result.stderr);
  assert.doesNotMatch(result.stderr, /error/);
});

Deno.test("cli: with a slow reader on stdout the engine's memory stays flat (1,200 frames)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const slowReader =
      "import sys, time\nwhile True:\n    d = sys.stdin.buffer.read(16384)\n    if not d: break\n    time.sleep(0.001)";
    const result = await shell(
      `SEGFLOW run graphs/tools/passthrough.yaml --set source.frames=1200 --set source.width=160 --set source.height=120 ` +
        `--output - --quiet --stats ${dir}/s.json | python3 -c '${slowReader}'`,
    );
    assert.equal(result.code, 0, result.stderr);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/s.json`));
    assert.equal(stats.frames, 1200);
    assert.ok(stats.peak_in_flight <= stats.max_in_flight);
    // Buffering the 1,136 frames after warm-up would take ~100 MB (RGB + YUV per frame); allow for V8 slack.
    const growth = stats.memory.rss_mb_peak - stats.memory.rss_mb_warm;
    assert.ok(growth < 64, `RSS grew ${growth.toFixed(1)} MB after warm-up`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
