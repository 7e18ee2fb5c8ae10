/**
 * Bad inputs from the QA corpus (graph files, model cards, flags, frames, masks, outputs): each fails with
 * exit code 1 and exactly one `error: ...` line that names the culprit, with no stack trace. One case per
 * defect class that was fixed; the fixtures are written into a temporary folder.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, type CommandResult, shell } from "./_cli.ts";
import { projectRoot } from "./_helpers.ts";
import { encodeIndexedPng, encodeRgbPng } from "../datasets/png.ts";
import { formatY4mHeader } from "../datasets/y4m.ts";

/** One corpus case: CLI arguments (or a bash line, `SEGFLOW` = the CLI) and the error line it must give. */
interface BadCase {
  name: string;
  args?: string[];
  shell?: string;
  /** Expected exit code (1 unless said). */
  code?: number;
  error: RegExp;
}

const fast = ["--models", "testing", "--frames", "3", "--set", "source.width=64", "--set", "source.height=48"];
const perFrame = ["run", "graphs/per-frame.yaml", ...fast];

/** A graph with one model stage whose models come from `models:` (a card path or a set name). */
function graphText(model = "seg", extra = ""): string {
  return `name: t
model_set: testing
source: { kind: synthetic, frames: 3, width: 64, height: 48 }
models:
  seg: ${model}
stages:
  - id: segment
    kind: model
    model: seg
    in: { image: image }
    out: { labels: labels }
sinks:
  - kind: labels-png
    dir: out/bad-input-corpus
    in: { labels: labels }
${extra}`;
}

