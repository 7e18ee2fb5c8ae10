/**
 * The JSON-lines metadata schema v1 (`stages/_metadata.ts`): the `jsonl` sink's lines hold to its field tables (a
 * field missing, mistyped or not in a table fails), objects keep their track ids, track lines summarise their tracks,
 * `docs/metadata.md` documents exactly the tables' fields, and `--format jsonl` adds the lines to stdout beside a
 * graph's pictures.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseCli } from "../cli/args.ts";
import { runGraph } from "../engine/run.ts";
import {
  cameraFields,
  type FieldType,
  frameFields,
  metadataVersion,
  objectFields,
  trackFields,
} from "../stages/_metadata.ts";
import { cli, errorLine } from "./_cli.ts";
import { graphFrom, projectRoot, testSetup, withTempDir } from "./_helpers.ts";

type Line = Record<string, unknown>;

const schemaTables: Record<string, Record<string, FieldType>> = {
  frameFields,
  cameraFields,
  objectFields,
  trackFields,
};

/** A value's JSON type, as the field tables name them. */
function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** What is wrong with `value` against `table`: fields missing or of another type, and fields the table lacks. */
function fieldProblems(value: unknown, table: Record<string, FieldType>, where: string): string[] {
  if (jsonType(value) !== "object") return [`${where}: expected an object, got ${JSON.stringify(value)}`];
  const record = value as Line;
  const problems: string[] = [];
  for (const [field, type] of Object.entries(table)) {
    const allowed = type.split("|");
    if (!(field in record)) {
      if (!allowed.includes("absent")) problems.push(`${where}: '${field}' is missing`);
      continue;
    }
    const actual = jsonType(record[field]);
    if (!allowed.includes(actual)) problems.push(`${where}: '${field}' is ${actual}, the schema says '${type}'`);
  }
  for (const field of Object.keys(record)) {
    if (!(field in table)) problems.push(`${where}: '${field}' is not a field of the schema`);
  }
  return problems;
}

const isInteger = (value: unknown) => Number.isSafeInteger(value);

/** What is wrong with one object of a frame line: its fields, then its box and velocity. */
function objectProblems(object: unknown, where: string): string[] {
  const problems = fieldProblems(object, objectFields, where);
  if (problems.length) return problems;
  const { box, velocity_px, track_id, confidence } = object as Line;
  const bounds = box as unknown[];
  if (bounds.length !== 4 || !bounds.every(isInteger)) {
    problems.push(`${where}: 'box' must be 4 integers, got ${JSON.stringify(box)}`);
  } else {
    const [x0, y0, x1, y1] = bounds as number[];
    if (x0! > x1! || y0! > y1!) problems.push(`${where}: 'box' must have x0 <= x1 and y0 <= y1, got ${box}`);
  }
  if (velocity_px !== null) {
    const v = velocity_px as unknown[];
    if (v.length !== 2 || !v.every(Number.isFinite)) problems.push(`${where}: 'velocity_px' must be 2 numbers`);
  }
  if (track_id !== null && !(isInteger(track_id) && (track_id as number) >= 1)) {
    problems.push(`${where}: 'track_id' must be a positive integer or null, got ${track_id}`);
  }
  if (!((confidence as number) >= 0 && (confidence as number) <= 1)) {
    problems.push(`${where}: 'confidence' must be in [0, 1], got ${confidence}`);
  }
  return problems;
}

/** What is wrong with one metadata line against the v1 tables (none: a valid line). */
function lineProblems(line: unknown, where: string): string[] {
  const { type, v } = (jsonType(line) === "object" ? line : {}) as Line;
  if (type === "frame") {
    const problems = fieldProblems(line, frameFields, where);
    const { camera, objects, index } = line as Line;
    if (camera !== undefined) problems.push(...fieldProblems(camera, cameraFields, `${where} camera`));
    if (Array.isArray(objects)) objects.forEach((o, i) => problems.push(...objectProblems(o, `${where} object ${i}`)));
    if (!isInteger(index)) problems.push(`${where}: 'index' must be an integer, got ${index}`);
    if ((camera === undefined) !== (objects === undefined)) {
      problems.push(`${where}: 'camera' and 'objects' come together`);
    }
    if (v !== metadataVersion) problems.push(`${where}: 'v' must be ${metadataVersion}, got ${v}`);
    return problems;
  }
  if (type === "track") {
    const problems = fieldProblems(line, trackFields, where);
    const { end, first_frame, last_frame } = line as Line;
    if (end !== "lost" && end !== "stream_end" && end !== "sequence_end") {
      problems.push(`${where}: 'end' must be lost, stream_end or sequence_end, got ${end}`);
    }
    if ((first_frame as number) > (last_frame as number)) problems.push(`${where}: first_frame after last_frame`);
    if (v !== metadataVersion) problems.push(`${where}: 'v' must be ${metadataVersion}, got ${v}`);
    return problems;
  }
  return [`${where}: 'type' must be "frame" or "track", got ${JSON.stringify(type)}`];
}

