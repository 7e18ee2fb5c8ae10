#!/usr/bin/python3
"""Train DVSNet's decision network: the flow network's deep features (pooled to a small grid) -> the expected
confidence score (0..100) of warping the region's key-frame output to the current frame.

  deno task run graphs/tools/dvsnet-testcases.yaml --quiet
  /usr/bin/python3 models/train/train_decision.py --cases out/dvsnet-testcases --out models/camvid

The test cases come from Segflow itself (the tool graph dumps `features/<case>.npy` and each case's
`confidence` in frames.jsonl), so training sees exactly what the engine computes at run time. Cases are split
by key frame: the cases of every 5th key frame (clip) are held out, so none shares a key frame with training. Reports the
held-out mean absolute error (DVSNet's target: <= 6) next to predicting the training mean (the baseline).

Model (as DVSNet's: one conv, then fully connected layers): 1x1 conv C -> 32, ReLU, flatten, FC 256 -> 1.
Exports <out>/<name>.onnx (input `features` [1, C, rows, cols]; output `score` [1, 1]), <name>.train.json
and the card <name>.yaml (`--name`, default `decision`). The targets are one segmentation network's: `--pipeline`
(the command that made the cases, written into the card) names it with its `--set models.seg=<card>` (else the tool
graph's seg); decision-large (seg-large's confidence scores) is made by models/train/export_large.sh.
"""
import argparse
import json
import os
import re
import sys
import time

import numpy as np
import torch


