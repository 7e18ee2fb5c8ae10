/**
 * The built-in stage, sink and source kinds.
 *
 * @module
 */
import { Registry } from "../engine/registry.ts";
import { patternSource } from "../datasets/pattern.ts";
import { segment } from "./segment.ts";
import { jsonl } from "./encode_jsonl.ts";
import { labelsPng } from "./encode_labels.ts";

/** A registry holding every built-in kind; add your own kinds to it before loading graphs. */
export function builtinRegistry(): Registry {
  return new Registry()
    .source(patternSource)
    .stage(segment)
    .stage(jsonl)
    .stage(labelsPng);
}
