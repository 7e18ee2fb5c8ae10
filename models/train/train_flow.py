#!/usr/bin/python3
"""Train the CamVid-domain optical-flow model `flow` (FlowNet-lite, flownet.py) from scratch and export it.

  /usr/bin/python3 models/train/train_flow.py --data ../shared/data/camvid --out models/camvid --iters N

writes <out>/flow.onnx, <out>/flow.train.json and the card <out>/flow.yaml (checkpoint: models/train/ckpt-flow.pt).

Training pairs: CamVid train frames (never val) moved by known random affine warps plus independently moving
pasted objects (flowdata.py), exact backward flow. Loss: end-point error (L2 of the flow error, image pixels)
of the stride-8 flow upsampled bilinearly to full resolution (as the engine and the evaluation use it), plus
0.5 x EPE of the stride-16 flow against area-pooled ground truth. Evaluation: EPE on Middlebury RubberWhale
and on a fixed held-out set of synthetic pairs built the same way from CamVid *val* frames. Seeded; on the
same machine and thread count the run is reproducible.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowdata  # noqa: E402
import flownet  # noqa: E402

MIDDLEBURY = "flow/middlebury"


def epe_full(flow_grid, gt, stride, valid=None):
    """Mean EPE in image pixels of a grid flow upsampled (bilinear, half-pixel) x stride vs full-res gt [N,2,H,W]."""
    up = F.interpolate(flow_grid, size=gt.shape[-2:], mode="bilinear", align_corners=False) * stride
    e = (up - gt).norm(dim=1)
    if valid is None:
        return e.mean()
    return e[valid].mean()


def heldout_set(frames, n, h, w, seed):
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    return flowdata.make_batch(frames, rng, gen, n, h, w)


@torch.no_grad()
def eval_heldout(net, held, batch=8):
    net.eval()
    refs, curs, gts = held
    total = 0.0
    for i in range(0, len(refs), batch):
        r = refs[i:i + batch].permute(0, 2, 3, 1)
        c = curs[i:i + batch].permute(0, 2, 3, 1)
        f8, _ = net(r, c)
        total += epe_full(f8, gts[i:i + batch], flownet.STRIDE).item() * len(r)
    return total / len(refs)


@torch.no_grad()
def eval_world(net, pairs):
    """Mean EPE over the synthetic world's held-out consecutive pairs (full frames, exact flow)."""
    net.eval()
    total, count = 0.0, 0
    for ref, cur, gt in pairs:
        f8, _ = net(ref.permute(1, 2, 0)[None], cur.permute(1, 2, 0)[None])
        total += epe_full(f8, gt[None], flownet.STRIDE).item()
        count += 1
    return total / max(1, count)


def pad_to(img, multiple):
    """Edge-replicate an HxWx3 uint8 image at the bottom/right to multiples of `multiple`."""
    h, w = img.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")


