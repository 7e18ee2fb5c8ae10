/**
 * The `hold` stage: keeps a slot's last value for the frames that do not write it. Clockwork's
 * non-firing stages reuse their cached output this way: `s3` runs `when: fire3`, and `hold` gives every
 * frame the latest `score3`. State is per stream; a stream's first frame must have the value.
 *
 * A tensor kept in the workers (`engine/resident.ts`) stays there: the stage holds the handle until a newer value
 * replaces it, its stream is forgotten or the run ends, and each frame it hands the cached handle to holds it too
 * (until the frame's credit returns), so a replaced value lives on for the frames still using it.
 *
 * @module
 */
import { defineStage } from "../engine/stage.ts";
import { perStream } from "../engine/stage_state.ts";
import { isHandle, type SlotValue } from "../engine/tensor.ts";

interface HoldState {
  value?: SlotValue;
}

/** The `hold` stage kind. */
export const hold = defineStage({
  kind: "hold",
  role: "stage",
  doc: "Pass a slot's value on, or its last value when this frame has none (cached stage outputs)",
  params: {},
  inputs: [{ name: "value", doc: "the value, written on some frames", type: "any", gaps: true, resident: true }],
  outputs: [{
    name: "value",
    doc: "the value, or the last one seen in this stream",
    type: "any",
    gaps: true,
    resident: true,
    passes: "value",
  }],
  types: (_p, _env, inputs) => ({ outputs: { value: inputs.value?.type } }),
  state: {
    initial: (): HoldState => ({}),
    dispose: (state, ctx) => isHandle(state.value) && ctx.release(state.value),
  },
  create(ctx) {
    return perStream(ctx, (frame, state) => {
      const fresh = frame.slots.get(ctx.inputs.value!);
      if (isHandle(fresh) && !ctx.resident("value")) {
        throw new TypeError(
          `slot '${ctx.inputs.value}' stays in the workers but '${ctx.outputs.value}' is read on the main thread; ` +
            "keep both on the host with 'execution: { resident_tensors: false }'",
        );
      }
      if (fresh !== undefined && fresh !== state.value) {
        if (isHandle(fresh)) ctx.retain(fresh);
        if (isHandle(state.value)) ctx.release(state.value);
        state.value = fresh;
      } else if (state.value === undefined) {
        throw new ReferenceError(`slot '${ctx.inputs.value}' has no value yet in stream '${frame.stream}'`);
      } else if (isHandle(state.value)) {
        // The frame holds the cached tensor too: a newer value may replace it before this frame is done with it.
        ctx.retain(state.value);
        ctx.own(state.value, frame);
      }
      frame.slots.set(ctx.outputs.value!, state.value);
    });
  },
});
