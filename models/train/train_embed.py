#!/usr/bin/python3
"""Train PML's pixel embedding (`embed`): L2-normalised per-pixel embeddings at stride 8, learned with the
nearest-neighbour triplet loss of Chen et al. (CVPR 2018) on videos with object masks.

  /usr/bin/python3 models/train/train_embed.py --out DIR [--data SYNTH] [--davis DIR --davis-train a,b,...]
      [--davis-val c,d,...] [--init-onnx SEG.onnx | --init-backbone CKPT] --iters N

Data (embeddata.py): the synthetic world in DAVIS 2017 layout (`--data`: many objects per video; its val split held
out) and real DAVIS 2016 sequences (`--davis` with `--davis-train`: one object each, real appearance and motion; the
`--davis-val` sequences held out), mixed per batch (`--davis-frac` of the videos real). Never the DAVIS evaluation
sequences.

Each step takes `--batch` videos; per video one anchor frame and two pool frames (anywhere in the video, or within
`--gap` frames), each with its own random zoom, rotation and shift around a shared crop, strong shared colour jitter
plus a milder per-frame one, blur and noise. Loss per anchor pixel a (up to `--anchors` on the stride-8 grid, half of
them on objects when there are any): max(0, min_p |f_a - f_p|^2 - min_n |f_a - f_n|^2 + alpha) over pool pixels p
with a's object id and n with another id (background counts as an object; pixels from outside the frame are
ignored), alpha 0.7.

Backbone: the staged FCN of segnet.py (`--arch`), optionally initialised from a trained segmentation network: an
exported `seg*.onnx` (`--init-onnx`, Conv+BN folded, so the backbone trains without BatchNorm) or a checkpoint
(`--init-backbone`); ImageNet stands in this way in the paper. Head: concat(F1, up F2, up F3) -> 1x1 conv 64, ReLU ->
1x1 conv D -> L2 normalisation. Exports <out>/<name>.onnx: `image` uint8 NHWC -> `embedding` [1, D, h, w] at stride
8. Held-out metrics, per held-out video: every stride-8 cell of frames 5, 10, ... takes the object id of its nearest
neighbour among frame 0's cells (what the engine's kNN does, k=1, no position channels): accuracy, and the mean
object IoU (J at the cells) that the selection uses.
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
import embeddata  # noqa: E402
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


def normalise(x):
    mean = torch.tensor(segnet.MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(segnet.STD).view(1, 3, 1, 1) * 255
    return (x - mean) / std


def cell_ids(masks, stride=8):
    """Object id at the centre of each stride-8 cell: [N, h, w] from [N, H, W]."""
    o = stride // 2
    return masks[:, o::stride, o::stride]


def pick_anchors(labels, anchors, rng):
    """Up to `anchors` indices of valid cells (id != 255), half of them on objects (id > 0) when there are any."""
    valid = np.nonzero(labels != 255)[0]
    on = valid[labels[valid] > 0]
    if len(valid) == 0:
        return valid
    n_on = min(len(on), anchors // 2)
    picked = rng.choice(on, n_on, replace=False) if n_on else on[:0]
    rest = np.setdiff1d(valid, picked)
    return np.concatenate([picked, rng.choice(rest, min(len(rest), anchors - n_on), replace=False)])


def triplet_loss(emb, ids, anchors, alpha, rng):
    """emb [3B, D, h, w] (anchor, pool, pool per video); ids [3B, H, W], 255 ignored."""
    cells = cell_ids(ids)
    losses = []
    for b in range(0, emb.shape[0], 3):
        ea = emb[b].flatten(1).t()  # [h*w, D]
        la = cells[b].flatten()
        pool = torch.cat([emb[b + 1].flatten(1).t(), emb[b + 2].flatten(1).t()])
        lp = torch.cat([cells[b + 1].flatten(), cells[b + 2].flatten()])
        keep_pool = lp != 255
        pool, lp = pool[keep_pool], lp[keep_pool]
        pick = torch.from_numpy(pick_anchors(la.numpy(), anchors, rng))
        if len(pick) == 0 or len(lp) == 0:
            continue
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
def nn_scores(net, seqs, step=5):
    """1-NN matching of the stride-8 cells of frames step, 2 step, ... against frame 0, per held-out video: (pixel
    accuracy over all videos, mean over videos of the mean object IoU)."""
    net.eval()
    correct = total = 0
    ious = []
    for imgs, masks in seqs:
        h, w = imgs.shape[1] // 8 * 8, imgs.shape[2] // 8 * 8
        used = list(range(0, len(imgs), step))  # frame 0, then the queries
        emb = torch.cat([net(normalise(torch.from_numpy(imgs[used[i:i + 4], :h, :w]).permute(0, 3, 1, 2).float()))
                         for i in range(0, len(used), 4)])
        cells = torch.from_numpy(cell_ids(masks[used, :h, :w]).astype(np.int64))
        ref, lref = emb[0].flatten(1).t(), cells[0].flatten()
        objects = [o for o in lref.unique().tolist() if o not in (0, 255)]
        inter, union = np.zeros(len(objects)), np.zeros(len(objects))
        for t in range(1, len(used)):
            q, truth = emb[t].flatten(1).t(), cells[t].flatten()
            pred = lref[(q @ ref.t()).argmax(1)]
            valid = truth != 255
            correct += (pred == truth)[valid].sum().item()
            total += valid.sum().item()
            for i, o in enumerate(objects):
                inter[i] += ((pred == o) & (truth == o)).sum().item()
                union[i] += (((pred == o) | (truth == o)) & valid).sum().item()
        if objects:
            ious.append(float(np.mean(inter / np.maximum(union, 1))))
    net.train()
    return correct / max(1, total), float(np.mean(ious)) if ious else float("nan")


def load_backbone_onnx(backbone, path):
    """Conv weights of an exported segmentation network (`net.stage*`, Conv+BN folded) into `backbone`, folded
    first (its BatchNorms become identities). Raises on a missing or mis-shaped parameter."""
    import onnx
    from onnx import numpy_helper

    segnet.fold_bn(backbone)
    found = {i.name[len("net."):]: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer
             if i.name.startswith("net.stage")}
    state = backbone.state_dict()
    wanted = [k for k in state if k.startswith("stage")]
    missing = [k for k in wanted if k not in found or tuple(found[k].shape) != tuple(state[k].shape)]
    if missing:
        raise SystemExit(f"error: {path}: no {missing[0]} of shape {tuple(state[missing[0]].shape)} "
                         f"(is it an export of this --arch?)")
    backbone.load_state_dict({**state, **{k: torch.from_numpy(found[k].copy()) for k in wanted}})
    backbone.train()


CARD = """\
name: {name}
task: embedding
description: >-
  PML pixel embedding for the {domain} set: staged-FCN backbone (segnet.py, {arch} widths{init}), head
  concat(F1, up F2, up F3) -> 1x1 conv 64, ReLU -> 1x1 conv {dims}, L2-normalised per pixel, stride 8. Trained with
  the nearest-neighbour triplet loss (Chen et al., CVPR 2018; alpha {alpha}) on {trained_on}: anchors from one frame,
  pools from two other frames of the same video, each with its own zoom, rotation, shift and colour.