/** Parses JSON lines and fails on the first problems of any line against the schema. */
function parseChecked(text: string, what: string): Line[] {
  const lines = text.trim().split("\n").map((text, i) => {
    try {
      return JSON.parse(text) as Line;
    } catch {
      throw new Error(`${what} line ${i + 1} is not JSON: ${text.slice(0, 200)}`);
    }
  });
  const problems = lines.flatMap((line, i) => lineProblems(line, `${what} line ${i + 1}`));
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
  return lines;
}

Deno.test("the schema check fails a renamed, missing, mistyped or unknown field and a bad box", () => {
  const object = {
    track_id: 1,
    class: "Car",
    class_id: 8,
    box: [1, 2, 3, 4],
    confidence: 1,
    distance_m: 5,
    distance_sigma_m: 0.2,
    lateral_m: -1,
    truncated: false,
    age: 0,
    hits: 1,
    velocity_px: [0, 0],
  };
  const frame = {
    v: 1,
    type: "frame",
    stream: "s",
    index: 0,
    timestamp: 0,
    latency_ms: 1,
    timings_ms: {},
    slots: {},
    camera: { focal_px: 400, horizon_y: 144, height_m: 1.5 },
    objects: [object],
  };
  assert.deepEqual(lineProblems(frame, "ok"), []);
  assert.deepEqual(lineProblems({ ...frame, name: "f0", objects: [{ ...object, track_id: null }] }, "ok"), []);
  const { track_id, ...untracked } = object;
  const bad: [string, unknown][] = [
    ["renamed", { ...frame, objects: [{ ...untracked, trackid: track_id }] }],
    ["missing", { ...frame, objects: [untracked] }],
    ["mistyped", { ...frame, index: "0" }],
    ["null where not allowed", { ...frame, objects: [{ ...object, class: null }] }],
    ["unknown", { ...frame, extra: 1 }],
    ["unknown camera field", { ...frame, camera: { ...frame.camera, fov: 1 } }],
    ["box of 3", { ...frame, objects: [{ ...object, box: [1, 2, 3] }] }],
    ["box not integers", { ...frame, objects: [{ ...object, box: [1, 2, 3.5, 4] }] }],
    ["box x0 > x1", { ...frame, objects: [{ ...object, box: [5, 2, 3, 4] }] }],
    ["velocity of 1", { ...frame, objects: [{ ...object, velocity_px: [1] }] }],
    ["wrong version", { ...frame, v: 2 }],
    ["unknown type", { ...frame, type: "frames" }],
  ];
  for (const [what, line] of bad) assert.notDeepEqual(lineProblems(line, what), [], what);
});

const width = 480, height = 360, frameCount = 40, maxAge = 3, minHits = 3;
const CAR = 8, PEDESTRIAN = 9, ROAD = 3;

/**
 * Painted labels on road: car A drives right 3 px/frame all clip long, pedestrian B walks left 2 px/frame and is gone
 * from frame 20, car C (lower, nearer) arrives on frame 12 and drives right 2 px/frame to the end.
 */
function paintLabels(index: number): Uint8Array {
  const labels = new Uint8Array(width * height).fill(ROAD);
  const rect = (x0: number, y0: number, w: number, h: number, id: number) => {
    for (let y = y0; y < y0 + h; y++) labels.fill(id, y * width + x0, y * width + x0 + w);
  };
  rect(40 + 3 * index, 200, 80, 50, CAR);
  if (index < 20) rect(400 - 2 * index, 200, 24, 90, PEDESTRIAN);
  if (index >= 12) rect(20 + 2 * (index - 12), 260, 90, 70, CAR);
  return labels;
}