/** Writes the fixtures and returns the cases that use them. */
async function corpus(dir: string): Promise<BadCase[]> {
  const at = (name: string) => join(dir, name);
  const text = (name: string, body: string) => Deno.writeTextFile(at(name), body);
  const base = graphText();
  // Graph files.
  await Deno.writeFile(at("utf16.yaml"), new Uint8Array([0xff, 0xfe, ...new TextEncoder().encode("name: t\n")]));
  await Deno.writeFile(at("nul.yaml"), new TextEncoder().encode("name: t\nsource:\0\n"));
  await Deno.writeFile(at("latin1.yaml"), new Uint8Array([...new TextEncoder().encode("name: caf"), 0xe9, 0x0a]));
  await text("stage-null.yaml", base.replace(/ {2}- id: segment[^]*?labels: labels }\n/, "  - \n"));
  await text("stage-string.yaml", base.replace(/ {2}- id: segment[^]*?labels: labels }\n/, "  - segment\n"));
  await text("kind-missing.yaml", base.replace("    kind: model\n", ""));
  await text("source-list.yaml", base.replace(/source: \{[^}]*\}/, "source: [synthetic]"));
  await text("source-no-kind.yaml", base.replace("kind: synthetic, ", ""));
  await text("id-source.yaml", base.replace("id: segment", "id: source"));
  await text("multidoc.yaml", `${base}---\nname: second\n`);
  await text("param-inf.yaml", base.replace("    model: seg\n", "    model: seg\n    concurrency: .inf\n"));
  await text("frames-huge.yaml", base.replace("frames: 3", "frames: 1e300"));
  // Model cards: a copy of the testing seg card next to its ONNX file, broken one way each.
  const card = await Deno.readTextFile(join(projectRoot, "models/testing/seg.yaml"));
  const onnx = await Deno.readFile(join(projectRoot, "models/testing/seg.onnx"));
  const cards: Record<string, string> = {
    "layout": card.replace("layout: NHWC", "layout: HWCN"),
    "multiple-of": card.replace("file: seg.onnx", "file: seg.onnx\nmultiple_of: 100000"),
    "min-size": card.replace("file: seg.onnx", "file: seg.onnx\nmin_size: 100000"),
    "palette-entry": card.replace("- [64, 0, 128]", "- [300, 0, 128]"),
    "palette-count": card.replace(/names: \[Sky, [^\]]*\]/, "names: [Sky, Building]"),
    "std-zero": card.replace("file: seg.onnx", "file: seg.onnx\npreprocessing: { mean: [0, 0, 0], std: [0, 1, 1] }"),
    "onnx-dir": card,
  };
  for (const [name, body] of Object.entries(cards)) {
    await Deno.mkdir(at(`card-${name}`));
    await text(`card-${name}/seg.yaml`, body);
    if (name === "onnx-dir") await Deno.mkdir(at(`card-${name}/seg.onnx`));
    else await Deno.writeFile(at(`card-${name}/seg.onnx`), onnx);
    await text(`card-${name}/g.yaml`, graphText("./seg.yaml"));
  }
  // Frames: a 64x48 y4m clip, one with a doubled W, and label maps / masks of the wrong kind.
  const frame = new Uint8Array(64 * 48 * 3 / 2).fill(128);
  const y4m = (header: string) => {
    const bytes = [...new TextEncoder().encode(header)];
    for (let i = 0; i < 3; i++) bytes.push(...new TextEncoder().encode("FRAME\n"), ...frame);
    return new Uint8Array(bytes);
  };
  await Deno.writeFile(at("clip.y4m"), y4m(formatY4mHeader(64, 48, 10)));
  await Deno.writeFile(at("double-w.y4m"), y4m("YUV4MPEG2 W64 W32 H48 F10:1 C420jpeg\n"));
  const colour = new Uint8Array(64 * 48 * 3).map((_, i) => (i % 3) * 80);
  const grey = (id: number) => encodeIndexedPng(new Uint8Array(64 * 48).fill(id), 64, 48, [[0, 0, 0]]);
  await Deno.writeFile(at("colour.png"), encodeRgbPng(colour, 64, 48));
  await Deno.writeFile(at("empty-mask.png"), grey(0));
  for (const [name, annot] of [["camvid-colour", encodeRgbPng(colour, 64, 48)], ["camvid-ids", grey(200)]] as const) {
    await Deno.mkdir(at(`${name}/val`), { recursive: true });
    await Deno.mkdir(at(`${name}/valannot`));
    await Deno.writeFile(at(`${name}/val/s_001.png`), encodeRgbPng(colour, 64, 48));
    await Deno.writeFile(at(`${name}/valannot/s_001.png`), annot);
  }
  const out = at("out");
  const pml = ["run", "graphs/pml-vos.yaml", "--models", "testing", "--input", at("clip.y4m"), "--output", out];
  return [
    // Graph files: encodings, shapes of stages and sources, reserved ids, YAML's own words, odd numbers.
    { name: "UTF-16 graph", args: ["check", at("utf16.yaml")], error: /utf16\.yaml:1:1: is UTF-16 text/ },
    { name: "binary graph", args: ["check", at("nul.yaml")], error: /nul\.yaml:2:8: is not a text file/ },
    { name: "Latin-1 graph", args: ["check", at("latin1.yaml")], error: /latin1\.yaml:1:10: is not UTF-8 text/ },
    {
      name: "graph from a named pipe nobody writes",
      shell: `mkfifo ${at("pipe.yaml")} && SEGFLOW check ${at("pipe.yaml")}`,
      error: /pipe\.yaml:1:1: is a named pipe and nothing wrote to it/,
    },
    { name: "null stage", args: ["check", at("stage-null.yaml")], error: /:7:5: stages entry 1 must be a mapping/ },
    { name: "string stage", args: ["check", at("stage-string.yaml")], error: /stages entry 1 .*got "segment"/ },
    { name: "stage without kind", args: ["check", at("kind-missing.yaml")], error: /stage 'segment' needs a 'kind'/ },
    { name: "source as a list", args: ["check", at("source-list.yaml")], error: /'source' must be a mapping/ },
    { name: "source without kind", args: ["check", at("source-no-kind.yaml")], error: /source needs a 'kind'/ },
    { name: "reserved stage id", args: ["check", at("id-source.yaml")], error: /:7:9: id 'source' is reserved/ },
    { name: "two YAML documents", args: ["check", at("multidoc.yaml")], error: /:16:1: .*a second YAML document/ },
    { name: ".inf parameter", args: ["check", at("param-inf.yaml")], error: /'concurrency' must be .*got \.inf$/ },
    { name: "1e300 frames", args: ["check", at("frames-huge.yaml")], error: /'frames' must be at most \d+/ },
    // Model cards.
    ...Object.entries({
      "layout": /seg\.yaml:10:13: 'layout' must be 'NCHW' or 'NHWC', got "HWCN"/,
      "multiple-of": /seg\.yaml:7:14: 'multiple_of' must be at most 256/,
      "min-size": /seg\.yaml:7:11: 'min_size' must be at most 4096/,
      "palette-entry": /seg\.yaml:\d+:\d+: 'classes.palette' entry 8 \(Car\) must be \[r, g, b\]/,
      "palette-count": /'classes.palette' has 11 colours but 'classes.names' has 2/,
      "std-zero": /'preprocessing.std' must be three positive numbers/,
      "onnx-dir": /seg\.yaml:6:7: ONNX file '.*seg\.onnx' is a folder/,
    }).map(([name, error]) => ({ name: `card: ${name}`, args: ["run", at(`card-${name}/g.yaml`)], error })),
    // Flags.
    { name: "--frames -1", args: [...perFrame, "--frames", "-1"], error: /'--frames' must be a positive .*'-1'/ },
    {
      name: "--max-in-flight -3",
      args: [...perFrame, "--max-in-flight", "-3"],
      error: /'--max-in-flight' must be at least 1, got -3$/,
    },
    { name: "misspelt flag", args: [...perFrame, "--frams", "3"], error: /'--frams' \(did you mean '--frames'\?\)/ },
    { name: "--output ''", args: [...perFrame, "--output", ""], error: /--output needs a value/ },
    {
      name: "--stats and --trace one file",
      args: [...perFrame, "--stats", at("s.json"), "--trace", at("s.json")],
      error: /--stats and --trace both name/,
    },
    { name: "--set of an id", args: [...perFrame, "--set", "segment.id=x"], error: /'id' cannot be changed/ },
    { name: "--set of a kind", args: [...perFrame, "--set", "segment.kind=flow"], error: /'kind' cannot be changed/ },
    {
      name: "--size with a y4m file",
      args: [...perFrame, "--input", at("clip.y4m"), "--size", "64x48"],
      error: /--size 64x48 reads --input as raw rgb24 .* is a \.y4m file/,
    },
    {
      name: "--format for a folder",
      args: [...perFrame, "--format", "labels", "--output", out],
      error: /--format labels applies to --output - or a file/,
    },
    {
      name: "--sweep that no graph sets",
      args: ["eval", "graphs/per-frame.yaml", ...fast, "--report", out, "--sweep", "decide.bogus=1,2"],
      error: /--sweep decide\.bogus=\.\.\.: no graph given sets 'bogus'/,
    },
    // Outputs that fail while writing name the file.
    { name: "--trace to a full disk", args: [...perFrame, "--trace", "/dev/full"], error: /--trace \/dev\/full: / },
    { name: "stdout on a full disk", shell: `SEGFLOW ${perFrame.join(" ")} --output - > /dev/full`, error: /stdout:/ },
    {
      name: "jsonl on a full disk",
      shell: `ln -s /dev/full ${at("full.jsonl")} && SEGFLOW ${perFrame.join(" ")} --output ${at("full.jsonl")}`,
      error: /full\.jsonl: cannot write/,
    },
    // Frames, ground truth and first masks.
    {
      name: "y4m header with two widths",
      args: [...perFrame, "--input", at("double-w.y4m")],
      error: /double-w\.y4m: y4m header gives 'W' twice/,
    },
    {
      name: "a frame too large for the model's outputs",
      args: ["run", "graphs/per-frame.yaml", "--models", "testing", "--frames", "1", "--input", "/dev/zero"].concat(
        ["--size", "16000x16000", "--output", out],
      ),
      error: /frame 0.*16000x16000, too large for model 'seg': its output 'scores' would take 10\.5 GiB/,
    },
    {
      name: "colour CamVid annotation",
      args: [...perFrame, "--input", at("camvid-colour"), "--output", out],
      error: /valannot\/s_001\.png: is a colour image/,
    },
    {
      name: "CamVid annotation with unknown ids",
      args: [...perFrame, "--input", at("camvid-ids"), "--output", out],
      error: /valannot\/s_001\.png: label 200 at pixel 0,0 is not a class id \(0\.\.10\) or the ignore id \(11\)/,
    },
    {
      name: "colour first mask",
      args: [...pml, "--set", `pml.first_mask=${at("colour.png")}`],
      error: /colour\.png: is a colour image/,
    },
    {
      name: "first mask without an object",
      args: [...pml, "--set", `pml.first_mask=${at("empty-mask.png")}`],
      error: /first mask .*empty-mask\.png has no object/,
    },
  ];
}

