import assert from "node:assert/strict";
import { openAtomic, writeFileAtomic } from "../engine/atomic_write.ts";
import { runGraph } from "../engine/run.ts";
import { graphFrom, testSetup, withTempDir } from "./_helpers.ts";
import { decodeIndexedPng } from "../datasets/png.ts";

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

/** A graph that segments `source` with the testing set's `seg` into slot `labels`, written by `sinks`. */
const segmentGraph = (source: string, sinks: string[]) =>
  `model_set: testing
source: ${source}
models: { seg: seg }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
sinks:
${sinks.map((sink) => `  - ${sink}\n`).join("")}`;

Deno.test("writeFileAtomic: a write that fails midway leaves no file at the path and no temporary file", async () => {
  await withTempDir(async (dir) => {
    const failing = async (path: string, bytes: Uint8Array) => {
      await Deno.writeFile(path, bytes.subarray(0, bytes.length / 2));
      throw new Error("No space left on device (os error 28)");
    };
    await assert.rejects(() => writeFileAtomic(`${dir}/a.png`, new Uint8Array(1000), failing), /No space left/);
    assert.deepEqual(names(dir), []);
    // An earlier complete file is left as it was.
    await writeFileAtomic(`${dir}/b.json`, new TextEncoder().encode("{}"));
    await assert.rejects(() => writeFileAtomic(`${dir}/b.json`, new Uint8Array(10), failing));
    assert.deepEqual(names(dir), ["b.json"]);
    assert.equal(await Deno.readTextFile(`${dir}/b.json`), "{}");
  });
});

Deno.test("openAtomic: streamed files appear at their path only when committed; discard leaves nothing", async () => {
  await withTempDir(async (dir) => {
    const kept = await openAtomic(`${dir}/out.jsonl`);
    await kept.file.write(new TextEncoder().encode("{}\n"));
    assert.deepEqual(names(dir), [kept.tempPath.slice(dir.length + 1)]);
    assert.match(kept.tempPath, /out\.jsonl\.tmp-\d+-\d+$/);
    await kept.commit();
    assert.deepEqual(names(dir), ["out.jsonl"]);
    const dropped = await openAtomic(`${dir}/bad.jsonl`);
    await dropped.file.write(new TextEncoder().encode("{"));
    await dropped.discard();
    assert.deepEqual(names(dir), ["out.jsonl"]);
  });
});

Deno.test("sinks: a normal run leaves complete files and no temporary ones (jsonl, tensors, labels, trace)", async () => {
  await withTempDir(async (dir) => {
    const { registry } = testSetup();
    const graph = await graphFrom(
      segmentGraph("{ kind: pattern, frames: 4, width: 32, height: 32 }", [
        `{ kind: jsonl, path: "${dir}/frames.jsonl" }`,
        `{ kind: tensors, dir: "${dir}/tensors", slots: [labels] }`,
        `{ kind: labels-png, dir: "${dir}/labels", in: { labels: labels } }`,
        `{ kind: labels-raw, path: "${dir}/labels.gray", in: { labels: labels } }`,
      ]),
      registry,
    );
    await runGraph(graph, { tracePath: `${dir}/trace.json` });
    assert.deepEqual(names(dir), ["frames.jsonl", "labels", "labels.gray", "tensors", "trace.json"]);
    assert.equal((await Deno.readTextFile(`${dir}/frames.jsonl`)).trim().split("\n").length, 4);
    assert.equal(names(`${dir}/labels`).length, 4);
    assert.deepEqual(names(`${dir}/tensors`), ["frames.jsonl", "labels"]);
    assert.equal(names(`${dir}/tensors/labels`).filter((n) => n.endsWith(".npy")).length, 4);
    assert.equal((await Deno.stat(`${dir}/labels.gray`)).size, 4 * 32 * 32);
    JSON.parse(await Deno.readTextFile(`${dir}/trace.json`));
  });
});

/** Mounts a tiny tmpfs (root only); undefined where that is not allowed. */
async function tinyDisk(bytes: number): Promise<string | undefined> {
  const dir = await Deno.makeTempDir();
  const out = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir] })
    .output().catch(() => undefined);
  if (out?.success) return dir;
  await Deno.remove(dir);
  console.warn("SKIPPED: cannot mount a tmpfs here (needs root); the disk-full case is covered by injection");
  return undefined;
}

Deno.test("sinks: a full disk never leaves a half-written file at an output path", async () => {
  const disk = await tinyDisk(16 * 1024);
  if (!disk) return;
  try {
    const { registry } = testSetup();
    for (
      const sink of [`{ kind: jsonl, path: "${disk}/frames.jsonl" }`, `{ kind: labels-raw, path: "${disk}/l.gray" }`]
    ) {
      const graph = await graphFrom(
        segmentGraph("{ kind: pattern, frames: 200, width: 64, height: 64 }", [sink]),
        registry,
      );
      await assert.rejects(() => runGraph(graph, { warn: () => {} }), /No space left|os error 28/i);
      assert.deepEqual(names(disk), [], sink);
    }
    // One file per frame: the frames written before the disk filled are complete; the one that failed is gone.
    const graph = await graphFrom(
      segmentGraph("{ kind: pattern, frames: 400, width: 64, height: 64 }", [
        `{ kind: labels-png, dir: "${disk}/labels" }`,
      ]),
      registry,
    );
    await assert.rejects(() => runGraph(graph, { warn: () => {} }), /No space left|os error 28/i);
    const pngs = names(`${disk}/labels`);
    assert.ok(pngs.length > 0);
    for (const name of pngs) {
      assert.match(name, /^\d+\.png$|^[a-z0-9_]+\.png$/, `no temporary file: ${name}`);
      assert.equal(decodeIndexedPng(await Deno.readFile(`${disk}/labels/${name}`))?.width, 64, name);
    }
  } finally {
    await new Deno.Command("umount", { args: [disk] }).output();
    await Deno.remove(disk, { recursive: true });
  }
});
