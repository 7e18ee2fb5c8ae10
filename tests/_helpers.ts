/**
 * Shared set-up for the tests: a registry with the test kinds, and graph loading from text.
 *
 * @module
 */
import { resolve } from "node:path";
import { builtinRegistry } from "../stages/mod.ts";
import { registerTestKinds, TestProbe } from "../engine/testing.ts";
import { type LoadedGraph, loadGraphText } from "../engine/graph.ts";
import type { Registry } from "../engine/registry.ts";

/** The project's models folder. */
export const modelsRoot = resolve(new URL("../models", import.meta.url).pathname);

/** The project's root folder. */
export const projectRoot = resolve(new URL("..", import.meta.url).pathname);

/** A fresh probe and a registry with built-in and test kinds. */
export function testSetup(): { probe: TestProbe; registry: Registry; dropped: { count: number } } {
  const probe = new TestProbe();
  const dropped = { count: 0 };
  const registry = registerTestKinds(builtinRegistry(), probe, () => dropped.count);
  return { probe, registry, dropped };
}

/** Loads a graph from YAML text with the given registry. */
export function graphFrom(
  text: string,
  registry: Registry,
  extra: { modelSet?: string; overrides?: string[] } = {},
): Promise<LoadedGraph> {
  return loadGraphText("test.yaml", text, { registry, modelsRoot, ...extra });
}
