/**
 * A new user's first hour with a common size: a 960x540 mp4 goes through per-frame, DVSNet and PML-VOS end to
 * end with no flag, and every output is a playable video (or mask folder) at 960x540. Also the README's ffmpeg
 * pipe example, verbatim, on that mp4. Videos come from the resolved ffmpeg (npm's static binary on a fresh
 * machine).
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { ffmpegTools } from "../datasets/ffmpeg_binary.ts";
import { cli, countVideoFrames, shell } from "./_cli.ts";

const [width, height, frames] = [960, 540, 8];

/** Writes a 960x540 H.264 mp4 of moving test patterns; returns its path. */
async function makeVideo(dir: string): Promise<string> {
  const { ffmpeg } = await ffmpegTools();
  const path = `${dir}/in.mp4`;
  const out = await new Deno.Command(ffmpeg.path, {
    args: [
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=${width}x${height}:rate=15:duration=${frames / 15}`,
      "-c:v",
      "libx264",
      "-pix_fmt",
      "yuv420p",
      "-y",
      path,
    ],
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return path;
}

/** Width and height of a video's first stream. */
async function videoSize(path: string): Promise<[number, number]> {
  const { ffprobe, ffmpeg } = await ffmpegTools();
  if (ffprobe) {
    const out = await new Deno.Command(ffprobe.path, {
      args: ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", path],
      stdout: "piped",
    }).output();
    const [w, h] = new TextDecoder().decode(out.stdout).trim().split(",").map(Number);
    return [w!, h!];
  }
  const out = await new Deno.Command(ffmpeg.path, { args: ["-i", path], stderr: "piped" }).output();
  const match = new TextDecoder().decode(out.stderr).match(/, (\d+)x(\d+)[, ]/)!;
  return [Number(match[1]), Number(match[2])];
}

Deno.test("960x540 mp4 through per-frame, DVSNet and PML-VOS: playable 960x540 outputs, every frame", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const input = await makeVideo(dir);
    for (const graph of ["per-frame", "dvsnet"]) {
      const output = `${dir}/${graph}.mp4`;
      const result = await cli(["run", `graphs/${graph}.yaml`, "--input", input, "--output", output, "--quiet"]);
      assert.equal(result.code, 0, `${graph}: ${result.stderr}`);
      assert.deepEqual(await videoSize(output), [width, height], graph);
      assert.equal(await countVideoFrames(output), frames, graph);
    }
    // PML: a first-frame mask (0/255, at the video's size) seeds the objects; overlay video + DAVIS masks out.
    const mask = new Uint8Array(width * height);
    for (let y = 180; y < 360; y++) mask.fill(255, y * width + 380, y * width + 580);
    await sharp(mask, { raw: { width, height, channels: 1 } }).png().toFile(`${dir}/mask.png`);
    const result = await cli([
      "run",
      "graphs/pml-vos.yaml",
      "--input",
      input,
      "--output",
      `${dir}/pml.mp4`,
      "--set",
      `pml.first_mask=${dir}/mask.png`,
      "--set",
      `masks.dir=${dir}/masks`,
      "--quiet",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await videoSize(`${dir}/pml.mp4`), [width, height]);
    assert.equal(await countVideoFrames(`${dir}/pml.mp4`), frames);
    const masks: string[] = [];
    for await (const entry of Deno.readDir(`${dir}/masks`)) {
      for await (const file of Deno.readDir(`${dir}/masks/${entry.name}`)) masks.push(`${entry.name}/${file.name}`);
    }
    assert.equal(masks.length, frames);
    const meta = await sharp(`${dir}/masks/${masks.sort()[0]}`).metadata();
    assert.deepEqual([meta.width, meta.height], [width, height]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the README's ffmpeg pipe example works verbatim on a 960x540 mp4", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const input = await makeVideo(dir);
    const readme = await Deno.readTextFile("README.md");
    const example = readme.split("\n").find((line) =>
      line.includes("-f yuv4mpegpipe -") && line.includes("graphs/per-frame.yaml --input - --output -")
    );
    assert.ok(example, "README.md has the ffmpeg pipe example");
    // Verbatim but for the file names: run from the repository root, as the README's commands are.
    const command = example.trim().replace(/\bin\.mp4\b/, `'${input}'`).replace(/\bout\.mp4\b/, `'${dir}/out.mp4'`);
    const result = await shell(command.replaceAll("deno task", "DENO task"));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await videoSize(`${dir}/out.mp4`), [width, height]);
    assert.equal(await countVideoFrames(`${dir}/out.mp4`), frames);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
