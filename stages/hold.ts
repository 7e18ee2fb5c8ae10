/**
 * The `hold` stage: keeps a slot's last value for the frames that do not write it. Clockwork's
 * non-firing stages reuse their cached output this way: `s3` runs `when: fire3`, and `hold` gives every
 * frame the latest `score3`. State is per stream; a stream's first frame must have the value.
 *
 * @module
 */
import { defineStage, perFrame } from "../engine/stage.ts";
import type { SlotValue } from "../engine/tensor.ts";
import { StreamState } from "../engine/stream_state.ts";

/** The `hold` stage kind. */
export const hold = defineStage({
  kind: "hold",
  role: "stage",
  doc: "Pass a slot's value on, or its last value when this frame has none (cached stage outputs)",
  params: {},
  inputs: [{ name: "value", doc: "the value, written on some frames", type: "any", gaps: true }],
  outputs: [{ name: "value", doc: "the value, or the last one seen in this stream", type: "any", gaps: true }],
  types: (_p, _env, inputs) => ({ outputs: { value: inputs.value?.type } }),
  create(ctx) {
    const last = new StreamState<{ value?: SlotValue }>(() => ({}));
    return perFrame(ctx, (frame) => {
      const state = last.get(frame.stream);
      const fresh = frame.slots.get(ctx.inputs.value!);
      if (fresh !== undefined) state.value = fresh;
      else if (state.value === undefined) {
        throw new ReferenceError(`slot '${ctx.inputs.value}' has no value yet in stream '${frame.stream}'`);
      }
      frame.slots.set(ctx.outputs.value!, state.value);
    });
  },
});
