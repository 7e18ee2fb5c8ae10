#!/usr/bin/python3
"""Train Accel's fusion layer: a 1x1 convolution over [S_ref; S_upd] (2C -> C, with bias), with both branches
frozen. The pairs come from Segflow itself (graphs/tools/accel-fusion-pairs.yaml dumps the branches' scores and
the labels with the `tensors` sink), so training sees exactly what the engine computes at run time.

  deno task run graphs/tools/accel-fusion-pairs.yaml --quiet
  /usr/bin/python3 models/train/train_fusion.py --pairs out/accel-fusion-pairs --out models/camvid

Loss: cross-entropy on the fused scores upsampled (bilinear) to the label size, void (11) ignored.
Exports fusion.onnx (inputs `reference`, `update` [1,C,h,w]; output `scores` [1,C,h,w]) and fusion.train.json.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_pairs(root):
    refs, upds, labels = [], [], []
    for path in sorted(glob.glob(os.path.join(root, "scores_ref", "*.npy"))):
        name = os.path.basename(path)
        refs.append(np.load(path)[0])
        upds.append(np.load(os.path.join(root, "scores_upd", name))[0])
        labels.append(np.load(os.path.join(root, "truth.labels", name)))
    if not refs:
        sys.exit(f"train_fusion: no pairs under {root} (run graphs/tools/accel-fusion-pairs.yaml first)")
    return torch.tensor(np.stack(refs)), torch.tensor(np.stack(upds)), torch.tensor(np.stack(labels)).long()


class Fusion(torch.nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.conv = torch.nn.Conv2d(2 * classes, classes, 1)
        # Start as the mean of the two branches: training moves from there.
        with torch.no_grad():
            eye = torch.eye(classes).view(classes, classes, 1, 1)
            self.conv.weight.copy_(torch.cat([eye, eye], 1) * 0.5)
            self.conv.bias.zero_()

    def forward(self, reference, update):
        return self.conv(torch.cat([reference, update], 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ignore", type=int, default=11)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    t0 = time.time()
    ref, upd, lab = load_pairs(args.pairs)
    classes = ref.shape[1]
    model = Fusion(classes)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n = ref.shape[0]
    order = torch.randperm(n)
    held = order[: max(1, n // 10)]
    train = order[max(1, n // 10):]

    def loss_on(idx):
        out = model(ref[idx], upd[idx])
        out = F.interpolate(out, size=lab.shape[1:], mode="bilinear", align_corners=False)
        return F.cross_entropy(out, lab[idx], ignore_index=args.ignore)

    for epoch in range(args.epochs):
        perm = train[torch.randperm(len(train))]
        for i in range(0, len(perm), 16):
            opt.zero_grad()
            loss = loss_on(perm[i:i + 16])
            loss.backward()
            opt.step()
        with torch.no_grad():
            print(f"epoch {epoch + 1} held-out loss {loss_on(held).item():.4f}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "fusion.onnx")
    model.eval()
    torch.onnx.export(model, (ref[:1], upd[:1]), path, input_names=["reference", "update"], output_names=["scores"],
                      dynamic_axes={k: {2: "h", 3: "w"} for k in ["reference", "update", "scores"]}, opset_version=17)
    info = {"command": "/usr/bin/python3 models/train/train_fusion.py " + " ".join(sys.argv[1:]), "pairs": n,
            "epochs": args.epochs, "seconds": round(time.time() - t0), "seed": args.seed}
    with open(os.path.join(args.out, "fusion.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