/** The three files' lines: boxes bound to the track stage, to the boxes stage, and not bound. */
interface Written {
  tracked: Line[];
  untracked: Line[];
  plain: Line[];
}

let written: Written | undefined;

/** Runs the painted clip through boxes and track into three jsonl sinks (once for all the tests that read it). */
async function paintedClip(): Promise<Written> {
  if (written) return written;
  const { probe, registry } = testSetup();
  probe.functions.set("paint", (frame) => {
    frame.slots.set("labels", { type: "uint8", dims: [1, height, width], data: paintLabels(frame.index) });
  });
  written = await withTempDir(async (dir) => {
    const graph = await graphFrom(
      `source: { kind: synthetic, frames: ${frameCount}, width: ${width}, height: ${height} }
stages:
  - { id: paint, kind: call, fn: paint, out: { value: labels } }
  - id: boxes
    kind: boxes
    classes: [Car, Pedestrian]
    camera_height_m: 1.5
    focal_px: 400
    horizon: 0.4
    in: { labels: labels }
    out: { boxes: detections }
  - { id: track, kind: track, min_hits: ${minHits}, max_age: ${maxAge}, in: { boxes: detections }, out: { tracks: tracks } }
sinks:
  - { id: tracked, kind: jsonl, path: "${dir}/tracked.jsonl", in: { boxes: tracks } }
  - { id: untracked, kind: jsonl, path: "${dir}/untracked.jsonl", in: { boxes: detections } }
  - { id: plain, kind: jsonl, path: "${dir}/plain.jsonl" }
`,
      registry,
    );
    await runGraph(graph);
    const read = async (name: string) => parseChecked(await Deno.readTextFile(`${dir}/${name}.jsonl`), name);
    return { tracked: await read("tracked"), untracked: await read("untracked"), plain: await read("plain") };
  });
  return written;
}

const framesOf = (lines: Line[]) => lines.filter((l) => l.type === "frame");
const tracksOf = (lines: Line[]) => lines.filter((l) => l.type === "track");
const objectsOf = (line: Line) => line.objects as Line[];

/** Which painted object a tracked box is: by class and row (car C is below car A). */
function painted(object: Line): "A" | "B" | "C" {
  if (object.class === "Pedestrian") return "B";
  return (object.box as number[])[1]! < 255 ? "A" : "C";
}

/** Each painted object's frame lines' objects, by frame index. */
function sightings(lines: Line[]): Record<"A" | "B" | "C", Map<number, Line>> {
  const seen = { A: new Map<number, Line>(), B: new Map<number, Line>(), C: new Map<number, Line>() };
  for (const frame of framesOf(lines)) {
    for (const object of objectsOf(frame)) {
      const which = painted(object);
      assert.ok(!seen[which].has(frame.index as number), `object ${which} twice on frame ${frame.index}`);
      seen[which].set(frame.index as number, object);
    }
  }
  return seen;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

Deno.test("jsonl: every line holds to the v1 tables; objects and camera only with the boxes port bound", async () => {
  const { tracked, untracked, plain } = await paintedClip();
  for (const lines of [tracked, untracked, plain]) {
    assert.deepEqual(framesOf(lines).map((l) => l.index), range(0, frameCount - 1));
    assert.ok(framesOf(lines).every((l) => l.v === metadataVersion && l.stream === framesOf(lines)[0]!.stream));
  }
  for (const frame of framesOf(tracked)) {
    assert.deepEqual(frame.camera, { focal_px: 400, horizon_y: 144, height_m: 1.5 });
    const timed = Object.keys(frame.timings_ms as object);
    assert.ok(["paint", "boxes", "track"].every((id) => timed.includes(id)), `frame ${frame.index} timings ${timed}`);
    const ids = objectsOf(frame).map((o) => o.track_id as number);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `frame ${frame.index}: objects in track-id order`);
  }
  for (const frame of framesOf(untracked)) {
    assert.equal(objectsOf(frame).length, (frame.index as number) < 12 ? 2 : (frame.index as number) < 20 ? 3 : 2);
    for (const object of objectsOf(frame)) {
      assert.deepEqual([object.track_id, object.age, object.hits, object.velocity_px], [null, null, null, null]);
    }
  }
  assert.deepEqual(tracksOf(untracked), [], "no track lines without a track stage");
  for (const frame of plain) assert.ok(!("objects" in frame) && !("camera" in frame), `plain frame ${frame.index}`);
  assert.deepEqual(tracksOf(plain), []);
});

