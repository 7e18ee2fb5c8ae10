#!/usr/bin/python3
"""Train the CamVid-domain optical-flow model `flow` (FlowNet-lite, flownet.py) from scratch and export it.

  /usr/bin/python3 models/train/train_flow.py --data ../shared/data/camvid --out models/camvid --iters N

writes <out>/flow.onnx, <out>/flow.train.json and the card <out>/flow.yaml (`--out-stride 4`, the optional stride-4
output: <out>/flow-s4.*) (checkpoint: models/train/ckpt-flow.pt,
written every --save-every iterations with the optimiser and random states: --resume continues a run).

Training pairs (`--motion large`, the default): large and varied motion on real texture (flowmotion.py: layered
homographies, objects and half-planes moving apart, occlusion masks) from CamVid train and the DAVIS 2016 training
sequences (--pool), built once into a bank (--bank pairs) and cropped/mirrored per batch, with a curriculum on the
motion magnitude (--curriculum: the share of the run over which the cap grows from 24 px to all). `--motion affine`:
the first model's pairs (flowdata.py, affine warps up to +-12 px); --small-frac mixes a share of those batches into
--motion large (sub-pixel accuracy on small motion, which the large bank alone loses). Loss: end-point error (L2 of
the flow error, image pixels) of the stride-8 flow upsampled bilinearly to full resolution (as the engine and the
evaluation use it), pixels occluded in the reference or leaving the frame weighted by --occluded-weight, plus 0.5 x
EPE at stride 16 and 0.25 x at stride 32 against area-pooled truth (with --out-stride 4: the stride-4 flow at full
resolution, plus 0.5 x at stride 8, 0.5 x at 16, 0.25 x at 32). Evaluation: EPE on Middlebury RubberWhale, on
the fixed held-out affine set from CamVid *val* frames (the first model's), and on a held-out large-motion set
(flowmotion, seed 54321) from CamVid val and the five DAVIS 2016 evaluation sequences (neither is ever trained on).
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
import flowmotion  # noqa: E402
import flownet  # noqa: E402

MIDDLEBURY = "flow/middlebury"


def epe_full(flow_grid, gt, stride, valid=None, weight=None):
    """Mean EPE in image pixels of a grid flow upsampled (bilinear, half-pixel) x stride vs full-res gt [N,2,H,W]
    (over `valid` pixels, or weighted by `weight` [N,H,W])."""
    up = F.interpolate(flow_grid, size=gt.shape[-2:], mode="bilinear", align_corners=False) * stride
    e = (up - gt).norm(dim=1)
    if weight is not None:
        return (e * weight).sum() / weight.sum()
    if valid is None:
        return e.mean()
    return e[valid].mean()


def coarse_epe(flow_grid, gt, stride):
    """EPE of a stride-`stride` flow (own-grid pixels) against the area-pooled truth, in image pixels."""
    pooled = F.adaptive_avg_pool2d(gt, flow_grid.shape[-2:])
    return (flow_grid * stride - pooled).norm(dim=1).mean()


def large_heldout_set(data, davis, n, h, w, seed=54321):
    """The held-out large-motion set: n flowmotion pairs (level 1) on CamVid val and, when present, the frames of the
    DAVIS 2016 evaluation sequences (every 10th), neither of which any flow model trains on."""
    folders = [os.path.join(data, "val")] + ([davis] if davis and os.path.isdir(davis) else [])
    pool = flowmotion.load_pool(folders, every=10)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    ref, cur, flow, _ = flowmotion.make_batch(pool, rng, gen, n, h, w, level=1.0)
    return ref, cur, flow


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
        total += epe_full(f8, gts[i:i + batch], stride_of(net)).item() * len(r)
    return total / len(refs)


@torch.no_grad()
def eval_world(net, pairs):
    """Mean EPE over the synthetic world's held-out consecutive pairs (full frames, exact flow)."""
    net.eval()
    total, count = 0.0, 0
    for ref, cur, gt in pairs:
        f8, _ = net(ref.permute(1, 2, 0)[None], cur.permute(1, 2, 0)[None])
        total += epe_full(f8, gt[None], stride_of(net)).item()
        count += 1
    return total / max(1, count)


