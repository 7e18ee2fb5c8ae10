#!/usr/bin/python3
"""Train PML's pixel embedding (`embed`): L2-normalised per-pixel embeddings at stride 8, learned with the
nearest-neighbour triplet loss of Chen et al. (CVPR 2018) on videos with instance masks.

  /usr/bin/python3 models/train/train_embed.py --data /tmp/synth-data --out models/synthetic --iters N \
      [--init-backbone CKPT]

Data: the synthetic world in DAVIS layout (`JPEGImages/480p/<seq>/`, `Annotations/480p/<seq>/` object ids, 0 =
background; sequences of ImageSets/2017/train.txt for training, val.txt held out). Never DAVIS frames.

Each step takes `--batch` sequences; per sequence one anchor frame and two pool frames (other frames of the same
sequence, as in the paper), the same random crop, flip and colour jitter. Loss per anchor pixel a (up to
`--anchors` sampled on the stride-8 grid): max(0, min_p |f_a - f_p|^2 - min_n |f_a - f_n|^2 + alpha) over pool
pixels p with a's object id and n with another id (background counts as an object), alpha 0.7.

Backbone: the staged FCN of segnet.py (seg-lite widths), optionally initialised from a trained segmentation
checkpoint (ImageNet stands in this way in the paper); head: concat(F1, up F2, up F3) -> 1x1 conv 64, ReLU -> 1x1
conv D -> L2 normalisation. Exports <out>/embed.onnx: `image` uint8 NHWC -> `embedding` [1, D, h, w] at stride 8.
Held-out metric: pixel accuracy of 1-nearest-neighbour matching of every stride-8 pixel of frames 5, 10, ... of the
val sequences against frame 0 (what the engine's kNN does, k=1, no spatial channels).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segnet  # noqa: E402


class Embed(nn.Module):
    def __init__(self, dims=32, arch="seg-lite"):
        super().__init__()
        self.backbone = segnet.StagedFCN(arch)
        c = sum(self.backbone.channels)
        self.head = nn.Sequential(nn.Conv2d(c, 64, 1), nn.ReLU(), nn.Conv2d(64, dims, 1))

    def forward(self, x):
        f1, f2, f3 = self.backbone.feats(x)
        f = torch.cat([f1, segnet.up2(f2, f1), segnet.up2(segnet.up2(f3, f2), f1)], 1)
        return F.normalize(self.head(f), dim=1)


class Exported(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.pre, self.net = segnet.Preprocess(), net

    def forward(self, image):
        return self.net(self.pre(image))


def load_sequences(root, split, limit=None):
    with open(os.path.join(root, "ImageSets", "2017", f"{split}.txt")) as f:
        names = [line.strip() for line in f if line.strip()]
    seqs = []
    for name in names[:limit] if limit else names:
        fdir = os.path.join(root, "JPEGImages", "480p", name)
        adir = os.path.join(root, "Annotations", "480p", name)
        files = sorted(os.listdir(fdir))
        imgs = np.stack([np.asarray(Image.open(os.path.join(fdir, n)).convert("RGB")) for n in files])
        masks = np.stack([np.asarray(Image.open(os.path.join(adir, n))) for n in files])
        seqs.append((imgs, masks))
    return seqs


def normalise(x):
    mean = torch.tensor(segnet.MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(segnet.STD).view(1, 3, 1, 1) * 255
    return (x - mean) / std


def cell_ids(masks, stride=8):
    """Object id at the centre of each stride-8 cell: [N, h, w] from [N, H, W]."""
    o = stride // 2
    return masks[:, o::stride, o::stride]


def sample(seqs, rng, batch, crop, gap):
    xs, ids = [], []
    for _ in range(batch):
        imgs, masks = seqs[rng.integers(len(seqs))]
        n = len(imgs)
        a = rng.integers(n)
        others = [i for i in range(n) if i != a and abs(i - a) <= gap] or [i for i in range(n) if i != a]
        p1, p2 = rng.choice(others, 2, replace=len(others) < 2)
        h, w = imgs.shape[1:3]
        ch, cw = min(crop[0], h) // 8 * 8, min(crop[1], w) // 8 * 8
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        flip = rng.random() < 0.5
        gain, contrast = rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)
        for k in (a, p1, p2):
            im = torch.from_numpy(imgs[k, y0:y0 + ch, x0:x0 + cw]).permute(2, 0, 1).float()
            m = torch.from_numpy(masks[k, y0:y0 + ch, x0:x0 + cw].astype(np.int64))
            if flip:
                im, m = im.flip(2), m.flip(1)
            im = im * gain
            mu = im.mean()
            im = ((im - mu) * contrast + mu).clamp(0, 255)
            xs.append(im)
            ids.append(m)
    return torch.stack(xs), torch.stack(ids)


def triplet_loss(emb, ids, anchors, alpha, rng):
    """emb [3B, D, h, w] (anchor, pool, pool per sequence); ids [3B, H, W]."""
    cells = cell_ids(ids)
    losses = []
    for b in range(0, emb.shape[0], 3):
        ea = emb[b].flatten(1).t()  # [h*w, D]
        la = cells[b].flatten()
        pool = torch.cat([emb[b + 1].flatten(1).t(), emb[b + 2].flatten(1).t()])
        lp = torch.cat([cells[b + 1].flatten(), cells[b + 2].flatten()])
        pick = torch.from_numpy(rng.choice(len(ea), min(anchors, len(ea)), replace=False))
        ea, la = ea[pick], la[pick]
        dist = (2 - 2 * ea @ pool.t()).clamp_min(0)  # squared distance of unit vectors
        same = la[:, None] == lp[None, :]
        has_pos, has_neg = same.any(1), (~same).any(1)
        keep = has_pos & has_neg
        if keep.sum() == 0:
            continue
        far = 5.0  # beyond any squared distance of unit vectors (at most 4): masks out the other side
        pos = torch.where(same, dist, torch.full_like(dist, far)).min(1).values
        neg = torch.where(~same, dist, torch.full_like(dist, far)).min(1).values
        losses.append(F.relu(pos - neg + alpha)[keep].mean())
    return torch.stack(losses).mean() if losses else emb.sum() * 0


@torch.no_grad()
def nn_accuracy(net, seqs, step=5):
    """1-NN label accuracy of stride-8 cells of frames step, 2 step, ... against frame 0, per val sequence."""
    net.eval()
    correct = total = 0
    for imgs, masks in seqs:
        h, w = imgs.shape[1] // 8 * 8, imgs.shape[2] // 8 * 8
        x = normalise(torch.from_numpy(imgs[:, :h, :w]).permute(0, 3, 1, 2).float())
        emb = torch.cat([net(x[i:i + 8]) for i in range(0, len(x), 8)])
        cells = torch.from_numpy(cell_ids(masks[:, :h, :w]).astype(np.int64))
        ref, lref = emb[0].flatten(1).t(), cells[0].flatten()
        for t in range(step, len(imgs), step):
            q = emb[t].flatten(1).t()
            nearest = (q @ ref.t()).argmax(1)
            correct += (lref[nearest] == cells[t].flatten()).sum().item()
            total += q.shape[0]
    net.train()
    return correct / max(1, total)


CARD = """\
name: embed
task: embedding
description: >-
  PML pixel embedding for the {domain} set: staged-FCN backbone (segnet.py, seg-lite widths{init}), head
  concat(F1, up F2, up F3) -> 1x1 conv 64, ReLU -> 1x1 conv {dims}, L2-normalised per pixel, stride 8. Trained with
  the nearest-neighbour triplet loss (Chen et al., CVPR 2018; alpha {alpha}) on the synthetic world's object
  instances: anchors from one frame, pools from two other frames of the same video.
