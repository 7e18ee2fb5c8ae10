/**
 * Evaluation metrics, matching the official definitions: mIoU and pixel accuracy (Cityscapes / CamVid),
 * DAVIS J, F and J&F, and optical-flow end-point error. Pure TypeScript, no dependencies.
 *
 * A leaf: it imports nothing else from the project, so the `evaluate` stage can use it while the rest of `eval/`
 * builds on the stages' helpers without an import cycle between the two folders.
 *
 * @module
 */
export * from "./confusion.ts";
export * from "./davis.ts";
export * from "./davis_sequence.ts";
export * from "./flow_epe.ts";
