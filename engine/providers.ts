/**
 * Execution providers: parsing `--ep`, and the tiny model used to probe whether a provider works here.
 *
 * @module
 */
import { buildModel, node } from "./onnx/builder.ts";
import { UsageError } from "./errors.ts";
import { closestName } from "./suggest.ts";

/** Providers the engine knows how to ask onnxruntime-node for. */
export const executionProviders = ["cpu", "cuda", "webgpu"] as const;

/** One of {@linkcode executionProviders}. */
export type ExecutionProvider = typeof executionProviders[number];

/** A provider request: `cuda!` means fail instead of falling back to CPU. */
export interface ProviderRequest {
  provider: ExecutionProvider;
  required: boolean;
}

/**
 * Parses `cpu`, `cuda`, `webgpu`, optionally suffixed with `!`.
 *
 * @param where names the setting in the message (`--ep`, `execution.ep`).
 * @throws {UsageError} for any other value:
 * `--ep 'cuad': unknown execution provider (expected cpu, cuda or webgpu, optionally with !); did you mean 'cuda'?`
 */
export function parseProvider(text: string, where = "--ep"): ProviderRequest {
  const required = text.endsWith("!");
  const name = required ? text.slice(0, -1) : text;
  if (!(executionProviders as readonly string[]).includes(name)) {
    const closest = closestName(name, executionProviders);
    const hint = closest ? `; did you mean '${closest}${required ? "!" : ""}'?` : "";
    throw new UsageError(
      `${where} '${text}': unknown execution provider (expected ${executionProviders.slice(0, -1).join(", ")} or ${
        executionProviders.at(-1)
      }, optionally with !)${hint}`,
    );
  }
  return { provider: name as ExecutionProvider, required };
}

/** What is missing when a provider fails its probe, in words a user can act on. */
export function providerHint(provider: ExecutionProvider): string {
  if (provider === "cuda") {
    return "install the CUDA 12 provider libraries for onnxruntime-node (see README, 'GPU set-up')";
  }
  if (provider === "webgpu") return "WebGPU needs a GPU with a Vulkan driver and loader (libvulkan1)";
  return "";
}

let probeBytes: Uint8Array | undefined;

/** A one-node model (Identity on a float tensor) that every provider can run. */
export function probeModel(): Uint8Array {
  probeBytes ??= buildModel({
    inputs: [{ name: "x", type: "float32", shape: [1] }],
    outputs: [{ name: "y", type: "float32", shape: [1] }],
    nodes: [node("Identity", ["x"], ["y"])],
  });
  return probeBytes;
}
