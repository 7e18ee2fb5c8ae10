/**
 * The types of a compiled plan: what every slot of a graph carries (its kind, and for tensors the element
 * type, axis layout, channels and grid stride), where it lives, who writes and reads it, and what a stage
 * kind says about the types of its ports (`StageDefinition.types`).
 *
 * @module
 */
import type { ModelCard, TensorSpec } from "./model_card.ts";

/**
 * What a slot holds. `labels` is a tensor of class (or object) ids, uint8 `[1,h,w]`; `feedback` is a back
 * edge: a later stage's feedback output, which an earlier stage's feedback input reads on the stream's next frame
 * (DVSNet's decision to its flow stage).
 */
export type SlotKind = "image" | "tensor" | "labels" | "boolean" | "number" | "record" | "feedback" | "any";

/** Where a slot's value lives while its frame is in flight. */
export type SlotLocation = "main" | "worker";

/** A slot's static type; tensor fields are left out where no card or op fixes them. */
export interface SlotType {
  kind: SlotKind;
  /** Element type (`float32`, `uint8`). */
  dtype?: string;
  /** Axis letters (`NCHW`, `NHWC`, `NHW` for label maps). */
  layout?: string;
  /** Size of the `C` axis. */
  channels?: number;
  /** Frame pixels per grid cell (1: the frame's own size), for maps whose size follows the frame. */
  stride?: number;
  /** A fixed `[rows, cols]` grid (pooled features) instead of a stride. */
  grid?: [number, number];
}

/** One slot of the plan. */
export interface PlanSlot {
  name: string;
  type: SlotType;
  location: SlotLocation;
  /** Stage id of the writer (`source` for the frame). */
  writer: string;
  /** Stage and sink ids that read it (as an input or a `when`/`unless` guard), in graph order. */
  readers: string[];
}

/** A compiled graph: every slot with its type, in the order the slots are first written. */
export interface Plan {
  slots: Map<string, PlanSlot>;
}

/** A bound input as the stage's typing sees it. */
export interface InputType {
  slot: string;
  type: SlotType;
  writer: string;
}

/** What a stage kind's `types` may look at: the graph's model cards and the model set's class names. */
export interface TypeEnvironment {
  model(name: string): ModelCard;
  /** The class names of the graph's models, when every model with classes has the same number. */
  classes: string[] | undefined;
}

/** Something a stage needs of its inputs, checked by the engine (which words the error). */
export type TypeNeed =
  /** The input has this many channels: `..., but ${by}` (`by` says who wants it and the number). */
  | { port: string; channels: number; by: string }
  /** The input is fed to this model input: channels, dtype, layout and stride must match the card. */
  | { port: string; model: ModelCard; spec: TensorSpec }
  /** These inputs have equal channels (`fuse`, `agreement` operands). */
  | { same: string[] }
  /** A stage's own finding, already worded; placed at its parameter `at` (default: its `in`). */
  | { message: string; at?: string };

/** What `StageDefinition.types` returns: output types by port, and needs of the inputs. */
export interface StageTyping {
  outputs?: Record<string, SlotType | undefined>;
  needs?: TypeNeed[];
}
