/**
 * The flow model's encoder/decoder cuts (`<stem>-encode.yaml`, `<stem>-decode.yaml` beside the whole model's card):
 * where they are and their cards, checked against the whole model's contract (`stages/flow.ts`, `encoder:`).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { loadModelCard, type ModelCard } from "../engine/model_card.ts";

/** Where the encoder and decoder cuts of a flow card would be: `<stem>-encode.yaml`, `<stem>-decode.yaml` beside it. */
export function flowCutFiles(card: Pick<ModelCard, "cardFile">): { encoder: string; decoder: string } {
  const stem = basename(card.cardFile).replace(/\.ya?ml$/, "");
  const dir = dirname(card.cardFile);
  return { encoder: join(dir, `${stem}-encode.yaml`), decoder: join(dir, `${stem}-decode.yaml`) };
}

/** Whether `path` is a file. */
export const exists = (path: string): boolean => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
};

/** The cuts' cards, checked against the whole model's contract; undefined: run the whole model. */
export async function loadFlowCuts(
  card: ModelCard,
  params: { encoder: string; reference_input: string; current_input: string; model: string },
  fetches: string[],
): Promise<{ encoder: ModelCard; decoder: ModelCard } | undefined> {
  if (params.encoder === "whole") return undefined;
  const files = flowCutFiles(card);
  const found = [files.encoder, files.decoder].filter(exists);
  if (found.length === 0 && params.encoder === "auto") return undefined;
  if (found.length < 2) {
    const missing = [files.encoder, files.decoder].filter((f) => !found.includes(f));
    throw new TypeError(
      `flow model '${params.model}': 'encoder: ${params.encoder}' needs the cuts ${
        missing.map((f) => `'${f}'`).join(" and ")
      } (or set 'encoder: whole')`,
    );
  }
  const [encoder, decoder] = [await loadModelCard(files.encoder), await loadModelCard(files.decoder)];
  const fail = (what: string) => {
    throw new TypeError(`flow cuts of model '${params.model}' (${files.encoder}, ${files.decoder}): ${what}`);
  };
  if (encoder.inputs.length !== 1 || encoder.inputs[0]!.dtype !== "uint8") {
    fail(`the encoder must take one uint8 image, it takes [${encoder.inputs.map((i) => `${i.name} ${i.dtype}`)}]`);
  }
  if (encoder.multipleOf !== card.multipleOf) {
    fail(`the encoder's multiple_of ${encoder.multipleOf} is not the whole model's ${card.multipleOf}`);
  }
  const wanted = [params.reference_input, params.current_input].flatMap((side) =>
    encoder.outputs.map((o) => `${side}_${o.name}`)
  );
  const given = decoder.inputs.map((i) => i.name);
  if (wanted.length !== given.length || !wanted.every((name) => given.includes(name))) {
    fail(`the decoder's inputs [${given}] must be the encoder's outputs for both frames: [${wanted}]`);
  }
  for (const port of fetches) {
    const whole = card.outputs.find((o) => o.name === port)!;
    const cut = decoder.outputs.find((o) => o.name === port);
    if (!cut || (cut.stride ?? 1) !== (whole.stride ?? 1)) {
      fail(`the decoder must output '${port}' with stride ${whole.stride ?? 1}, as the whole model does`);
    }
  }
  return { encoder, decoder };
}
