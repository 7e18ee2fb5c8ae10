/**
 * Smoke tests of the training scripts (a couple of iterations on tiny data, export, card and cut checks).
 * They need PyTorch at /usr/bin/python3 (Debian's python3-torch, installed by .ci/run) and the CamVid data;
 * without either they are skipped with a message saying which.
 */
import assert from "node:assert/strict";
import { projectRoot } from "./_helpers.ts";
import { sharedDataPresent } from "./_cli.ts";

function torchAvailable(): boolean {
  try {
    const out = new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import torch, onnx"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync();
    if (out.success) return true;
  } catch {
    // No python at all.
  }
  console.warn("SKIPPED: PyTorch/ONNX not found at /usr/bin/python3 (apt-get install python3-torch python3-onnx)");
  return false;
}

const ready = torchAvailable() && sharedDataPresent("camvid/train");

for (const script of ["smoke_test.sh", "smoke_flow.sh", "smoke_embed.sh"]) {
  Deno.test({
    name: `training smoke test: models/train/${script} trains two iterations, exports and validates`,
    ignore: !ready,
    async fn() {
      const out = await new Deno.Command("bash", {
        args: [`models/train/${script}`],
        cwd: projectRoot,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, log.slice(-2000));
      assert.match(log, /OK/);
    },
  });
}