def load_cases(root, every):
    feats, scores, clips = [], [], []
    with open(os.path.join(root, "frames.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if "features" not in row["tensors"] or "confidence" not in row["slots"]:
                continue
            feats.append(np.load(os.path.join(root, "features", row["name"] + ".npy"))[0])
            scores.append(float(row["slots"]["confidence"]))
            clips.append((row["sequence"], row["index"] // every))  # one key frame's cases
    if not feats:
        sys.exit(f"train_decision: no test cases under {root} (run graphs/tools/dvsnet-testcases.yaml first)")
    names = sorted(set(clips))
    clip_id = np.array([names.index(c) for c in clips])
    return torch.tensor(np.stack(feats)), torch.tensor(scores, dtype=torch.float32)[:, None], clip_id


class Decision(torch.nn.Module):
    def __init__(self, channels, rows, cols, hidden=32, fc=256):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, hidden, 1)
        self.fc1 = torch.nn.Linear(hidden * rows * cols, fc)
        self.fc2 = torch.nn.Linear(fc, 1)

    def forward(self, features):
        x = torch.relu(self.conv(features)).flatten(1)
        return self.fc2(torch.relu(self.fc1(x))) + 80.0  # centred on a typical score


CARD = """\
name: {name}
task: decision
description: >-
  DVSNet's decision network for the {domain} set: the flow model's deep features (stride 16, pooled to {rows}x{cols}
  by the flow stage's features_grid) -> the expected confidence score (0..100) of warping a region's key-frame
  output to the current frame. 1x1 conv {channels} -> 32, ReLU, FC {flat} -> 256, ReLU, FC -> 1.
file: {name}.onnx
inputs:
  - {{ name: features, dtype: float32, layout: NCHW, shape: [1, {channels}, {rows}, {cols}] }}
outputs:
  - {{ name: score, dtype: float32, shape: [1, 1] }}
cost:
  gflops: {gflops}
  at: [{rows}, {cols}]
training:
  command: {command}
  data: >-
    {data}
  epochs: {epochs}
  seconds: {seconds}
  seed: {seed}
metrics:
  mae_heldout: {mae}
  mae_heldout_mean_baseline: {baseline}
  heldout_cases: {held}
  train_cases: {train}
  evaluation: >-
    Held-out cases: those of every 5th key frame (no key frame shared with training), mean absolute error of
    the predicted confidence score; baseline = always predicting the training cases' mean score.
"""

DATA = {
    "camvid": "graphs/tools/dvsnet-testcases.yaml: every region (2x2 grid) of 48 clips of 11 frames made from "
              "CamVid train stills by a virtual camera (motion source), key frame every 11 frames (distances 0..10)",
    "synthetic": "graphs/tools/dvsnet-testcases-synthetic.yaml: every region (2x2 grid) of synthetic-world clips "
                 "(seeds unused by any evaluation), key frame every 11 frames (distances 0..10)",
}


def pipeline_seg(pipeline):
    """The card `--set models.seg=<card>` in the pipeline command gives the tool graph's seg (the last flag wins)."""
    found = re.findall(r"--set[ =]['\"]?models\.seg=([^\s'\"]+)", pipeline)
    return found[-1] if found else "seg"


def data_text(domain, pipeline):
    """The card's data line: the domain's, plus the network whose segmentations gave the targets unless seg."""
    seg = pipeline_seg(pipeline)
    return DATA[domain] + ("" if seg == "seg" else f"; confidence scores of {seg}'s segmentations")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--domain", choices=list(DATA), default="camvid")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--every", type=int, default=11, help="the test-case graph's key-frame interval")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="decision", help="the card's name: writes <out>/<name>.onnx, .yaml, .train.json")
    ap.add_argument("--pipeline", default="deno task run graphs/tools/dvsnet-testcases.yaml --quiet",
                    help="the command that made --cases, for the card")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    t0 = time.time()
    x, y, clip = load_cases(args.cases, args.every)
    held = torch.from_numpy(clip % 5 == 4)
    xt, yt, xh, yh = x[~held], y[~held], x[held], y[held]
    _, channels, rows, cols = x.shape
    model = Decision(channels, rows, cols)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    baseline = (yh - yt.mean()).abs().mean().item()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.smooth_l1_loss(model(xt[idx]), yt[idx], beta=2.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if (epoch + 1) % 25 == 0 or epoch + 1 == args.epochs:
            model.eval()
            with torch.no_grad():
                mae = (model(xh) - yh).abs().mean().item()
                train_mae = (model(xt) - yt).abs().mean().item()
            print(f"epoch {epoch + 1} train MAE {train_mae:.2f} held-out MAE {mae:.2f} (mean baseline {baseline:.2f})",
                  flush=True)
    model.eval()
    with torch.no_grad():
        mae = (model(xh) - yh).abs().mean().item()
    os.makedirs(args.out, exist_ok=True)
    torch.onnx.export(model, (x[:1],), os.path.join(args.out, f"{args.name}.onnx"), input_names=["features"],
                      output_names=["score"], opset_version=17)
    argv = sys.argv[1:]
    if "--pipeline" in argv:  # the card names the pipeline command in front, not as an argument
        i = argv.index("--pipeline")
        argv = argv[:i] + argv[i + 2:]
    argv = [a for a in argv if not a.startswith("--pipeline=")]
    command = f"{args.pipeline} && /usr/bin/python3 models/train/train_decision.py " + " ".join(argv)
    info = {"command": command, "cases": len(x), "train_cases": int(len(xt)), "heldout_cases": int(len(xh)),
            "epochs": args.epochs, "seconds": round(time.time() - t0), "seed": args.seed, "mae_heldout": mae,
            "mae_heldout_mean_baseline": baseline}
    with open(os.path.join(args.out, f"{args.name}.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    flat = 32 * rows * cols
    gflops = round(2 * (channels * 32 * rows * cols + flat * 256 + 256) / 1e9, 4)
    with open(os.path.join(args.out, f"{args.name}.yaml"), "w") as f:
        f.write(CARD.format(name=args.name, domain=args.domain, rows=rows, cols=cols, channels=channels, flat=flat,
                            gflops=gflops, command=command, data=data_text(args.domain, args.pipeline),
                            epochs=args.epochs, seconds=info["seconds"], seed=args.seed, mae=round(mae, 2),
                            baseline=round(baseline, 2), held=len(xh), train=len(xt)))
    print(json.dumps({k: info[k] for k in ("cases", "mae_heldout", "mae_heldout_mean_baseline", "seconds")}))


if __name__ == "__main__":
    main()