Deno.test("jsonl: a steadily moving object keeps its track id; boxes, distances and motion match the scene", async () => {
  const { tracked } = await paintedClip();
  const seen = sightings(tracked);
  // Objects of the stream's first min_hits frames are confirmed at once; car C, arriving on frame 12, after 3 hits.
  assert.deepEqual([...seen.A.keys()], range(0, frameCount - 1));
  assert.deepEqual([...seen.B.keys()], range(0, 19));
  assert.deepEqual([...seen.C.keys()], range(12 + minHits - 1, frameCount - 1));
  const ids = (["A", "B", "C"] as const).map((which) => new Set([...seen[which].values()].map((o) => o.track_id)));
  for (const set of ids) assert.equal(set.size, 1, `one id per object, got ${[...set]}`);
  assert.equal(new Set(ids.map((set) => [...set][0])).size, 3, "three objects, three ids");

  const last = seen.A.get(frameCount - 1)!;
  const x0 = 40 + 3 * (frameCount - 1);
  (last.box as number[]).forEach((v, i) => {
    const expected = [x0, 200, x0 + 79, 249][i]!;
    assert.ok(Math.abs(v - expected) <= 1, `car A's box ${last.box} ~ painted [${x0}, 200, ${x0 + 79}, 249]`);
  });
  assert.deepEqual([last.class, last.class_id, last.age, last.hits], ["Car", CAR, frameCount - 1, frameCount]);
  assert.deepEqual([seen.B.get(10)!.class, seen.B.get(10)!.class_id], ["Pedestrian", PEDESTRIAN]);
  const close = (actual: number, expected: number, what: string) =>
    assert.ok(Math.abs(actual - expected) < 0.5, `${what}: ${actual} ~ ${expected}`);
  const velocity = (o: Line) => o.velocity_px as number[];
  close(velocity(last)[0]!, 3, "car A's velocity x (px/frame)");
  close(velocity(last)[1]!, 0, "car A's velocity y");
  close(velocity(seen.B.get(19)!)[0]!, -2, "pedestrian B's velocity x");
  close(velocity(seen.C.get(frameCount - 1)!)[0]!, 2, "car C's velocity x");
  // Lower in the frame is nearer: C (bottom row 329) < B (289) < A (249); A is left of centre, B right.
  const [a, b, c] = [seen.A.get(15)!, seen.B.get(15)!, seen.C.get(15)!];
  const distance = (o: Line) => o.distance_m as number;
  assert.ok(
    distance(c) < distance(b) && distance(b) < distance(a),
    `distances A ${a.distance_m} B ${b.distance_m} C ${c.distance_m}`,
  );
  assert.ok((a.lateral_m as number) < 0 && (b.lateral_m as number) > 0, `lateral A ${a.lateral_m}, B ${b.lateral_m}`);
  for (const o of [a, b, c]) {
    assert.ok((o.distance_sigma_m as number) > 0 && o.truncated === false && o.confidence === 1, JSON.stringify(o));
  }
});

Deno.test("jsonl: a vanished object's track ends 'lost' max_age frames on; live ones end 'stream_end' last", async () => {
  const { tracked } = await paintedClip();
  const seen = sightings(tracked);
  const idOf = (which: "A" | "B" | "C") => [...seen[which].values()][0]!.track_id;
  const tracks = tracksOf(tracked);
  assert.deepEqual(
    tracks.map((t) => [t.track_id, t.end]).sort(),
    [
      [idOf("A"), "stream_end"],
      [idOf("B"), "lost"],
      [idOf("C"), "stream_end"],
    ].sort(),
  );
  const lost = tracks.find((t) => t.end === "lost")!;
  assert.deepEqual(
    [lost.class, lost.class_id, lost.first_frame, lost.last_frame, lost.frames],
    ["Pedestrian", PEDESTRIAN, 0, 19, 20],
  );
  const before = tracked[tracked.indexOf(lost) - 1]!;
  assert.deepEqual([before.type, before.index], ["frame", 19 + maxAge + 1], "written after the frame it ended on");
  const lastFrameLine = tracked.findLastIndex((l) => l.type === "frame");
  assert.equal(tracked[lastFrameLine]!.index, frameCount - 1);
  const ends = tracked.slice(lastFrameLine + 1);
  assert.deepEqual(ends.map((l) => l.end), ["stream_end", "stream_end"], "stream_end lines follow the last frame line");
  const carA = ends.find((t) => t.track_id === idOf("A"))!, carC = ends.find((t) => t.track_id === idOf("C"))!;
  assert.deepEqual([carA.first_frame, carA.last_frame, carA.frames], [0, frameCount - 1, frameCount]);
  assert.deepEqual([carC.first_frame, carC.last_frame, carC.frames], [12, frameCount - 1, frameCount - 12]);
  for (const t of tracks) assert.equal(t.stream, tracked[0]!.stream);
});

