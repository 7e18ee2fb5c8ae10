/**
 * Slot types from model cards, for the stage kinds' `types` (`engine/plan.ts` checks where they meet): a
 * card's tensor as a {@linkcode SlotType} (dtype, layout, channels, stride), label maps, and the wording the
 * channel checks share.
 *
 * @module
 */
import type { ModelCard, TensorSpec } from "./model_card.ts";
import type { SlotType } from "./plan_types.ts";

/** Channels of a card's 4-D tensor (its `C` axis, NCHW by default), when the card gives a number. */
export function specChannels(spec: TensorSpec | undefined): number | undefined {
  if (!spec || spec.shape.length !== 4) return undefined;
  const axis = (spec.layout ?? "NCHW").indexOf("C");
  const channels = axis >= 0 ? spec.shape[axis] : undefined;
  return typeof channels === "number" ? channels : undefined;
}

/**
 * A card's tensor as a slot type. `scale` is the model's input size over the frame's (flow's `scale: 0.5`
 * makes a stride-8 output a stride-16 grid on the frame).
 *
 * @example `specType({ name: "scores", dtype: "float32", shape: [1, 11, "h", "w"], stride: 8 })` is
 * `{ kind: "tensor", dtype: "float32", layout: "NCHW", channels: 11, stride: 8 }`.
 */
export function specType(spec: TensorSpec, scale = 1): SlotType {
  const type: SlotType = { kind: "tensor", dtype: spec.dtype };
  const layout = spec.layout ?? (spec.shape.length === 4 ? "NCHW" : undefined);
  if (layout !== undefined) type.layout = layout;
  const channels = specChannels(spec);
  if (channels !== undefined) type.channels = channels;
  if (spec.stride !== undefined) type.stride = spec.stride / scale;
  return type;
}

/** A label map (uint8 `[1,h,w]` of class or object ids) at `stride` frame pixels per cell. */
export function labelsType(stride = 1): SlotType {
  return { kind: "labels", dtype: "uint8", layout: "NHW", stride };
}

/** `model 'seg' (models/x/seg.yaml)`, the way channel messages name a model. */
export function modelName(model: ModelCard): string {
  return `model '${model.name}' (${model.cardFile})`;
}

/** `Sky, Building, ...`: the first class names, for messages. */
export function classList(names: string[]): string {
  return names.length > 2 ? `${names.slice(0, 2).join(", ")}, ...` : names.join(", ");
}

/** `the model set has 11 classes (Sky, Building, ...)`. */
export function classesBy(names: string[]): string {
  return `the model set has ${names.length} classes (${classList(names)})`;
}
