/**
 * DVSNet's feedback edge: the record a `flow` stage with `reference: decided` writes for the `decide` stage, which
 * answers it with the frame's decision (the plan types the slot `feedback`; `check` makes sure it is answered).
 *
 * @module
 */

/** The handle a `reference: decided` flow stage writes; the deciding stage commits the frame's decision. */
export interface PendingReference {
  [key: string]: unknown;
  /** `true`: this frame becomes its stream's key frame. */
  commit(isKey: boolean): void;
}
