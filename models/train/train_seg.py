#!/usr/bin/python3
"""Train the CamVid staged FCN (`seg`) or its cheap sibling (`seg-lite`) from scratch and export ONNX.

  /usr/bin/python3 models/train/train_seg.py --data ../shared/data/camvid --out models/camvid --arch seg --epochs N

Trains on train/ + trainannot/ only; val/ is used for a python-side sanity mIoU at the end (the card's
numbers come from the engine). Seeded; on the same machine/thread count the run is reproducible.
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
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segnet  # noqa: E402
from export_seg import export_all  # noqa: E402


def load_split(root, img_dir, ann_dir, limit=None, size=None):
    names = sorted(f for f in os.listdir(os.path.join(root, img_dir)) if f.endswith(".png"))
    if limit:
        names = names[:limit]
    imgs, labs = [], []
    for n in names:
        im = Image.open(os.path.join(root, img_dir, n)).convert("RGB")
        lb = Image.open(os.path.join(root, ann_dir, n))
        if size:
            im = im.resize((size[1], size[0]), Image.BILINEAR)
            lb = lb.resize((size[1], size[0]), Image.NEAREST)
        imgs.append(np.asarray(im, dtype=np.uint8))
        labs.append(np.asarray(lb, dtype=np.uint8))
    return np.stack(imgs), np.stack(labs)


def class_weights(labels, clip=(0.2, 5.0)):
    """Median-frequency balancing (Eigen & Fergus), clipped so rare classes do not dominate."""
    counts = np.bincount(labels.reshape(-1), minlength=12)[:11].astype(np.float64)
    present = np.stack([(labels == c).any(axis=(1, 2)) for c in range(11)], 1)  # frames containing c
    pix = np.array([(labels[present[:, c]] != 255).size for c in range(11)], dtype=np.float64)
    freq = counts / np.maximum(pix, 1)
    w = np.median(freq) / np.maximum(freq, 1e-12)
    return np.clip(w, *clip).astype(np.float32)


def augment_batch(imgs, labs, idx, crop, scale, rng):
    ch, cw = crop
    xs, ys = [], []
    for i in idx:
        im = torch.from_numpy(imgs[i]).permute(2, 0, 1).float().unsqueeze(0)  # 1,3,H,W 0..255
        lb = torch.from_numpy(labs[i]).float()[None, None]
        h, w = im.shape[-2:]
        s = rng.uniform(*scale)
        nh, nw = max(8, int(round(h * s))), max(8, int(round(w * s)))
        im = F.interpolate(im, size=(nh, nw), mode="bilinear", align_corners=False)
        lb = F.interpolate(lb, size=(nh, nw), mode="nearest")
        ph, pw = max(0, ch - nh), max(0, cw - nw)
        if ph or pw:
            im = F.pad(im, (0, pw, 0, ph), value=0.0)
            lb = F.pad(lb, (0, pw, 0, ph), value=float(segnet.IGNORE))
        y0 = rng.integers(0, im.shape[2] - ch + 1)
        x0 = rng.integers(0, im.shape[3] - cw + 1)
        im = im[:, :, y0:y0 + ch, x0:x0 + cw]
        lb = lb[:, :, y0:y0 + ch, x0:x0 + cw]
        if rng.random() < 0.5:
            im, lb = im.flip(3), lb.flip(3)
        # mild colour jitter: brightness, contrast, saturation
        im = im * rng.uniform(0.8, 1.2)
        mean = im.mean()
        im = (im - mean) * rng.uniform(0.8, 1.2) + mean
        grey = im.mean(1, keepdim=True)
        im = (im - grey) * rng.uniform(0.8, 1.2) + grey
        xs.append(im.clamp(0, 255))
        ys.append(lb)
    x = torch.cat(xs)
    mean = torch.tensor(segnet.MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(segnet.STD).view(1, 3, 1, 1) * 255
    x = (x - mean) / std
    y = torch.cat(ys)[:, 0].long()
    return x, y


@torch.no_grad()
def evaluate(net, imgs, labs, batch=4):
    net.eval()
    conf = np.zeros((11, 11), dtype=np.int64)
    mean = torch.tensor(segnet.MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(segnet.STD).view(1, 3, 1, 1) * 255
    for i in range(0, len(imgs), batch):
        x = (torch.from_numpy(imgs[i:i + batch]).permute(0, 3, 1, 2).float() - mean) / std
        s = net(x)
        s = F.interpolate(s, size=x.shape[-2:], mode="bilinear", align_corners=False)
        p = s.argmax(1).numpy().reshape(-1)
        t = labs[i:i + batch].reshape(-1).astype(np.int64)
        m = t < 11
        conf += np.bincount(t[m] * 11 + p[m], minlength=121).reshape(11, 11)
    iou = np.diag(conf) / np.maximum(conf.sum(0) + conf.sum(1) - np.diag(conf), 1)
    return float(iou.mean()), float(np.diag(conf).sum() / conf.sum()), iou.tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--arch", default="seg", choices=list(segnet.ARCHS))
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--iters", type=int, default=0, help="override: total iterations (smoke tests)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, nargs=2, default=[256, 320])
    ap.add_argument("--scale", type=float, nargs=2, default=[0.7, 1.4])
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N train/val frames (smoke tests)")
    ap.add_argument("--size", type=int, nargs=2, default=None, help="resize frames to H W on load (smoke tests)")
    ap.add_argument("--ckpt", default=None, help="checkpoint path (default: <out>/../train/ckpt-<arch>.pt)")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (continued training)")
    ap.add_argument("--state", default=None,
                    help="resumable training state, written after every epoch and read at start if present "
                         "(default: models/train/state-<arch>.pt; deleted when training ends)")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop after this much training in this process (state saved; run again to resume)")
    ap.add_argument("--reschedule", action="store_true",
                    help="resume a state saved with another --epochs/--iters on this command's schedule")
    ap.add_argument("--eval-every", type=int, default=500, help="python-side val mIoU every N iterations")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t_start = time.time()

    imgs, labs = load_split(args.data, "train", "trainannot", args.limit or None, args.size)
    vimgs, vlabs = load_split(args.data, "val", "valannot", args.limit or None, args.size)
    w = class_weights(labs)
    print(f"loaded {len(imgs)} train / {len(vimgs)} val frames in {time.time() - t_start:.1f}s; "
          f"class weights {np.round(w, 2).tolist()}", flush=True)

    net = segnet.StagedFCN(args.arch)
    if args.init:
        state = torch.load(args.init, map_location="cpu")
        assert state["arch"] == args.arch, f"{args.init} holds a {state['arch']} network, not {args.arch}"
        net.load_state_dict(state["state_dict"])
    steps_per_epoch = max(1, len(imgs) // args.batch)
    total = args.iters or args.epochs * steps_per_epoch
    warm = min(200, total // 10)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total - warm))))
    crit = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(w), ignore_index=segnet.IGNORE)
    crop = [min(args.crop[0], imgs.shape[1]), min(args.crop[1], imgs.shape[2])]

    state_path = args.state or os.path.join(os.path.dirname(os.path.abspath(__file__)), f"state-{args.arch}.pt")
    it, run_loss, trained_before, rescheduled = 0, 0.0, 0.0, None
    keep_state = not args.limit or args.state
    if os.path.exists(state_path) and keep_state:
        st = torch.load(state_path, map_location="cpu")
        assert st["arch"] == args.arch, f"{state_path} holds a {st['arch']} run; remove it"
        rescheduled = st.get("rescheduled")
        if st["total"] != total:
            # The cosine schedule is a function of the total: a new total continues the run on the new schedule
            # (exactly the new command's schedule when changed before the warm-up ends).
            assert args.reschedule, f"{state_path} is a run of {st['total']} iterations, not {total}: " \
                "pass --reschedule to continue it on the new schedule, or remove it"
            print(f"rescheduled at iteration {st['it']}: {st['total']} -> {total} iterations", flush=True)
            rescheduled = {"at_iteration": st["it"], "from_iterations": st["total"]}
        net.load_state_dict(st["state_dict"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        rng.bit_generator.state = st["numpy_rng"]
        torch.set_rng_state(st["torch_rng"])
        it, trained_before = st["it"], st["train_seconds"]
        print(f"resumed from {state_path} at iteration {it}/{total} ({trained_before:.0f}s trained before)", flush=True)

    def save_state():
        tmp = state_path + ".tmp"
        torch.save({"arch": args.arch, "total": total, "it": it, "state_dict": net.state_dict(),
                    "opt": opt.state_dict(), "sched": sched.state_dict(), "numpy_rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "rescheduled": rescheduled, "train_seconds": trained_before + time.time() - t_train}, tmp)
        os.replace(tmp, state_path)

    t_train, st_it0 = time.time(), it
    net.train()
    while it < total:
        perm = rng.permutation(len(imgs))
        for b in range(steps_per_epoch):
            if it >= total:
                break
            idx = perm[b * args.batch:(b + 1) * args.batch]
            x, y = augment_batch(imgs, labs, idx, crop, args.scale, rng)
            s = net(x)
            s = F.interpolate(s, size=x.shape[-2:], mode="bilinear", align_corners=False)
            loss = crit(s, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            it += 1
            run_loss += loss.item()
            if it % 50 == 0 or it == total:
                el = time.time() - t_train
                done = it - st_it0
                since = it - max(st_it0, (it - 1) // 50 * 50)
                print(f"it {it}/{total} ep {it / steps_per_epoch:.1f} loss {run_loss / max(1, since):.3f} "
                      f"lr {sched.get_last_lr()[0]:.2e} {el:.0f}s eta {el / max(1, done) * (total - it):.0f}s", flush=True)
                run_loss = 0.0
            if it % args.eval_every == 0 and not args.limit:
                miou, acc, _ = evaluate(net, vimgs, vlabs)
                print(f"  val(python) mIoU {miou:.4f} acc {acc:.4f}", flush=True)
                net.train()
        if keep_state:
            save_state()
        if args.max_seconds and time.time() - t_train > args.max_seconds and it < total:
            print(f"stopping at iteration {it}/{total} after {time.time() - t_train:.0f}s (--max-seconds); "
                  f"state in {state_path}: run the same command again to resume", flush=True)
            return
    train_s = trained_before + time.time() - t_train

    miou, acc, per = evaluate(net, vimgs, vlabs)
    print(f"final val(python) mIoU {miou:.4f} pixel acc {acc:.4f} per-class {np.round(per, 3).tolist()}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    ckpt = args.ckpt or os.path.join(os.path.dirname(os.path.abspath(__file__)), f"ckpt-{args.arch}.pt")
    torch.save({"arch": args.arch, "state_dict": net.state_dict()}, ckpt)
    if keep_state and os.path.exists(state_path):
        os.remove(state_path)
    files = export_all(net, args.arch, args.out, verify_size=(args.size or (360, 480)))
    macs = segnet.conv_macs(segnet.StagedFCN(args.arch), 360, 480)
    info = {
        "arch": args.arch,
        "command": "/usr/bin/python3 models/train/train_seg.py " + " ".join(sys.argv[1:]),
        "epochs": args.epochs if not args.iters else None,
        "iterations": total,
        "batch": args.batch,
        "crop": crop,
        "seed": args.seed,
        "init": args.init,
        "rescheduled": rescheduled,
        "train_seconds": round(train_s),
        "total_seconds": round(time.time() - t_start),
        "gflops_360x480": round(2 * macs / 1e9, 3),
        "params": sum(p.numel() for p in net.parameters()),
        "class_weights": np.round(w, 3).tolist(),
        "python_val": {"miou": miou, "pixel_acc": acc, "per_class_iou": per},
        "files": files,
        "torch": torch.__version__,
    }
    with open(os.path.join(args.out, f"{args.arch}.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps({k: info[k] for k in ("train_seconds", "gflops_360x480", "files")}), flush=True)


if __name__ == "__main__":
    main()