/** What is wrong with a result, or undefined when it is one clean error line matching the case. */
function problem(c: BadCase, r: CommandResult): string | undefined {
  const lines = r.stderr.split("\n");
  const errors = lines.filter((l) => l.startsWith("error:"));
  if (r.code !== (c.code ?? 1)) return `exit code ${r.code}, expected ${c.code ?? 1}`;
  if (lines.some((l) => /^\s+at /.test(l) || l.includes("Uncaught"))) return "a stack trace";
  if (errors.length !== 1) return `${errors.length} error lines`;
  if (!c.error.test(errors[0]!)) return `error line does not match ${c.error}`;
  return undefined;
}

Deno.test("bad input corpus: one clear error line naming the culprit, for every fixed defect class", async () => {
  const dir = await Deno.makeTempDir({ prefix: "segflow-bad-input-" });
  try {
    const cases = await corpus(dir);
    const failures: string[] = [];
    // Two at a time: most cases are a Deno start-up and a graph load.
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        const result = c.shell !== undefined ? await shell(c.shell) : await cli(c.args!);
        const wrong = problem(c, result);
        if (wrong) failures.push(`${c.name}: ${wrong}\n${result.stderr.trim()}`);
      }
    };
    await Promise.all([worker(), worker()]);
    assert.ok(failures.length === 0, `${failures.length} of ${cases.length} cases failed:\n\n${failures.join("\n\n")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