file: {name}.onnx
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
    {data}
  iterations: {iterations}
  seconds: {seconds}
  seed: {seed}
metrics:
  nn_accuracy_heldout: {acc}
  nn_accuracy_heldout_before_training: {base}
  nn_object_iou_heldout: {iou}
  nn_object_iou_heldout_before_training: {base_iou}
  evaluation: >-
    Held-out videos ({heldout}): every stride-8 cell of frames 5, 10, ... takes the object id of its nearest
    neighbour among frame 0's cells (k = 1, no position channels): share correct, and the mean over videos of the
    objects' IoU, computed by train_embed.py. The J&F of graphs/pml-vos.yaml on DAVIS is the real test.
"""

SYNTH_DATA = ("deno task synth --out {root} --frames 30 --sequences 16 --seed 100 --split train (DAVIS layout: "
              "JPEGImages/480p, Annotations/480p object ids; 16 sequences of 30 frames); held out: --sequences 2 --seed "
              "900 --split val")


def data_text(info):
    """The card's data paragraph from the run's sources."""
    parts = []
    if info.get("synthetic"):
        parts.append(SYNTH_DATA.format(root=info["synthetic"]) + f" ({info['synthetic_frac']:.0%} of the videos)")
    if info.get("davis_train"):
        parts.append(f"DAVIS 2016 sequences of {info['davis']} ({', '.join(info['davis_train'])}; "
                     f"{info['davis_frac']:.0%} of the videos; masks 0/255 as one object)"
                     + (f"; held out: {', '.join(info['davis_val'])}" if info.get("davis_val") else ""))
    if info.get("textures") and info.get("layered_frac"):
        parts.append(f"layered videos on real texture from {', '.join(info['textures'])} ({info['layered_frac']:.0%} "
                     "of the videos: a background and 1-5 textured superellipse objects, each moved by its own random "
                     "homography per frame, embeddata.layered_triplet)")
    return "; ".join(parts) + ". Never the DAVIS evaluation sequences (../shared/data/davis2016)."


def write_card(out, name="embed"):
    info = json.load(open(os.path.join(out, f"{name}.train.json")))
    args = info["command"].split()
    dims = int(args[args.index("--dims") + 1]) if "--dims" in args else 32
    alpha = args[args.index("--alpha") + 1] if "--alpha" in args else "0.7"
    init = info.get("init_onnx") or info.get("init_backbone")
    init = f", backbone initialised from {init}" if init else ""
    trained_on = ", ".join(x for x in ("real DAVIS 2016 videos" if info.get("davis_train") else "",
                                       "layered videos on real texture" if info.get("layered_frac") else "",
                                       "the synthetic world's object instances" if info.get("synthetic") else "") if x)
    r = lambda v: round(v, 4) if isinstance(v, float) and v == v else "null"
    text = CARD.format(name=name, domain=info.get("domain", "synthetic"), arch=info.get("arch", "seg-lite"),
                       init=init, dims=dims, alpha=alpha, trained_on=trained_on, gflops=info["gflops_360x480"],
                       command=info["command"], data=data_text(info), iterations=info["iterations"],
                       seconds=info["train_seconds"], seed=info["seed"], acc=r(info["nn_accuracy_heldout"]),
                       base=r(info["nn_accuracy_heldout_untrained"]), iou=r(info.get("nn_object_iou_heldout")),
                       base_iou=r(info.get("nn_object_iou_heldout_untrained")), heldout=info.get("heldout", "val"))
    with open(os.path.join(out, f"{name}.yaml"), "w") as f:
        f.write(text)


def names(text):
    return [n for n in (text or "").split(",") if n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, help="the synthetic world in DAVIS 2017 layout (train and val splits)")
    ap.add_argument("--davis", default=None, help="a DAVIS 2016 folder of real videos (../shared/data/davis2016-extra)")
    ap.add_argument("--davis-train", default="", help="its sequences to train on, comma-separated")
    ap.add_argument("--davis-val", default="", help="its sequences held out (the metric), comma-separated")
    ap.add_argument("--davis-frac", type=float, default=0.6, help="share of the videos from --davis (with --data)")
    ap.add_argument("--textures", default="", help="frame folders (comma-separated) for layered videos on real "
                    "texture (embeddata.layered_triplet), e.g. CamVid train and the --davis-train sequences' folders")
    ap.add_argument("--layered-frac", type=float, default=0.0, help="share of the videos that are layered ones")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="embed", help="writes <out>/<name>.onnx, .yaml, .train.json")
    ap.add_argument("--domain", default=None, help="the set the card describes (default: --out's folder name)")
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4, help="videos per step (3 frames each)")
    ap.add_argument("--crop", type=int, nargs=2, default=[256, 320])
    ap.add_argument("--anchors", type=int, default=256)
    ap.add_argument("--gap", type=int, default=0, help="pool frames within this many frames of the anchor (0: any)")
    ap.add_argument("--zoom", type=float, nargs=2, default=[0.7, 1.5],
                    help="frame px per crop px (1: the native scale the engine runs at)")
    ap.add_argument("--rotate", type=float, default=10.0, help="degrees, per frame")
    ap.add_argument("--alpha", type=float, default=0.7)
    ap.add_argument("--dims", type=int, default=32)
    ap.add_argument("--arch", default="seg-lite", choices=list(segnet.ARCHS))
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N sequences (smoke tests)")
    ap.add_argument("--init-backbone", default=None, help="segnet checkpoint (--arch) to start the backbone from")
    ap.add_argument("--init-onnx", default=None, help="an exported segmentation network (--arch) to start from")
    ap.add_argument("--ckpt", default=None)
    args = ap.parse_args()
    if not args.data and not args.davis:
        ap.error("give --data (synthetic world) and/or --davis with --davis-train")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    limit = args.limit or None
    sources, val = [], []
    davis_train, davis_val = names(args.davis_train), names(args.davis_val)
    if args.davis:
        if not davis_train:
            ap.error("--davis needs --davis-train")
        real = embeddata.load_davis(args.davis, davis_train, limit)
        sources.append((args.davis_frac if args.data or args.textures else 1.0, real))
        val += embeddata.load_davis(args.davis, davis_val, limit)
    if args.textures and args.layered_frac > 0:
        sources.append((args.layered_frac, embeddata.Textures(names(args.textures))))
    rest = 1.0 - (args.davis_frac if args.davis else 0.0) - (args.layered_frac if args.textures else 0.0)
    if args.data:
        sources.append((rest, embeddata.load_synthetic(args.data, "train", limit)))
        if not davis_val:
            val += embeddata.load_synthetic(args.data, "val", limit)
    print(f"loaded {len(sources)} sources ({', '.join(f'{w:.2f}: {len(v)}' for w, v in sources)} videos or textures) "
          f"/ {len(val)} held-out videos in {time.time() - t0:.1f}s", flush=True)
    net = Embed(args.dims, args.arch)
    if args.init_onnx:
        load_backbone_onnx(net.backbone, args.init_onnx)
    elif args.init_backbone:
        state = torch.load(args.init_backbone, map_location="cpu")
        net.backbone.load_state_dict(state["state_dict"])
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    warm = min(100, max(1, args.iters // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, args.iters - warm))))
    log, run = [], 0.0
    nan = (float("nan"), float("nan"))
    base = nn_scores(net, val) if val and not args.limit else nan
    print(f"held-out 1-NN accuracy / object IoU before training {base[0]:.4f} / {base[1]:.4f}", flush=True)
    t_train = time.time()
    net.train()
    for it in range(1, args.iters + 1):
        x, ids = embeddata.sample_triplets(sources, rng, args.batch, args.crop, args.gap, args.zoom, args.rotate)
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
        if it % args.eval_every == 0 and val and not args.limit:
            acc, iou = nn_scores(net, val)
            log.append({"it": it, "nn_accuracy": acc, "nn_object_iou": iou})
            print(f"  held-out 1-NN accuracy {acc:.4f} object IoU {iou:.4f}", flush=True)
    train_s = time.time() - t_train
    acc, iou = nn_scores(net, val) if val and not args.limit else nan
    os.makedirs(args.out, exist_ok=True)
    ckpt = args.ckpt or os.path.join(os.path.dirname(os.path.abspath(__file__)), "ckpt-embed.pt")
    torch.save({"state_dict": net.state_dict(), "dims": args.dims, "arch": args.arch}, ckpt)
    net.eval()
    if not args.init_onnx:  # an --init-onnx backbone was folded before training
        segnet.fold_bn(net.backbone)
    path = os.path.join(args.out, f"{args.name}.onnx")
    torch.onnx.export(Exported(net), (torch.zeros(1, 64, 96, 3, dtype=torch.uint8),), path, opset_version=17,
                      input_names=["image"], output_names=["embedding"],
                      dynamic_axes={"image": {1: "H", 2: "W"}, "embedding": {2: "h", 3: "w"}})
    macs = segnet.conv_macs(Embed(args.dims, args.arch), 360, 480)
    info = {"command": "/usr/bin/python3 models/train/train_embed.py " + " ".join(sys.argv[1:]),
            "domain": args.domain or os.path.basename(os.path.normpath(args.out)), "arch": args.arch,
            "iterations": args.iters, "batch": args.batch, "seed": args.seed, "train_seconds": round(train_s),
            "gflops_360x480": round(2 * macs / 1e9, 3), "params": sum(p.numel() for p in net.parameters()),
            "nn_accuracy_heldout": acc, "nn_accuracy_heldout_untrained": base[0], "nn_object_iou_heldout": iou,
            "nn_object_iou_heldout_untrained": base[1], "log": log, "init_backbone": args.init_backbone,
            "init_onnx": args.init_onnx, "synthetic": args.data, "synthetic_frac": rest if args.data else 0.0,
            "davis": args.davis, "davis_train": davis_train, "davis_val": davis_val,
            "textures": names(args.textures), "layered_frac": args.layered_frac if args.textures else 0.0,
            "davis_frac": args.davis_frac if args.data else 1.0,
            "heldout": ", ".join(davis_val) if davis_val else "the synthetic world's val split",
            "torch": torch.__version__}
    with open(os.path.join(args.out, f"{args.name}.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    if not args.limit:
        write_card(args.out, args.name)
    print(json.dumps({k: info[k] for k in ("train_seconds", "gflops_360x480", "nn_accuracy_heldout",
                                           "nn_object_iou_heldout")}), flush=True)


if __name__ == "__main__":
    main()