def stride_of(net):
    """The network's output stride (8, or 4 with --out-stride 4)."""
    return getattr(net, "stride", flownet.STRIDE)


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
    up = F.interpolate(f8, size=cur.shape[1:3], mode="bilinear", align_corners=False)[0, :, :h, :w] * stride_of(net)
    g = torch.from_numpy(gt).permute(2, 0, 1)
    valid = (g.abs() < 1e9).all(0)
    epe = (up - g).norm(dim=0)[valid].mean().item()
    zero = g.norm(dim=0)[valid].mean().item()
    return epe, zero, f8


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="CamVid root (train/ for training, val/ for the held-out sets)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--iters", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, nargs=2, default=[192, 256])
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heldout", type=int, default=64, help="held-out pairs of each held-out set (256x320)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N frames (smoke tests)")
    ap.add_argument("--size", type=int, nargs=2, default=None, help="resize frames to H W on load (smoke tests)")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--save-every", type=int, default=250, help="checkpoint every N iterations (resumable)")
    ap.add_argument("--resume", action="store_true", help="continue from --ckpt's saved iteration")
    ap.add_argument("--ckpt", default=None, help="checkpoint path (default: models/train/ckpt-flow.pt)")
    ap.add_argument("--shared", default=None, help="folder holding flow/middlebury (default: the parent of --data)")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (fine-tuning)")
    ap.add_argument("--init-onnx", default=None,
                    help="start from the parameters of this flow.onnx that the network shares (same name and shape)")
    ap.add_argument("--init-levels", type=int, default=2, help="the levels of --init-onnx's network")
    ap.add_argument("--levels", type=int, default=3, choices=[2, 3], help="pyramid levels with a cost volume")
    ap.add_argument("--out-stride", type=int, default=8, choices=[4, 8],
                    help="4: the optional stride-4 output (one more level, flownet.py), exported as flow-s4")
    ap.add_argument("--name", default=None, help="the model's file stem (default flow, flow-s4 with --out-stride 4)")
    ap.add_argument("--motion", default="large", choices=["large", "affine"], help="training pairs (see above)")
    ap.add_argument("--pool", nargs="*", default=None,
                    help="source frame folders for --motion large (default: <data>/train and "
                         "<shared>/davis2016-extra/JPEGImages/480p)")
    ap.add_argument("--bank", type=int, default=3000, help="pairs in the --motion large bank")
    ap.add_argument("--bank-size", type=int, nargs=2, default=[256, 320], help="H W of the bank's pairs")
    ap.add_argument("--curriculum", type=float, default=0.4)
    ap.add_argument("--small-frac", type=float, default=0.0,
                    help="with --motion large: the share of batches of small affine motion (--motion affine's pairs, "
                         "up to +-12 px, some static), so that large-motion training keeps sub-pixel accuracy")
    ap.add_argument("--occluded-weight", type=float, default=0.3)
    ap.add_argument("--davis-eval", default=None,
                    help="frames of the DAVIS evaluation sequences for the large held-out set "
                         "(default: <shared>/davis2016/JPEGImages/480p)")
    ap.add_argument("--world-frac", type=float, default=0.5,
                    help="share of batches cut from the synthetic world's own pairs when <data>/flow exists")
    return ap.parse_args()


