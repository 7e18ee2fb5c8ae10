/**
 * The `evaluate` stage: compares a graph's outputs with the source's ground truth and reports the official
 * metrics in the run's stats (`metrics`): mIoU over one confusion matrix for all frames (ignore label
 * dropped; per-class IoU, pixel accuracy), DAVIS J, F and J&F (first and last frame of each sequence
 * excluded), and flow end-point error. Frames pass through unchanged.
 *
 * Until the next release graph files may still call it `score` (`stages/mod.ts` registers the old name;
 * loading warns).
 *
 * @module
 */
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";
import { ConfusionMatrix, DavisScorer, EndPointErrorAccumulator } from "../eval/metrics/mod.ts";
import { describeFrame, type Frame } from "../engine/frame.ts";

const metricNames = ["miou", "davis", "epe"] as const;

const truthFor = { miou: "labels", davis: "mask", epe: "flow" } as const;

/** Flow [1,2,H,W] (planar) to interleaved HxWx2, as ground truth stores it. */
function interleaveFlow(flow: Tensor, width: number, height: number): Float32Array {
  const [, channels, h, w] = flow.dims;
  if (channels !== 2 || h !== height || w !== width) {
    throw new RangeError(`flow must be [1,2,${height},${width}] (image resolution, pixels), got [${flow.dims}]`);
  }
  const planar = flow.data as Float32Array;
  const plane = width * height;
  const out = new Float32Array(2 * plane);
  for (let p = 0; p < plane; p++) {
    out[2 * p] = planar[p]!;
    out[2 * p + 1] = planar[plane + p]!;
  }
  return out;
}

/** The `evaluate` stage kind. */
export const evaluate = defineStage({
  kind: "evaluate",
  role: "stage",
  doc: "Score outputs against ground truth: mIoU (labels), DAVIS J&F (object ids), flow EPE",
  params: {
    metrics: { type: "strings", oneOf: metricNames, default: ["miou"], doc: "which metrics: miou, davis, epe" },
    model: { type: "model", doc: "model whose card names the classes (default: the source's classes)" },
    missing_truth: {
      type: "string",
      oneOf: ["error", "skip"],
      default: "error",
      doc: "when the source (or a frame) has no ground truth for a metric: fail, or skip it with one warning",
    },
  },
  inputs: (p) => [
    {
      name: "labels",
      doc: "predicted class or object id per pixel (uint8 [1,H,W])",
      type: "tensor",
      kind: "labels",
      optional: !p.metrics.some((m) => m !== "epe"),
    },
    {
      name: "flow",
      doc: "predicted backward flow [1,2,H,W] in pixels",
      type: "tensor",
      optional: !p.metrics.includes("epe"),
      // Read only for epe: otherwise the engine may keep the slot in the workers (`engine/resident.ts`).
      resident: !p.metrics.includes("epe"),
    },
  ],
  outputs: [],
  portsDoc: { inputs: ["labels (miou, davis)", "flow (epe)"], outputs: [] },
  types: () => ({ needs: [{ port: "flow", channels: 2, by: "a flow field (dx, dy) has 2" }] }),
  create(ctx) {
    const metrics: (typeof metricNames)[number][] = [];
    for (const metric of ctx.params.metrics as (typeof metricNames)[number][]) {
      const kind = truthFor[metric];
      if (ctx.source.truth?.[kind]) {
        metrics.push(metric);
        continue;
      }
      const why = `metric '${metric}' needs ground-truth ${kind}, but source '${ctx.source.name}' has none`;
      if (ctx.params.missing_truth === "skip") ctx.warn(`${why}; skipped`);
      else {throw new TypeError(
          `${why} (use an input that carries it: CamVid, Cityscapes, DAVIS or the synthetic world)`,
        );}
    }
    const classes = (ctx.params.model ? ctx.card(ctx.params.model).classes : undefined) ?? ctx.source.classes;
    if (metrics.includes("miou") && !classes) {
      throw new TypeError("metric 'miou' needs class names: name a model with classes, or use a dataset source");
    }
    const confusion = classes && metrics.includes("miou")
      ? new ConfusionMatrix(classes.names.length, classes.ignore)
      : undefined;
    const davis = metrics.includes("davis") ? new DavisScorer() : undefined;
    const epe = metrics.includes("epe") ? new EndPointErrorAccumulator() : undefined;
    // With 'skip', frames without ground truth (DAVIS test-dev and 2017 semi-supervised folders annotate only
    // the first frame) are left out of that metric, counted, and said once; with 'error' the first one fails.
    let warnedUnscored = false;
    const truthOf = (frame: Frame, metric: (typeof metricNames)[number]) => {
      const truth = frame.truth?.[truthFor[metric]];
      if (truth) return truth;
      const why = `metric '${metric}' needs ground-truth ${truthFor[metric]} for ${describeFrame(frame)}`;
      if (ctx.params.missing_truth !== "skip") throw new ReferenceError(why);
      if (!warnedUnscored) ctx.warn(`${why}; frames without it are not scored (counted in unscored_frames)`);
      warnedUnscored = true;
      ctx.count("unscored_frames");
      return undefined;
    };
    ctx.onClose(() => {
      if (confusion) {
        const summary = confusion.summary(classes!.names);
        ctx.setMetric("miou", summary.miou);
        ctx.setMetric("pixel_acc", summary.pixel_acc);
        ctx.setMetric("mean_class_acc", summary.mean_class_acc);
        ctx.setMetric("per_class_iou", summary.per_class_iou);
      }
      if (davis) {
        const summary = davis.summary();
        // No scorable frame (DAVIS leaves out each sequence's first and last): no number rather than NaN.
        const finite = (value: number) => (Number.isFinite(value) ? value : null);
        ctx.setMetric("jf", finite(summary["J&F"]));
        ctx.setMetric("j", summary.J);
        ctx.setMetric("f", summary.F);
        ctx.setMetric("davis_sequences", summary.sequences);
      }
      if (epe) ctx.setMetric("epe", epe.epe);
    });
    return perFrame(ctx, (frame) => {
      const { width, height } = frame.image;
      if (confusion || davis) {
        const labels = readSlot<Tensor>(frame, ctx.inputs.labels!).data as Uint8Array;
        if (labels.length !== width * height) {
          throw new RangeError(`labels must be ${width}x${height}, got ${labels.length} values`);
        }
        const classTruth = confusion ? truthOf(frame, "miou") : undefined;
        if (classTruth) confusion!.add(labels, classTruth as Uint8Array);
        const objectTruth = davis ? truthOf(frame, "davis") : undefined;
        if (objectTruth) davis!.addLabels(frame.stream, labels, objectTruth as Uint8Array, width, height);
      }
      if (epe) {
        const flowTruth = truthOf(frame, "epe");
        const flow = interleaveFlow(readSlot<Tensor>(frame, ctx.inputs.flow!), width, height);
        if (flowTruth) epe.add(flow, flowTruth as Float32Array, width, height);
      }
    });
  },
});
