/**
 * Evaluation metrics, matching the official definitions: mIoU and pixel accuracy (Cityscapes / CamVid),
 * DAVIS J, F and J&F, and optical-flow end-point error. Pure TypeScript, no dependencies.
 *
 * @module
 */
export * from "./confusion.ts";
export * from "./davis.ts";
export * from "./davis_sequence.ts";
export * from "./flow_epe.ts";
