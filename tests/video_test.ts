/**
 * The `video` sink: an overlay or colour-mask video through ffmpeg, at the frames' size and the source's rate,
 * finalised at the end of the stream and on Ctrl-C.
 */
import assert from "node:assert/strict";
import { probeVideo } from "../datasets/ffmpeg_probe.ts";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { runGraph } from "../engine/run.ts";
import { countVideoFrames, exited, spawnCli } from "./_cli.ts";
import { graphFrom, testSetup, withTempDir } from "./_helpers.ts";
import { fileNames, runSinks } from "./_sinks.ts";

/** The mean colour of each frame of the video at `path`, read back through the `video` source. */
async function meanColours(path: string): Promise<number[][]> {
  const { probe, registry } = testSetup();
  const means: number[][] = [];
  probe.functions.set("mean", (frame) => {
    const image = frame.image;
    const sums = [0, 0, 0];
    for (let i = 0; i < image.data.length; i++) sums[i % 3]! += image.data[i]!;
    means.push(sums.map((sum) => sum / (image.width * image.height)));
  });
  const graph = await graphFrom(
    `source: { kind: video, path: "${path}" }\nstages:\n  - { id: mean, kind: call, fn: mean }\n`,
    registry,
  );
  await runGraph(graph, { quiet: true });
  return means;
}

Deno.test("video(style: mask) writes every frame at the frames' size and rate, in the class colours", async () => {
  await withTempDir(async (dir) => {
    // Frames 0-3 are all Road, 4-7 all Car.
    const clip = { frames: 8, width: 64, height: 32, fps: 10 };
    const labelsOf = (index: number) => new Uint8Array(64 * 32).fill(index < 4 ? 3 : 8);
    await runSinks([`{ kind: video, path: "${dir}/out/masks.mp4", style: mask }`], labelsOf, clip);
    assert.deepEqual(fileNames(`${dir}/out`), ["masks.mp4"], "no temporary file is left");
    const info = await probeVideo(`${dir}/out/masks.mp4`);
    assert.deepEqual([info.width, info.height, info.fps], [64, 32, 10]);
    assert.equal(await countVideoFrames(`${dir}/out/masks.mp4`), 8);
    const means = await meanColours(`${dir}/out/masks.mp4`);
    assert.equal(means.length, 8);
    means.forEach((mean, index) => {
      const colour = camvidClasses.palette[index < 4 ? 3 : 8]!;
      // H.264 in 4:2:0 is lossy: a flat colour comes back within a few levels.
      for (let c = 0; c < 3; c++) {
        assert.ok(Math.abs(mean[c]! - colour[c]!) < 6, `frame ${index}: ${mean} vs ${colour}`);
      }
    });
  });
});

Deno.test("video: a run whose frames never reach the sink leaves no file and no temporary file", async () => {
  await withTempDir(async (dir) => {
    await runSinks([`{ kind: video, path: "${dir}/none.mp4" }`], undefined, { frames: 0, width: 64, height: 32 });
    assert.deepEqual(fileNames(dir), []);
  });
});

Deno.test("cli: Ctrl-C during a video write leaves a playable file and writes the stats", async () => {
  await withTempDir(async (dir) => {
    const child = spawnCli([
      ...["run", "graphs/per-frame.yaml", "--set", "source.frames=100000", "--set", "execution.realtime=true"],
      ...["--output", `${dir}/out.mp4`, "--stats", `${dir}/stats.json`, "--quiet"],
    ]);
    // Interrupt once the encoder is writing (its temporary file exists), not after a guessed delay.
    for (let waited = 0; waited < 30_000; waited += 100) {
      if ([...Deno.readDirSync(dir)].some((entry) => entry.name.includes(".tmp-"))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    child.kill("SIGINT");
    const { code, stderr } = await exited(child);
    assert.equal(code, 130, stderr);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/stats.json`));
    assert.equal(stats.interrupted, true);
    assert.ok(stats.frames >= 1, `${stats.frames} frames`);
    assert.match(stats.ffmpeg.source, /^(override|system|bundled)$/);
    assert.equal(await countVideoFrames(`${dir}/out.mp4`), stats.frames);
  });
});
