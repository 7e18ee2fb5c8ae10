/**
 * The built-in stage, sink and source kinds.
 *
 * @module
 */
import { Registry } from "../engine/registry.ts";
import { patternSource } from "../datasets/pattern.ts";
import { syntheticSource } from "../datasets/synthetic/world.ts";
import { motionSource } from "../datasets/motion.ts";
import { camvidSource } from "../datasets/camvid.ts";
import { cityscapesSource } from "../datasets/cityscapes.ts";
import { davisSource } from "../datasets/davis.ts";
import { imagesSource } from "../datasets/images.ts";
import { videoSource } from "../datasets/video.ts";
import { liveSource } from "../datasets/live_source.ts";
import { rawSource, y4mSource } from "../datasets/y4m_source.ts";
import { model, pipelinedFromLag } from "./model.ts";
import { evaluate } from "./evaluate.ts";
import { decide } from "./decide.ts";
import { flow } from "./flow.ts";
import { warp } from "./warp.ts";
import { fuse } from "./fuse.ts";
import { argmax } from "./argmax.ts";
import { hold } from "./hold.ts";
import { boxes } from "./boxes.ts";
import { track } from "./track.ts";
import { knn } from "./knn.ts";
import { regions } from "./regions.ts";
import { mergeRegions } from "./merge_regions.ts";
import { agreement } from "./agreement.ts";
import { refine } from "./refine.ts";
import { firstMask } from "./first_mask.ts";
import { jsonl } from "./encode_jsonl.ts";
import { tensorsSink } from "./encode_tensors.ts";
import { labelsPng } from "./encode_labels.ts";
import { overlayPng } from "./encode_overlay.ts";
import { videoSink } from "./encode_video.ts";
import { labelsRaw, y4mSink } from "./encode_pipe.ts";

/**
 * A registry holding every built-in kind; add your own kinds to it before loading graphs.
 * Sources are listed in the order `--input` tries them: streams and files first, dataset layouts, and a
 * plain image folder last.
 */
export function builtinRegistry(): Registry {
  return new Registry()
    .source(liveSource)
    .source(y4mSource)
    .source(rawSource)
    .source(videoSource)
    .source(camvidSource)
    .source(cityscapesSource)
    .source(davisSource)
    .source(imagesSource)
    .source(syntheticSource)
    .source(motionSource)
    .source(patternSource)
    .stage(model)
    .stage(decide)
    .stage(flow)
    .stage(warp)
    .stage(fuse)
    .stage(argmax)
    .stage(hold)
    .stage(boxes)
    .stage(track)
    .stage(knn)
    .stage(regions)
    .stage(mergeRegions)
    .stage(agreement)
    .stage(refine)
    .stage(firstMask)
    .stage(evaluate)
    .stage(labelsPng)
    .stage(overlayPng)
    .stage(videoSink)
    .stage(y4mSink)
    .stage(labelsRaw)
    .stage(jsonl)
    .stage(tensorsSink)
    // Old names, accepted with a warning until the next release.
    .alias("segment", "model")
    .alias("score", "evaluate")
    .renameParam("model", "lag", { to: "pipelined", convert: pipelinedFromLag });
}
