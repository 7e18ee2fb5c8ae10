import assert from "node:assert/strict";
import { join } from "node:path";
import { loadModelCard } from "../engine/model_card.ts";
import { modelsRoot } from "./_helpers.ts";
import { setDomain } from "../engine/model_sets.ts";

/** Every card in the model sets (`models/<set>/*.yaml`, but not the set's own `set.yaml`). */
function cardFiles(): string[] {
  const cards: string[] = [];
  for (const set of Deno.readDirSync(modelsRoot)) {
    if (!set.isDirectory || set.name === "train") continue;
    for (const file of Deno.readDirSync(join(modelsRoot, set.name))) {
      if (file.isFile && file.name.endsWith(".yaml") && file.name !== "set.yaml") {
        cards.push(join(modelsRoot, set.name, file.name));
      }
    }
  }
  return cards.sort();
}

Deno.test("every committed model has a valid card that matches its ONNX file", async () => {
  const cards = cardFiles();
  assert.ok(cards.length > 0, "no model cards found");
  for (const file of cards) {
    const card = await loadModelCard(file);
    assert.ok(card.inputs.length > 0 && card.outputs.length > 0, `${file}: inputs and outputs`);
    // The card lists every input of the ONNX file (outputs may be a subset the engine fetches).
    assert.deepEqual(
      card.inputs.map((i) => i.name).sort(),
      card.signature.inputs.map((i) => i.name).sort(),
      `${file}: card inputs = ONNX inputs`,
    );
    const size = (await Deno.stat(card.onnxFile)).size;
    assert.ok(size < 10 * 2 ** 20, `${card.onnxFile} is ${(size / 2 ** 20).toFixed(1)} MB (limit 10 MB)`);
    if (card.classes) assert.equal(card.classes.names.length, card.classes.palette.length);
  }
});

Deno.test("every ONNX file in the model sets has a card", () => {
  const carded = new Set<string>();
  for (const file of cardFiles()) {
    const text = Deno.readTextFileSync(file);
    const match = /^file:\s*(\S+)/m.exec(text);
    if (match) carded.add(join(file, "..", match[1]!));
  }
  for (const set of Deno.readDirSync(modelsRoot)) {
    if (!set.isDirectory) continue;
    for (const file of Deno.readDirSync(join(modelsRoot, set.name))) {
      if (file.name.endsWith(".onnx")) {
        assert.ok(carded.has(join(modelsRoot, set.name, file.name)), `${set.name}/${file.name} has no card`);
      }
    }
  }
});

Deno.test("committed models stay within the budget: each file under 25 MB, all under 100 MB", () => {
  let total = 0;
  for (const set of Deno.readDirSync(modelsRoot)) {
    if (!set.isDirectory) continue;
    for (const file of Deno.readDirSync(join(modelsRoot, set.name))) {
      if (!file.name.endsWith(".onnx")) continue;
      const size = Deno.statSync(join(modelsRoot, set.name, file.name)).size;
      assert.ok(size < 25 * 2 ** 20, `${set.name}/${file.name}: ${(size / 2 ** 20).toFixed(1)} MB`);
      total += size;
    }
  }
  assert.ok(total < 100 * 2 ** 20, `models total ${(total / 2 ** 20).toFixed(1)} MB`);
});

Deno.test("every model set says what it was trained on (set.yaml domain)", async () => {
  for (const set of Deno.readDirSync(modelsRoot)) {
    if (!set.isDirectory || set.name === "train") continue;
    assert.ok(
      await setDomain(modelsRoot, set.name),
      `models/${set.name}/set.yaml needs 'domain: real|synthetic|testing'`,
    );
  }
});
