// EPE of a flow model on Middlebury RubberWhale (or any folder `deno task eval-flow` reads), run with
// onnxruntime-node (the engine's runtime), for the training scripts (smoke_flow.sh, the cards' `evaluation`):
//   deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/eval_flow.ts \
//     models/camvid/flow.onnx ../shared/data/flow/middlebury
// A thin wrapper over eval/flow_eval.ts (see it for the contract: current = frame 10, reference = frame 11, so the
// model's backward flow is the truth's forward flow; frames padded by edge replication to the card's multiple, the
// flow upsampled bilinearly with half-pixel centres and multiplied by the stride). A `.yaml` card next to the ONNX
// file (same base name) is validated against it with the engine's card loader. Prints one line of JSON; the
// scores pool the valid pixels of every pair in the folder (RubberWhale alone in the shared one).
import { findFlowPairs } from "../../datasets/flow_truth.ts";
import { addFlowScores, emptyFlowScore, evaluateFlowPairs, flowMetrics, openFlowModel } from "../../eval/flow_eval.ts";

const onnxFile = Deno.args[0] ?? "models/camvid/flow.onnx";
const dir = Deno.args[1] ?? "../shared/data/flow/middlebury";

try {
  const cardFile = onnxFile.replace(/\.onnx$/, ".yaml");
  const hasCard = cardFile !== onnxFile && await Deno.stat(cardFile).then(() => true, () => false);
  const model = await openFlowModel(hasCard ? cardFile : onnxFile, navigator.hardwareConcurrency);
  const results = await evaluateFlowPairs(model, await findFlowPairs(dir), 1);
  await model.close();
  const all = flowMetrics(results.map((r) => r.score).reduce(addFlowScores, emptyFlowScore()));
  const first = results[0]!, card = model.card;
  console.log(JSON.stringify({
    model: onnxFile,
    card: card
      ? { name: card.name, task: card.task, stride: card.outputs.find((o) => o.name === "flow")?.stride }
      : null,
    size: [first.height, first.width],
    padded: first.run.padded,
    flow: first.run.outputDims.flow,
    features: first.run.outputDims.features,
    stride: first.run.cell,
    pairs: results.map((r) => r.pair.name),
    valid_pixels: all.validPixels,
    epe_rubberwhale: all.epe,
    epe_zero_flow: all.zeroEpe,
    fl_percent: all.fl,
    fl_zero_flow_percent: all.zeroFl,
    run_ms: Math.round(results.reduce((sum, r) => sum + r.run.runMs, 0)),
  }));
} catch (error) {
  console.error(`eval_flow: ${(error as Error).message.split("\n")[0]}`);
  Deno.exit(1);
}