def init_from_onnx(net, path, levels):
    """Copies into net the parameters of a flow.onnx (a network of `levels`) whose names and shapes match."""
    from export_flow import state_dict_from_onnx  # noqa: E402
    old = state_dict_from_onnx(path, flownet.FlowNetLite(levels=levels))
    own = net.state_dict()
    shared = {k: v for k, v in old.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(shared, strict=False)
    if getattr(net, "stride", 8) == 4 and "flow4.0.weight" not in shared:
        # The new stride-4 level starts as the identity on the upsampled stride-8 flow (a zero residual).
        torch.nn.init.zeros_(net.flow4[0].weight)
        torch.nn.init.zeros_(net.flow4[0].bias)
    print(f"initialised {len(shared)} of {len(own)} tensors from {path}: {sorted(shared)}", flush=True)


def save_state(path, net, opt, sched, it, rng, gen, log, train_s):
    torch.save({"state_dict": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "it": it,
                "rng": rng.bit_generator.state, "gen": gen.get_state(), "log": log, "train_s": train_s}, path)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t_start = time.time()
    shared = args.shared or os.path.dirname(os.path.abspath(args.data))

    # CamVid train frames as they are for --motion affine, and for --small-frac's small-motion batches.
    frames = (flowdata.load_frames(os.path.join(args.data, "train"), args.limit or None, args.size)
              if args.motion == "affine" or args.small_frac > 0 else None)
    vframes = flowdata.load_frames(os.path.join(args.data, "val"), args.limit or None, args.size)
    hh, hw = (min(256, vframes.shape[2] - 8), min(320, vframes.shape[3] - 8)) if args.size else (256, 320)
    hh, hw = hh // 8 * 8, hw // 8 * 8
    held = heldout_set(vframes, args.heldout, hh, hw, seed=12345)
    davis_eval = args.davis_eval or os.path.join(shared, "davis2016", "JPEGImages", "480p")
    held_large = None if args.limit else large_heldout_set(args.data, davis_eval, args.heldout, hh, hw)
    have_mb = os.path.exists(os.path.join(shared, MIDDLEBURY, "rubberwhale_gt.flo"))
    world = flowdata.load_world(args.data, "train", args.limit or None)
    world_val = flowdata.load_world(args.data, "val", args.limit or None)
    h, w = args.crop
    if frames is not None:
        h, w = min(h, frames.shape[2] - 16) // 16 * 16, min(w, frames.shape[3] - 16) // 16 * 16
    bank, pool_dirs = None, []
    if args.motion == "large":
        pool_dirs = args.pool if args.pool is not None else [
            os.path.join(args.data, "train"), os.path.join(shared, "davis2016-extra", "JPEGImages", "480p")]
        pool = flowmotion.load_pool([d for d in pool_dirs if os.path.isdir(d)], args.limit or None)
        if args.size:
            pool = [F.interpolate(p[None], size=args.size, mode="bilinear", align_corners=False)[0] for p in pool]
        bh, bw = min(args.bank_size[0], pool[0].shape[1] - 8), min(args.bank_size[1], pool[0].shape[2] - 8)
        t_bank = time.time()
        bank = flowmotion.make_bank(pool, args.bank, bh, bw, args.seed, workers=args.threads)
        h, w = min(h, bh) // 16 * 16, min(w, bw) // 16 * 16
        print(f"bank: {args.bank} pairs of {bh}x{bw} from {len(pool)} frames in {time.time() - t_bank:.0f}s; "
              f"magnitude p50 {bank['magnitude'].median():.1f} px, max {bank['magnitude'].max():.1f} px", flush=True)
    train_frames = len(frames) if frames is not None else len(pool)
    print(f"loaded {train_frames} train / {len(vframes)} val frames, {args.heldout} held-out pairs, "
          f"{len(world)} / {len(world_val)} world pairs in {time.time() - t_start:.1f}s", flush=True)

    net = flownet.FlowNetLite(levels=args.levels, out_stride=args.out_stride)
    stem = args.name or ("flow-s4" if args.out_stride == 4 else "flow")
    if args.init:
        net.load_state_dict(torch.load(args.init, map_location="cpu")["state_dict"])
    if args.init_onnx:
        init_from_onnx(net, args.init_onnx, args.init_levels)
    total = args.iters
    warm = min(300, max(1, total // 10))
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total - warm))))
    mean = net.mean
    std = net.std
    ckpt = args.ckpt or os.path.join(os.path.dirname(os.path.abspath(__file__)), "ckpt-flow.pt")
    first, log, train_before = 1, [], 0.0
    if args.resume and os.path.exists(ckpt):
        state = torch.load(ckpt, map_location="cpu")
        net.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        gen.set_state(state["gen"])
        first, log, train_before = state["it"] + 1, state["log"], state["train_s"]
        print(f"resumed from {ckpt} at iteration {state['it']}", flush=True)

    def evaluate():
        he = eval_heldout(net, held)
        hl = eval_heldout(net, held_large) if held_large is not None else float("nan")
        rw = eval_rubberwhale(net, shared)[0] if have_mb else float("nan")
        wv = eval_world(net, world_val) if world_val else float("nan")
        return {"heldout": he, "heldout_large": hl, "rubberwhale": rw, "world_heldout": wv}

    t_train = time.time() - train_before
    run = [0.0, 0.0]
    net.train()
    for it in range(first, total + 1):
        weight = None
        if world and rng.random() < args.world_frac:
            ref, cur, gt = flowdata.world_batch(world, rng, args.batch, h, w)
        elif bank is not None and frames is not None and rng.random() < args.small_frac:
            ref, cur, gt = flowdata.make_batch(frames, rng, gen, args.batch, h, w)
        elif bank is not None:
            cap = 24 + (it / max(1, args.curriculum * total)) * 400 if it < args.curriculum * total else None
            ref, cur, gt, vis = flowmotion.bank_batch(bank, rng, args.batch, h, w, cap)
            weight = vis + args.occluded_weight * (1 - vis)
        else:
            ref, cur, gt = flowdata.make_batch(frames, rng, gen, args.batch, h, w)
        out = net.forward_nchw((ref - mean) / std, (cur - mean) / std)
        flows = out[:-1]  # finest first
        l8 = epe_full(flows[0], gt, net.stride, weight=weight)
        coarse = {8: 0.5, 16: 0.5, 32: 0.25}  # the coarser levels' weights, by stride
        loss = l8 + sum(coarse[net.stride * 2 ** k] * coarse_epe(f, gt, net.stride * 2 ** k)
                        for k, f in enumerate(flows[1:], 1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        sched.step()
        run[0] += l8.item()
        run[1] += loss.item()
        if it % 50 == 0 or it == total:
            k = 50 if it % 50 == 0 else it % 50
            el = time.time() - t_train
            print(f"it {it}/{total} epe8 {run[0] / k:.3f} loss {run[1] / k:.3f} lr {sched.get_last_lr()[0]:.2e} "
                  f"{el:.0f}s eta {el / (it - first + 1) * (total - it):.0f}s", flush=True)
            run = [0.0, 0.0]
        if (it % args.eval_every == 0 or it == total) and not args.limit:
            log.append({"it": it, **evaluate()})
            print("  " + "  ".join(f"{k} EPE {v:.3f}" for k, v in log[-1].items() if k != "it"), flush=True)
            net.train()
        if it % args.save_every == 0 or it == total:
            save_state(ckpt, net, opt, sched, it, rng, gen, log, time.time() - t_train)
    train_s = time.time() - t_train

    net.eval()
    final = evaluate()
    rw_zero = eval_rubberwhale(net, shared)[1] if have_mb else None
    print(f"final: {final}; RubberWhale zero-flow baseline {rw_zero}", flush=True)
    nan = lambda v: None if v != v else v

    os.makedirs(args.out, exist_ok=True)
    from export_flow import export  # noqa: E402
    onnx_file = export(net, args.out, name=f"{stem}.onnx")
    macs, corr = flownet.cost_macs(flownet.FlowNetLite(levels=args.levels, out_stride=args.out_stride), 360, 480)
    info = {
        "command": "/usr/bin/python3 models/train/train_flow.py " + " ".join(a for a in sys.argv[1:] if a != "--resume"),
        "iterations": total,
        "batch": args.batch,
        "crop": [h, w],
        "seed": args.seed,
        "threads": args.threads,
        "levels": args.levels,
        "out_stride": args.out_stride,
        "name": stem,
        "motion": args.motion,
        "pool": [os.path.relpath(d) for d in pool_dirs],
        "bank": {"pairs": args.bank, "size": list(bank["reference"].shape[2:]),
                 "magnitude_p50": round(bank["magnitude"].median().item(), 1),
                 "magnitude_max": round(bank["magnitude"].max().item(), 1)} if bank is not None else None,
        "curriculum": args.curriculum if bank is not None else None,
        "small_frac": args.small_frac if bank is not None else None,
        "occluded_weight": args.occluded_weight if bank is not None else None,
        "train_seconds": round(train_s),
        "total_seconds": round(time.time() - t_start),
        "gflops_360x480": round(2 * macs / 1e9, 3),
        "gflops_360x480_with_cost_volumes": round(2 * (macs + corr) / 1e9, 3),
        "params": sum(p.numel() for p in net.parameters()),
        "epe_rubberwhale": nan(final["rubberwhale"]),
        "epe_rubberwhale_zero_flow": rw_zero,
        "epe_synthetic_heldout": final["heldout"],
        "epe_large_heldout": nan(final["heldout_large"]),
        "epe_world_heldout": nan(final["world_heldout"]),
        "world": {"train_pairs": len(world), "val_pairs": len(world_val), "frac": args.world_frac} if world else None,
        "init": args.init or args.init_onnx,
        "heldout": {"pairs": args.heldout, "size": [hh, hw], "seed": 12345, "frames": "val"},
        "heldout_large": {"pairs": args.heldout, "size": [hh, hw], "seed": 54321,
                          "frames": ["val", os.path.relpath(davis_eval)]},
        "log": log,
        "file": os.path.basename(onnx_file),
        "torch": torch.__version__,
    }
    with open(os.path.join(args.out, f"{stem}.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    from export_flow import write_card  # noqa: E402
    write_card(args.out, stem)
    print(json.dumps({k: info[k] for k in ("train_seconds", "gflops_360x480", "epe_rubberwhale",
                                           "epe_synthetic_heldout", "epe_large_heldout")}), flush=True)


if __name__ == "__main__":
    main()
