import assert from "node:assert/strict";
import { dirname } from "node:path";
import { ffmpegTools, isNewerFfmpeg, parseFfmpegVersion, resolveFfmpegTools } from "../datasets/ffmpeg_binary.ts";
import { probeVideo } from "../datasets/ffmpeg_probe.ts";
import { projectRoot } from "./_helpers.ts";

/** PATH with only Deno's own folder: no system ffmpeg or ffprobe. */
const bareEnv = () => ({ PATH: dirname(Deno.execPath()), HOME: Deno.env.get("HOME") });

async function runs(path: string): Promise<string> {
  const out = await new Deno.Command(path, { args: ["-version"], stdout: "piped", stderr: "null" }).output();
  assert.ok(out.success, `${path} -version failed`);
  return new TextDecoder().decode(out.stdout).split("\n")[0]!;
}

Deno.test("resolveFfmpegTools() with no system ffmpeg on PATH finds the npm packages' binaries, and they run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tools = await resolveFfmpegTools({ env: bareEnv(), cacheDirs: [`${dir}/cache`] });
    assert.equal(tools.ffmpeg.source, "bundled");
    assert.match(tools.ffmpeg.path, /@ffmpeg-installer\/linux-x64\/ffmpeg$/);
    assert.match(
      await runs(tools.ffmpeg.path),
      new RegExp(`^ffmpeg version ${tools.ffmpeg.version.replaceAll(".", "\\.")}`),
    );
    // Deno installs ffprobe without its executable bit: it is run from an executable copy in the cache.
    assert.ok(tools.ffprobe, "an ffprobe");
    assert.equal(tools.ffprobe.source, "bundled");
    assert.match(await runs(tools.ffprobe.path), /^ffprobe version /);
    assert.ok((Deno.statSync(tools.ffprobe.path).mode ?? 0) & 0o100, "executable");
    // Resolving again reuses the copy.
    const again = await resolveFfmpegTools({ env: bareEnv(), cacheDirs: [`${dir}/cache`] });
    assert.equal(again.ffprobe?.path, tools.ffprobe.path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveFfmpegTools() probes with ffmpeg itself when ffprobe cannot be made executable", async () => {
  const tools = await resolveFfmpegTools({ env: bareEnv(), cacheDirs: ["/proc/segflow-not-writable"] });
  // The in-place file may already be executable on some installs; otherwise there is no ffprobe.
  if (tools.ffprobe) return;
  const dir = await Deno.makeTempDir();
  try {
    await makeClip(tools.ffmpeg.path, `${dir}/clip.mp4`, ["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    const info = await probeVideo(`${dir}/clip.mp4`, tools);
    assert.deepEqual([info.width, info.height, info.fps, info.frames], [96, 64, 10, 12]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveFfmpegTools(): SEGFLOW_FFMPEG overrides; an override that cannot run is a one-line error", async () => {
  const bundled = await resolveFfmpegTools({ env: bareEnv() });
  const dir = await Deno.makeTempDir();
  try {
    // Another path to the same binary, to tell the override from the bundled one.
    await Deno.symlink(bundled.ffmpeg.path, `${dir}/my-ffmpeg`);
    const chosen = await resolveFfmpegTools({ env: { ...bareEnv(), SEGFLOW_FFMPEG: `${dir}/my-ffmpeg` } });
    assert.deepEqual(chosen.ffmpeg, { path: `${dir}/my-ffmpeg`, version: bundled.ffmpeg.version, source: "override" });
    await assert.rejects(
      resolveFfmpegTools({ env: { ...bareEnv(), SEGFLOW_FFMPEG: `${dir}/missing` } }),
      (error: Error) => {
        assert.equal(error.name, "InputError");
        assert.equal(
          error.message,
          `SEGFLOW_FFMPEG='${dir}/missing' cannot be run (No such file or directory); unset it or point it at an executable`,
        );
        return true;
      },
    );
    await Deno.writeTextFile(`${dir}/not-ffmpeg`, "#!/bin/sh\necho hello\n", { mode: 0o755 });
    await assert.rejects(
      resolveFfmpegTools({ env: { ...bareEnv(), SEGFLOW_FFPROBE: `${dir}/not-ffmpeg` } }),
      /^InputError: SEGFLOW_FFPROBE='.*not-ffmpeg' cannot be run \(it printed no ffmpeg version\); unset/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveFfmpegTools(): a system ffmpeg on PATH is used only when it is newer than the bundled one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fake = (version: string, year: number) =>
      `#!/bin/sh\necho "ffmpeg version ${version} Copyright (c) 2000-${year} the FFmpeg developers"\n`;
    await Deno.mkdir(`${dir}/new`);
    await Deno.writeTextFile(`${dir}/new/ffmpeg`, fake("7.1.1", 2025), { mode: 0o755 });
    await Deno.mkdir(`${dir}/old`);
    await Deno.writeTextFile(`${dir}/old/ffmpeg`, fake("3.4.8", 2018), { mode: 0o755 });
    const newer = await resolveFfmpegTools({ env: { PATH: `${dir}/new` } });
    assert.deepEqual(newer.ffmpeg, { path: `${dir}/new/ffmpeg`, version: "7.1.1", source: "system" });
    const older = await resolveFfmpegTools({ env: { PATH: `${dir}/old` } });
    assert.equal(older.ffmpeg.source, "bundled");
    // Without the npm package, any system ffmpeg will do; with neither, one line says what to do.
    const only = await resolveFfmpegTools({ env: { PATH: `${dir}/old` }, bundled: { ffmpeg: null, ffprobe: null } });
    assert.equal(only.ffmpeg.source, "system");
    await assert.rejects(
      resolveFfmpegTools({ env: { PATH: "" }, bundled: { ffmpeg: null, ffprobe: null } }),
      /^InputError: ffmpeg not found: run 'deno install' .*, put ffmpeg on PATH, or set SEGFLOW_FFMPEG$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseFfmpegVersion() and isNewerFfmpeg() read releases, git snapshots and distribution builds", () => {
  const debian = parseFfmpegVersion("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers")!;
  const snapshot = parseFfmpegVersion(
    "ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018",
  )!;
  const tagged = parseFfmpegVersion("ffprobe version n6.0 Copyright (c) 2007-2023")!;
  assert.deepEqual(debian, { version: "5.1.6-0+deb12u1", release: [5, 1, 6], year: 2024 });
  assert.deepEqual(snapshot, { version: "N-47683-g0e8eb07980-static", release: null, year: 2018 });
  assert.deepEqual(tagged.release, [6, 0, 0]);
  assert.ok(isNewerFfmpeg(debian, snapshot));
  assert.ok(!isNewerFfmpeg(snapshot, debian));
  assert.ok(isNewerFfmpeg(debian, tagged) === false && isNewerFfmpeg(tagged, debian) === true);
  assert.equal(parseFfmpegVersion("hello"), null);
});

/** Writes 12 frames of ffmpeg's test pattern (96x64, 10 fps) with the given codec arguments. */
async function makeClip(ffmpeg: string, path: string, codec: string[]): Promise<void> {
  const out = await new Deno.Command(ffmpeg, {
    args: ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "12", ...codec, path],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

Deno.test("ffmpegTools(): encode (x264, VP9, MJPEG), probe and decode a clip through the resolved binaries", async () => {
  const tools = await ffmpegTools();
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [file, codec] of [
        ["clip.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]],
        ["clip.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime"]],
        ["clip.avi", ["-c:v", "mjpeg"]],
      ] as const
    ) {
      const path = `${dir}/${file}`;
      await makeClip(tools.ffmpeg.path, path, [...codec]);
      const info = await probeVideo(path);
      assert.deepEqual([info.width, info.height, info.fps], [96, 64, 10], file);
      assert.ok(
        info.frames === undefined || Math.abs(info.frames - 12) <= 1,
        `${file}: ${info.frames} frames declared`,
      );
      const decoded = await new Deno.Command(tools.ffmpeg.path, {
        args: ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(decoded.success, new TextDecoder().decode(decoded.stderr));
      assert.equal(decoded.stdout.length, 12 * 96 * 64 * 3, file);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probeVideo() falls back to ffmpeg when ffprobe crashes (the bundled one segfaults on MPEG-TS)", async () => {
  const tools = await ffmpegTools();
  const dir = await Deno.makeTempDir();
  try {
    await makeClip(tools.ffmpeg.path, `${dir}/clip.ts`, ["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    const info = await probeVideo(`${dir}/clip.ts`);
    assert.deepEqual([info.width, info.height, info.fps, info.format], [96, 64, 10, "mpegts"]);
    assert.equal(info.frames, undefined, "MPEG-TS durations are estimates: no declared frame count");
    await Deno.writeTextFile(`${dir}/crashing-ffprobe`, "#!/bin/sh\nkill -SEGV $$\n", { mode: 0o755 });
    const crashing = { path: `${dir}/crashing-ffprobe`, version: "x", source: "override" as const };
    await makeClip(tools.ffmpeg.path, `${dir}/clip.mp4`, ["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    const mp4 = await probeVideo(`${dir}/clip.mp4`, { ffmpeg: tools.ffmpeg, ffprobe: crashing });
    assert.deepEqual([mp4.width, mp4.height, mp4.fps, mp4.frames], [96, 64, 10, 12]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run with PATH holding only deno resolves the bundled ffmpeg and names it in --stats and --debug", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tools = await ffmpegTools();
    await makeClip(tools.ffmpeg.path, `${dir}/clip.mp4`, ["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", "main.ts", "run", "graphs/per-frame.yaml", "--models", "testing"],
        ...[
          "--input",
          `${dir}/clip.mp4`,
          "--output",
          `${dir}/labels`,
          "--stats",
          `${dir}/s.json`,
          "--quiet",
          "--debug",
        ],
      ],
      cwd: projectRoot,
      clearEnv: true,
      env: { PATH: dirname(Deno.execPath()), HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/s.json`));
    assert.equal(stats.frames, 12);
    assert.equal(stats.ffmpeg.source, "bundled");
    assert.match(stats.ffmpeg.path, /@ffmpeg-installer\/linux-x64\/ffmpeg$/);
    assert.equal(stats.ffmpeg.version, tools.ffmpeg.version);
    assert.equal(stats.ffprobe.source, "bundled");
    assert.match(stderr, new RegExp(`^debug: ffmpeg \\S+/ffmpeg \\(version \\S+, bundled\\)$`, "m"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