@torch.no_grad()
def eval_rubberwhale(net, root):
    """EPE on Middlebury RubberWhale. The .flo is the FORWARD flow of frame 10 (p -> p + gt(p) in frame 11),
    which is our BACKWARD flow with current = frame 10 and reference = frame 11."""
    d = os.path.join(root, MIDDLEBURY)
    f10 = flowdata.read_png(os.path.join(d, "rubberwhale1.png"))
    f11 = flowdata.read_png(os.path.join(d, "rubberwhale2.png"))
    gt = flowdata.read_flo(os.path.join(d, "rubberwhale_gt.flo"))
    h, w = f10.shape[:2]
    cur = torch.from_numpy(pad_to(f10, 8))[None]
    ref = torch.from_numpy(pad_to(f11, 8))[None]
    net.eval()
    f8, _ = net(ref, cur)
    up = F.interpolate(f8, size=cur.shape[1:3], mode="bilinear", align_corners=False)[0, :, :h, :w] * flownet.STRIDE
    g = torch.from_numpy(gt).permute(2, 0, 1)
    valid = (g.abs() < 1e9).all(0)
    epe = (up - g).norm(dim=0)[valid].mean().item()
    zero = g.norm(dim=0)[valid].mean().item()
    return epe, zero, f8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="CamVid root (train/ for training, val/ for the held-out set)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--iters", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, nargs=2, default=[192, 256])
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heldout", type=int, default=64, help="held-out pairs from val frames (256x320)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N frames (smoke tests)")
    ap.add_argument("--size", type=int, nargs=2, default=None, help="resize frames to H W on load (smoke tests)")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--ckpt", default=None, help="checkpoint path (default: models/train/ckpt-flow.pt)")
    ap.add_argument("--shared", default=None, help="folder holding flow/middlebury (default: the parent of --data)")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (fine-tuning)")
    ap.add_argument("--world-frac", type=float, default=0.5,
                    help="share of batches cut from the synthetic world's own pairs when <data>/flow exists")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t_start = time.time()

    frames = flowdata.load_frames(os.path.join(args.data, "train"), args.limit or None, args.size)
    vframes = flowdata.load_frames(os.path.join(args.data, "val"), args.limit or None, args.size)
    hh, hw = (min(256, vframes.shape[2] - 8), min(320, vframes.shape[3] - 8)) if args.size else (256, 320)
    held = heldout_set(vframes, args.heldout, hh // 8 * 8, hw // 8 * 8, seed=12345)
    shared = args.shared or os.path.dirname(os.path.abspath(args.data))
    have_mb = os.path.exists(os.path.join(shared, MIDDLEBURY, "rubberwhale_gt.flo"))
    world = flowdata.load_world(args.data, "train", args.limit or None)
    world_val = flowdata.load_world(args.data, "val", args.limit or None)
    print(f"loaded {len(frames)} train / {len(vframes)} val frames, {args.heldout} held-out pairs, "
          f"{len(world)} / {len(world_val)} world pairs in {time.time() - t_start:.1f}s", flush=True)

    net = flownet.FlowNetLite()
    if args.init:
        net.load_state_dict(torch.load(args.init, map_location="cpu")["state_dict"])
    total = args.iters
    warm = min(300, max(1, total // 10))
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total - warm))))
    h, w = args.crop
    h, w = min(h, frames.shape[2] - 16) // 16 * 16, min(w, frames.shape[3] - 16) // 16 * 16
    mean = net.mean
    std = net.std

    t_train = time.time()
    run, log = [0.0, 0.0], []
    net.train()
    for it in range(1, total + 1):
        if world and rng.random() < args.world_frac:
            ref, cur, gt = flowdata.world_batch(world, rng, args.batch, h, w)
        else:
            ref, cur, gt = flowdata.make_batch(frames, rng, gen, args.batch, h, w)
        f8, f16, _ = net.forward_nchw((ref - mean) / std, (cur - mean) / std)
        l8 = epe_full(f8, gt, 8)
        l16 = (f16 * 16 - F.avg_pool2d(gt, 16)).norm(dim=1).mean()
        loss = l8 + 0.5 * l16
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        sched.step()
        run[0] += l8.item()
        run[1] += l16.item()
        if it % 50 == 0 or it == total:
            k = 50 if it % 50 == 0 else it % 50
            el = time.time() - t_train
            print(f"it {it}/{total} epe8 {run[0] / k:.3f} epe16 {run[1] / k:.3f} lr {sched.get_last_lr()[0]:.2e} "
                  f"{el:.0f}s eta {el / it * (total - it):.0f}s", flush=True)
            run = [0.0, 0.0]
        if (it % args.eval_every == 0 or it == total) and not args.limit:
            he = eval_heldout(net, held)
            rw = eval_rubberwhale(net, shared)[0] if have_mb else float("nan")
            wv = eval_world(net, world_val) if world_val else float("nan")
            log.append({"it": it, "heldout": he, "rubberwhale": rw, "world_heldout": wv})
            print(f"  held-out EPE {he:.3f}  RubberWhale EPE {rw:.3f}  world held-out EPE {wv:.3f}", flush=True)
            net.train()
    train_s = time.time() - t_train

    net.eval()
    he = eval_heldout(net, held)
    rw, rw_zero, _ = eval_rubberwhale(net, shared) if have_mb else (None, None, None)
    wv = eval_world(net, world_val) if world_val else None
    print(f"final: held-out EPE {he:.4f}; RubberWhale EPE {rw} (zero-flow baseline {rw_zero}); "
          f"world held-out EPE {wv}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    ckpt = args.ckpt or os.path.join(os.path.dirname(os.path.abspath(__file__)), "ckpt-flow.pt")
    torch.save({"state_dict": net.state_dict()}, ckpt)
    from export_flow import export  # noqa: E402
    onnx_file = export(net, args.out)
    macs, corr = flownet.cost_macs(flownet.FlowNetLite(), 360, 480)
    info = {
        "command": "/usr/bin/python3 models/train/train_flow.py " + " ".join(sys.argv[1:]),
        "iterations": total,
        "batch": args.batch,
        "crop": [h, w],
        "seed": args.seed,
        "threads": args.threads,
        "train_seconds": round(train_s),
        "total_seconds": round(time.time() - t_start),
        "gflops_360x480": round(2 * macs / 1e9, 3),
        "gflops_360x480_with_cost_volumes": round(2 * (macs + corr) / 1e9, 3),
        "params": sum(p.numel() for p in net.parameters()),
        "epe_rubberwhale": rw,
        "epe_rubberwhale_zero_flow": rw_zero,
        "epe_synthetic_heldout": he,
        "epe_world_heldout": wv,
        "world": {"train_pairs": len(world), "val_pairs": len(world_val), "frac": args.world_frac} if world else None,
        "init": args.init,
        "heldout": {"pairs": args.heldout, "size": [hh // 8 * 8, hw // 8 * 8], "seed": 12345, "frames": "val"},
        "log": log,
        "file": os.path.basename(onnx_file),
        "torch": torch.__version__,
    }
    with open(os.path.join(args.out, "flow.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    from export_flow import write_card  # noqa: E402
    write_card(args.out)
    print(json.dumps({k: info[k] for k in ("train_seconds", "gflops_360x480", "epe_rubberwhale",
                                           "epe_synthetic_heldout")}), flush=True)


if __name__ == "__main__":
    main()
