import assert from "node:assert/strict";
import { cli, errorLine, exited, spawnCli, waitForFiles } from "./_cli.ts";
import { withTempDir } from "./_helpers.ts";
import { decodeIndexedPng } from "../datasets/png.ts";

const small = ["--set", "source.width=32", "--set", "source.height=32", "--models", "testing"];

/** Names under `dir` (at any depth) that are temporary files or write probes: a clean exit leaves none. */
function tempFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name.includes(".tmp-") || entry.name.startsWith(".segflow-probe")) found.push(entry.name);
    if (entry.isDirectory) found.push(...tempFiles(`${dir}/${entry.name}`));
  }
  return found;
}

Deno.test("cli run: a run that fails before any frame prints its error, not a summary; --stats still written", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/in`);
    await Deno.writeTextFile(`${dir}/in/0001.png`, "not a png");
    const result = await cli([
      ...["run", "graphs/per-frame.yaml", "--input", `${dir}/in`, "--output", `${dir}/out`],
      ...["--stats", `${dir}/stats.json`, ...small],
    ]);
    assert.equal(result.code, 1);
    assert.match(errorLine(result.stderr), /0001\.png/);
    assert.doesNotMatch(result.stderr, /frames in|latency|ms total/);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/stats.json`));
    assert.equal(stats.frames, 0);
  });
});

Deno.test("cli run: unwritable --stats, --trace and --output paths fail before the first frame, naming flag and path", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    await Deno.mkdir(`${dir}/folder`);
    await Deno.mkdir(`${dir}/lines.jsonl`);
    await Deno.mkdir(`${dir}/clip.mp4`);
    // /sys refuses new entries even to root; a path under a file fails for everyone.
    const cases: [string[], string][] = [
      [
        ["--stats", "/sys/segflow-test/x.json"],
        "--stats /sys/segflow-test/x.json: cannot write there (permission denied)",
      ],
      [
        ["--trace", `${dir}/file/t.json`],
        `--trace ${dir}/file/t.json: cannot write there (a part of the path is a file, not a folder)`,
      ],
      [["--stats", `${dir}/folder`], `--stats ${dir}/folder: is a folder; a file is expected there`],
      [["--output", `${dir}/file`], `--output ${dir}/file: is a file; a folder is expected there`],
      [
        ["--output", "/sys/segflow-test/labels"],
        "--output /sys/segflow-test/labels: cannot write there (permission denied)",
      ],
      [
        ["--output", `${dir}/file/out.y4m`],
        `--output ${dir}/file/out.y4m: cannot write there (a part of the path is a file, not a folder)`,
      ],
      [
        ["--set", "encode.dir=/sys/segflow-test/overlay"],
        "sink 'encode' dir /sys/segflow-test/overlay: cannot write there (permission denied)",
      ],
      [["--output", `${dir}/lines.jsonl`], `--output ${dir}/lines.jsonl: is a folder; a file is expected there`],
      [["--output", `${dir}/clip.mp4`], `--output ${dir}/clip.mp4: is a folder; a file is expected there`],
      [
        ["--output", `${dir}/file/sub`],
        `--output ${dir}/file/sub: cannot write there (a part of the path is a file, not a folder)`,
      ],
      [
        ["--set", "encode.dir=" + `${dir}/file`],
        `sink 'encode' dir ${dir}/file: is a file; a folder is expected there`,
      ],
      [
        ["--output", "/sys/segflow-test/v.mp4"],
        "--output /sys/segflow-test/v.mp4: cannot write there (permission denied)",
      ],
    ];
    for (const [flags, expected] of cases) {
      const started = performance.now();
      // A source that would take minutes proves the check runs before it opens.
      const result = await cli(["run", "graphs/per-frame.yaml", "--set", "source.frames=100000", ...small, ...flags]);
      assert.equal(result.code, 1, `${flags.join(" ")}: ${result.stderr}`);
      assert.equal(result.stderr.trim(), `error: ${expected}`);
      assert.ok(performance.now() - started < 20_000);
    }
    assert.deepEqual(tempFiles(dir), []);
  });
});

/** Starts the per-frame graph on an endless 32x32 clip writing label PNGs to `labels`, with `flags` added. */
function endlessRun(labels: string, flags: string[] = []): Deno.ChildProcess {
  return spawnCli([
    ...["run", "graphs/per-frame.yaml", "--set", "source.frames=100000", ...small],
    ...["--output", labels, "--quiet", ...flags],
  ]);
}

async function interruptRun(signal: "SIGTERM" | "SIGHUP", expectedCode: number): Promise<void> {
  await withTempDir(async (dir) => {
    const child = endlessRun(`${dir}/labels`, ["--stats", `${dir}/stats.json`, "--trace", `${dir}/trace.json`]);
    // Count, don't sleep and hope: signal once the first frames are on disk.
    await waitForFiles(`${dir}/labels`, 3);
    child.kill(signal);
    const { code, stderr } = await exited(child);
    assert.equal(code, expectedCode, stderr);
    assert.equal(stderr.trim(), `interrupted by ${signal}: finishing frames in flight and finalising outputs`);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/stats.json`));
    assert.equal(stats.interrupted, true);
    const pngs = [...Deno.readDirSync(`${dir}/labels`)].map((e) => e.name);
    assert.ok(pngs.length >= 3);
    assert.equal(pngs.length, stats.frames, "every finished frame was written");
    for (const name of pngs) {
      assert.ok(name.endsWith(".png"), `no temporary file: ${name}`);
      const image = decodeIndexedPng(await Deno.readFile(`${dir}/labels/${name}`));
      assert.equal(image?.width, 32, name);
    }
    const trace = JSON.parse(await Deno.readTextFile(`${dir}/trace.json`));
    assert.ok(Array.isArray(trace));
    assert.deepEqual(tempFiles(dir), []);
  });
}

Deno.test("cli run: SIGTERM finishes frames in flight, finalises outputs, writes interrupted stats, exits 143", async () => {
  await interruptRun("SIGTERM", 143);
});

Deno.test("cli run: SIGHUP behaves like SIGINT and exits 129", async () => {
  await interruptRun("SIGHUP", 129);
});

Deno.test("cli run: a second signal quits at once and leaves no temporary files", async () => {
  await withTempDir(async (dir) => {
    const child = endlessRun(`${dir}/labels`);
    await waitForFiles(`${dir}/labels`, 3);
    child.kill("SIGTERM");
    child.kill("SIGTERM");
    const { code, stderr } = await exited(child);
    assert.equal(code, 143, stderr);
    assert.deepEqual(tempFiles(dir), []);
    for (const name of Deno.readDirSync(`${dir}/labels`)) {
      assert.equal(decodeIndexedPng(await Deno.readFile(`${dir}/labels/${name.name}`))?.width, 32, name.name);
    }
  });
});