file: embed.onnx
inputs:
  - {{ name: image, dtype: uint8, layout: NHWC, shape: [1, H, W, 3] }}
outputs:
  - {{ name: embedding, dtype: float32, layout: NCHW, shape: [1, {dims}, h, w], stride: 8 }}
multiple_of: 8
min_size: 16 # smallest frame side the model takes (two cells of its stride-8 grid)
cost:
  gflops: {gflops}
  at: [360, 480]
training:
  command: {command}
  data: >-
    deno task synth --out /tmp/synth-data --frames 30 --sequences 16 --seed 100 --split train (DAVIS layout:
    JPEGImages/480p, Annotations/480p object ids; 16 sequences of 30 frames); held out: --sequences 2 --seed 900
    --split val. No DAVIS frames.
  iterations: {iterations}
  seconds: {seconds}
  seed: {seed}
metrics:
  nn_accuracy_heldout: {acc}
  nn_accuracy_heldout_before_training: {base}
  evaluation: >-
    Held-out val sequences: every stride-8 cell of frames 5, 10, ... takes the object id of its nearest
    neighbour among frame 0's cells (k = 1, no position channels), share correct, computed by train_embed.py.
    Background dominates this number; the J&F of graphs/pml-vos.yaml on DAVIS is the real test.
"""


def write_card(out):
    info = json.load(open(os.path.join(out, "embed.train.json")))
    args = info["command"].split()
    dims = int(args[args.index("--dims") + 1]) if "--dims" in args else 32
    alpha = args[args.index("--alpha") + 1] if "--alpha" in args else "0.7"
    init = ", backbone initialised from the synthetic seg-lite checkpoint" if info.get("init_backbone") else ""
    text = CARD.format(domain="synthetic", init=init, dims=dims, alpha=alpha, gflops=info["gflops_360x480"],
                       command=info["command"], iterations=info["iterations"], seconds=info["train_seconds"],
                       seed=info["seed"], acc=round(info["nn_accuracy_heldout"], 4),
                       base=round(info["nn_accuracy_heldout_untrained"], 4))
    with open(os.path.join(out, "embed.yaml"), "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4, help="sequences per step (3 frames each)")
    ap.add_argument("--crop", type=int, nargs=2, default=[256, 320])
    ap.add_argument("--anchors", type=int, default=256)
    ap.add_argument("--gap", type=int, default=15, help="pool frames within this many frames of the anchor")
    ap.add_argument("--alpha", type=float, default=0.7)
    ap.add_argument("--dims", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N sequences (smoke tests)")
    ap.add_argument("--init-backbone", default=None, help="segnet checkpoint (seg-lite) to start the backbone from")
    ap.add_argument("--ckpt", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    train = load_sequences(args.data, "train", args.limit or None)
    val = load_sequences(args.data, "val", args.limit or None)
    print(f"loaded {len(train)} train / {len(val)} val sequences in {time.time() - t0:.1f}s", flush=True)
    net = Embed(args.dims)
    if args.init_backbone:
        state = torch.load(args.init_backbone, map_location="cpu")
        net.backbone.load_state_dict(state["state_dict"])
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    warm = min(100, max(1, args.iters // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, args.iters - warm))))
    log, run = [], 0.0
    base = nn_accuracy(net, val) if not args.limit else float("nan")
    print(f"held-out 1-NN accuracy before training {base:.4f}", flush=True)
    t_train = time.time()
    net.train()
    for it in range(1, args.iters + 1):
        x, ids = sample(train, rng, args.batch, args.crop, args.gap)
        loss = triplet_loss(net(normalise(x)), ids, args.anchors, args.alpha, rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        run += loss.item()
        if it % 50 == 0 or it == args.iters:
            k = 50 if it % 50 == 0 else it % 50
            el = time.time() - t_train
            print(f"it {it}/{args.iters} loss {run / k:.4f} {el:.0f}s eta {el / it * (args.iters - it):.0f}s", flush=True)
            run = 0.0
        if it % 500 == 0 and not args.limit:
            acc = nn_accuracy(net, val)
            log.append({"it": it, "nn_accuracy": acc})
            print(f"  held-out 1-NN accuracy {acc:.4f}", flush=True)
    train_s = time.time() - t_train
    acc = nn_accuracy(net, val) if not args.limit else float("nan")
    os.makedirs(args.out, exist_ok=True)
    ckpt = args.ckpt or os.path.join(os.path.dirname(os.path.abspath(__file__)), "ckpt-embed.pt")
    torch.save({"state_dict": net.state_dict(), "dims": args.dims}, ckpt)
    net.eval()
    segnet.fold_bn(net.backbone)
    path = os.path.join(args.out, "embed.onnx")
    torch.onnx.export(Exported(net), (torch.zeros(1, 64, 96, 3, dtype=torch.uint8),), path, opset_version=17,
                      input_names=["image"], output_names=["embedding"],
                      dynamic_axes={"image": {1: "H", 2: "W"}, "embedding": {2: "h", 3: "w"}})
    macs = segnet.conv_macs(Embed(args.dims), 360, 480)
    info = {"command": "/usr/bin/python3 models/train/train_embed.py " + " ".join(sys.argv[1:]),
            "iterations": args.iters, "batch": args.batch, "seed": args.seed, "train_seconds": round(train_s),
            "gflops_360x480": round(2 * macs / 1e9, 3), "params": sum(p.numel() for p in net.parameters()),
            "nn_accuracy_heldout": acc, "nn_accuracy_heldout_untrained": base, "log": log,
            "init_backbone": args.init_backbone, "torch": torch.__version__}
    with open(os.path.join(args.out, "embed.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    if not args.limit:
        write_card(args.out)
    print(json.dumps({k: info[k] for k in ("train_seconds", "gflops_360x480", "nn_accuracy_heldout")}), flush=True)


if __name__ == "__main__":
    main()
