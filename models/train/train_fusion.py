#!/usr/bin/python3
"""Train Accel's fusion layer: a 1x1 convolution over [S_ref; S_upd] (2C -> C, with bias), with both branches
frozen. The pairs come from Segflow itself (graphs/tools/accel-fusion-pairs.yaml dumps the branches' scores and
the labels with the `tensors` sink), so training sees exactly what the engine computes at run time.

  deno task run graphs/tools/accel-fusion-pairs.yaml --quiet
  /usr/bin/python3 models/train/train_fusion.py --pairs out/accel-fusion-pairs --out models/camvid

Loss: cross-entropy on the fused scores upsampled (bilinear) to the label size, void (11) ignored.
Exports <out>/<name>.onnx (inputs `reference`, `update` [1,C,h,w]; output `scores` [1,C,h,w]), <name>.train.json
and the card <name>.yaml (`--name`, default `fusion`). A fusion layer belongs to one reference branch and one update
branch, those of the pairs: `--pipeline` (the command that made them, written into the card) names them with its
`--set models.seg=<card>` and `--set models.update=<card>` (else the tool graph's seg and seg-lite). The seg-large
layers (fusion-large, fusion-large-seg: update branch seg-lite or seg) are made by models/train/export_large.sh.
"""
import argparse
import glob
import json
import os
import re
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


CLASSES = """\
classes:
  names: [Sky, Building, Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, Pedestrian, Bicyclist]
  palette:
    - [128, 128, 128]
    - [128, 0, 0]
    - [192, 192, 128]
    - [128, 64, 128]
    - [60, 40, 222]
    - [128, 128, 0]
    - [192, 128, 128]
    - [64, 64, 128]
    - [64, 0, 128]
    - [64, 64, 0]
    - [0, 128, 192]
  ignore: 11
"""

CARD = """\
name: {name}
task: fusion
description: >-
  Accel's fusion layer for the {domain} set: one 1x1 convolution over the channel concatenation of the
  reference branch's scores ({reference}-features -> incremental warp by flow -> {reference}-head) and the update branch's
  scores ({update}), {channels} -> {classes} channels with bias, trained with both branches frozen.
file: {name}.onnx
inputs:
  - {{ name: reference, dtype: float32, layout: NCHW, shape: [1, {classes}, h, w], stride: 8 }}
  - {{ name: update, dtype: float32, layout: NCHW, shape: [1, {classes}, h, w], stride: 8 }}
outputs:
  - {{ name: scores, dtype: float32, layout: NCHW, shape: [1, {classes}, h, w], stride: 8 }}
multiple_of: 8
min_size: 16
{classes_block}cost:
  gflops: {gflops}
  at: [360, 480]
training:
  command: {command}
  data: {data}
  epochs: {epochs}
  seconds: {seconds}
  seed: {seed}
"""

DOMAINS = {"camvid": "CamVid", "synthetic": "synthetic"}

DATA = {
    "camvid": "graphs/tools/accel-fusion-pairs.yaml: {pairs} key/current pairs at distances 0..4, clips made from "
              "CamVid train stills by a virtual camera (motion source)",
    "synthetic": "graphs/tools/accel-fusion-pairs-synthetic.yaml: {pairs} key/current pairs at distances 0..4, clips "
                 "made by a virtual camera (motion source) from the synthetic training stills in /tmp/synth-data/train",
}


def pipeline_model(pipeline, alias, default):
    """The card `--set models.<alias>=<card>` in the pipeline command gives the tool graph's alias, else `default`."""
    found = re.findall(r"--set[ =]['\"]?models\." + re.escape(alias) + r"=([^\s'\"]+)", pipeline)
    return found[-1] if found else default  # the last flag wins, as in the engine


def card(name, domain, pipeline, train_command, classes, pairs, epochs, seconds, seed):
    """The card's text: `name`, the branches `pipeline` names, the pipeline and training commands, the run's figures."""
    # 1x1 conv 2C -> C with bias, at 360x480 on the stride-8 grid
    gflops = round(2 * (2 * classes * classes + classes) * (360 // 8) * (480 // 8) / 1e9, 3)
    return CARD.format(name=name, domain=DOMAINS[domain], reference=pipeline_model(pipeline, "seg", "seg"),
                       update=pipeline_model(pipeline, "update", "seg-lite"), channels=2 * classes, classes=classes,
                       classes_block=CLASSES, gflops=gflops, command=f"{pipeline} && {train_command}",
                       data=json.dumps(DATA[domain].format(pairs=pairs)), epochs=epochs, seconds=seconds, seed=seed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ignore", type=int, default=11)
    ap.add_argument("--name", default="fusion", help="the card's name: writes <out>/<name>.onnx, .yaml, .train.json")
    ap.add_argument("--domain", choices=list(DATA), default=None,
                    help="the set the card describes (default: synthetic for an --out folder named synthetic, else camvid)")
    ap.add_argument("--pipeline", default=None,
                    help="the command that made --pairs, for the card (its --set models.seg/update name the branches; "
                         "default: the domain's accel-fusion-pairs graph)")
    args = ap.parse_args()
    if args.domain is None:
        args.domain = "synthetic" if os.path.basename(os.path.normpath(args.out)) == "synthetic" else "camvid"
    if args.pipeline is None:
        graph = "accel-fusion-pairs-synthetic" if args.domain == "synthetic" else "accel-fusion-pairs"
        args.pipeline = f"deno task run graphs/tools/{graph}.yaml --quiet"
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    t0 = time.time()
    ref, upd, lab = load_pairs(args.pairs)
    classes = ref.shape[1]
    if classes != 11:
        sys.exit(f"train_fusion: {classes} classes; the card's class list is CamVid's 11")
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
    path = os.path.join(args.out, f"{args.name}.onnx")
    model.eval()
    torch.onnx.export(model, (ref[:1], upd[:1]), path, input_names=["reference", "update"], output_names=["scores"],
                      dynamic_axes={k: {2: "h", 3: "w"} for k in ["reference", "update", "scores"]}, opset_version=17)
    argv = sys.argv[1:]
    if "--pipeline" in argv:  # the card names the pipeline command in front, not as an argument
        i = argv.index("--pipeline")
        argv = argv[:i] + argv[i + 2:]
    argv = [a for a in argv if not a.startswith("--pipeline=")]
    train_command = "/usr/bin/python3 models/train/train_fusion.py " + " ".join(argv)
    info = {"command": train_command, "pairs": n, "epochs": args.epochs, "seconds": round(time.time() - t0),
            "seed": args.seed}
    with open(os.path.join(args.out, f"{args.name}.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    with open(os.path.join(args.out, f"{args.name}.yaml"), "w") as f:
        f.write(card(args.name, args.domain, args.pipeline, train_command, classes, n, args.epochs, info["seconds"],
                     args.seed))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