Deno.test("jsonl: a track line's distances and last timestamp summarise its objects' frame lines", async () => {
  const { tracked } = await paintedClip();
  const timestamps = new Map(framesOf(tracked).map((f) => [f.index as number, f.timestamp as number]));
  for (const track of tracksOf(tracked)) {
    const distances = framesOf(tracked).flatMap((f) =>
      objectsOf(f).filter((o) => o.track_id === track.track_id).map((o) => o.distance_m as number)
    );
    assert.ok(distances.length > 0 && distances.every((d) => d > 0), `track ${track.track_id}: ${distances}`);
    const [least, most] = [Math.min(...distances), Math.max(...distances)];
    const mean = track.mean_distance_m as number;
    assert.equal(track.min_distance_m, least, `track ${track.track_id}'s min_distance_m`);
    assert.ok(
      mean >= least - 0.05 && mean <= most + 0.05,
      `track ${track.track_id}: mean ${mean} in [${least}, ${most}]`,
    );
    assert.equal(track.last_timestamp, timestamps.get(track.last_frame as number), `track ${track.track_id}`);
  }
});

Deno.test("jsonl: a track line's first_timestamp is its first_frame's, also for a track confirmed after min_hits", async () => {
  const { tracked } = await paintedClip();
  const timestamps = new Map(framesOf(tracked).map((f) => [f.index as number, f.timestamp as number]));
  for (const track of tracksOf(tracked)) {
    assert.equal(
      track.first_timestamp,
      timestamps.get(track.first_frame as number),
      `track ${track.track_id}: first_frame ${track.first_frame}`,
    );
  }
});

/** A row's cells (pipes escaped as `\|` stay in their cell). */
function cells(row: string): string[] {
  return row.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((cell) => cell.trim());
}

/** The field tables of a page: each `<!-- fields: NAME -->` marker and the table after it, as field -> type. */
function documentedTables(markdown: string): Map<string, Record<string, string>> {
  const tables = new Map<string, Record<string, string>>();
  const lines = markdown.split("\n");
  lines.forEach((line, at) => {
    const name = /^<!-- fields: (\w+) -->$/.exec(line.trim())?.[1];
    if (!name) return;
    assert.ok(!tables.has(name), `docs/metadata.md: a second table for '${name}'`);
    let i = at + 1;
    while (lines[i]?.trim() === "") i++;
    const rows: string[] = [];
    for (; lines[i]?.startsWith("|"); i++) rows.push(lines[i]!);
    assert.deepEqual(cells(rows[0] ?? ""), ["Field", "Type", "Meaning"], `docs/metadata.md: '${name}' table header`);
    const fields: Record<string, string> = {};
    for (const row of rows.slice(2)) {
      const [field, type, meaning] = cells(row);
      const code = (cell: string | undefined) => /^`([^`]+)`$/.exec(cell ?? "")?.[1]?.replaceAll("\\|", "|");
      const fieldName = code(field), fieldType = code(type);
      assert.ok(
        fieldName && fieldType && meaning,
        `docs/metadata.md '${name}': a row needs \`field\`, \`type\`, meaning: ${row}`,
      );
      assert.ok(!(fieldName in fields), `docs/metadata.md '${name}': '${fieldName}' twice`);
      fields[fieldName] = fieldType;
    }
    tables.set(name, fields);
  });
  return tables;
}

