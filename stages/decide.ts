/**
 * The `decide` stage: which path a frame takes. Writes a boolean slot (`key`) that later stages read as
 * an input or as a `when:`/`unless:` guard, and counts the frames it marks (`counter`, `keyframes` by
 * default) for the stats' key-frame ratio.
 *
 * Policies:
 * - `interval`: every `every`-th frame of a stream, starting with its first (Clockwork's fixed clock: one
 *   decide stage per clocked network stage; DFF/Accel key frames).
 * - `adaptive`: Clockwork's adaptive clock. Reads a label map (e.g. argmax of `score2`); fires when the
 *   fraction of pixels whose label differs from the map at the last *fired* frame reaches `theta`, and on
 *   the first frame of a stream. Also writes that fraction to the optional `change` output.
 *
 * State (frame counts, the reference label map) is per stream: a new stream always starts with a key frame.
 *
 * @module
 */
import { defineStage, perFrame, type PortDecl, readSlot } from "../engine/stage.ts";
import type { Tensor } from "../engine/tensor.ts";

/** The fraction of positions where two label maps differ. */
export function labelChange(current: Uint8Array, reference: Uint8Array): number {
  if (current.length !== reference.length) {
    throw new RangeError(`label maps differ in size (${current.length} vs ${reference.length} values)`);
  }
  let changed = 0;
  for (let i = 0; i < current.length; i++) if (current[i] !== reference[i]) changed++;
  return current.length ? changed / current.length : 0;
}

const policies = ["interval", "adaptive"] as const;

/** The `decide` stage kind. */
export const decide = defineStage({
  kind: "decide",
  role: "stage",
  doc: "Mark key frames: every N-th frame (interval), or when labels changed enough since the last key (adaptive)",
  params: {
    policy: { type: "string", oneOf: policies, default: "interval", doc: "interval or adaptive" },
    every: { type: "integer", min: 1, default: 5, doc: "interval: a key frame every N frames" },
    offset: { type: "integer", min: 0, default: 0, doc: "interval: the first key frame's position in the stream" },
    theta: {
      type: "number",
      min: 0,
      max: 1,
      default: 0.25,
      doc: "adaptive: fire when this fraction of labels changed",
    },
    counter: { type: "string", default: "keyframes", doc: "stats counter of marked frames" },
  },
  inputs: (p): PortDecl[] =>
    p.policy === "adaptive"
      ? [{ name: "labels", doc: "label map compared with the last fired frame's (uint8)", type: "tensor" }]
      : [],
  outputs: (p): PortDecl[] => [
    { name: "key", doc: "true when the frame is marked", type: "boolean" },
    ...(p.policy === "adaptive"
      ? [{
        name: "change",
        doc: "fraction of labels changed since the last fired frame",
        type: "number" as const,
        optional: true,
      }]
      : []),
  ],
  validate(p) {
    if (p.policy === "interval" && p.offset >= p.every) {
      throw new TypeError(`'offset' must be less than 'every' (${p.every}), got ${p.offset}`);
    }
  },
  create(ctx) {
    const { policy, every, offset, theta, counter } = ctx.params;
    let stream: string | undefined;
    let position = 0;
    let reference: Uint8Array | undefined;
    return perFrame(ctx, (frame) => {
      if (frame.stream !== stream) {
        stream = frame.stream;
        position = 0;
        reference = undefined;
      }
      let key: boolean;
      if (policy === "adaptive") {
        const labels = readSlot<Tensor>(frame, ctx.inputs.labels!).data as Uint8Array;
        const change = reference ? labelChange(labels, reference) : 1;
        key = reference === undefined || change >= theta;
        if (key) reference = labels.slice();
        if (ctx.outputs.change) frame.slots.set(ctx.outputs.change, change);
      } else {
        key = position < offset ? position === 0 : (position - offset) % every === 0;
      }
      position++;
      if (ctx.outputs.key) frame.slots.set(ctx.outputs.key, key);
      if (key) ctx.count(counter);
    });
  },
});