Deno.test("docs/metadata.md lists exactly the fields and types of each table in _metadata.ts", async () => {
  const page = await Deno.readTextFile(`${projectRoot}/docs/metadata.md`);
  const documented = documentedTables(page);
  assert.deepEqual([...documented.keys()].sort(), Object.keys(schemaTables).sort());
  for (const [name, table] of Object.entries(schemaTables)) {
    const fields = documented.get(name)!;
    const listed = (t: Record<string, string>) => Object.entries(t).sort(([a], [b]) => a.localeCompare(b));
    assert.deepEqual(listed(fields), listed(table), `docs/metadata.md's '${name}' table`);
  }
  // The page's example lines are valid lines.
  const examples = [...page.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!));
  assert.deepEqual(examples.map((e) => e.type), ["frame", "track"]);
  examples.forEach((example, i) => assert.deepEqual(lineProblems(example, `example ${i + 1}`), []));
});

const cliGraph = (pngDir: string) =>
  `name: meta
model_set: testing
source: { kind: synthetic, frames: 6, width: 160, height: 120, seed: 16 }
models: { seg: seg }
stages:
  - { id: seg, kind: model, model: seg, out: { labels: labels } }
  - { id: boxes, kind: boxes, min_area: 20, in: { labels: labels }, out: { boxes: detections } }
  - { id: track, kind: track, in: { boxes: detections }, out: { tracks: boxes } }
sinks:
  - { id: encode, kind: overlay-png, dir: "${pngDir}", in: { labels: labels, boxes: boxes } }
`;

Deno.test("cli: --format jsonl puts only JSON lines on stdout, beside the graph's own overlay PNGs", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/g.yaml`, cliGraph(`${dir}/png`));
    const result = await cli(["run", `${dir}/g.yaml`, "--format", "jsonl", "--quiet"]);
    assert.equal(result.code, 0, result.stderr);
    const lines = parseChecked(result.stdout, "stdout");
    assert.deepEqual(framesOf(lines).map((l) => l.index), range(0, 5));
    assert.ok(lines.every((l) => l.type === "frame" || l.type === "track"));
    // The added sink reads the track stage's record (slot `boxes`): objects with ids, and track lines at the end.
    assert.ok(framesOf(lines).every((l) => Array.isArray(l.objects)), "every frame line has objects");
    assert.ok(framesOf(lines).some((l) => objectsOf(l).some((o) => o.track_id !== null)), "tracked objects");
    assert.ok(tracksOf(lines).length > 0, "track lines");
    const pngs = [...Deno.readDirSync(`${dir}/png`)].map((e) => e.name).filter((n) => n.endsWith(".png"));
    assert.equal(pngs.length, 6, "the overlay sink still writes its PNGs: the jsonl sink is added, not swapped in");
  });
});

Deno.test("cli: a --format that is not y4m, labels or jsonl is a one-line usage error", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/g.yaml`, cliGraph(`${dir}/png`));
    const withOutput = await cli(["run", `${dir}/g.yaml`, "--format", "bogus", "--output", "-", "--quiet"]);
    assert.equal(withOutput.code, 1);
    assert.equal(withOutput.stdout, "");
    assert.equal(errorLine(withOutput.stderr), "error: '--format' must be 'y4m', 'labels' or 'jsonl', got 'bogus'");
    const alone = await cli(["run", `${dir}/g.yaml`, "--format", "bogus", "--quiet"]);
    assert.equal(alone.code, 1);
    assert.equal(alone.stdout, "");
    const line = errorLine(alone.stderr);
    assert.ok(line.includes("--format") && line.includes("bogus"), line);
    assert.ok(![...Deno.readDirSync(dir)].some((e) => e.name === "png"), "nothing ran");
  });
});

Deno.test("parseCli: --format jsonl takes a .jsonl --output (any case) for metadata; pictures formats refuse it", () => {
  const base = ["run", "graphs/dvsnet.yaml"];
  for (const file of ["out/meta.jsonl", "out/META.JSONL", "out/meta.ndjson"]) {
    const parsed = parseCli([...base, "--output", file, "--format", "jsonl"]);
    assert.equal(parsed.metadata, file);
    assert.equal(parsed.output, undefined, "the pictures keep the graph's own sinks");
  }
  for (const format of ["labels", "y4m"]) {
    assert.throws(
      () => parseCli([...base, "--output", "meta.jsonl", "--format", format]),
      new RegExp(
        `^UsageError: --output 'meta.jsonl' is a metadata \\(JSON lines\\) file, not one for --format ${format}`,
      ),
    );
  }
});
