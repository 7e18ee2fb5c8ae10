#!/usr/bin/python3
"""The peer of Segflow's per-frame graph: the same per-frame segmentation in a PyTorch eager loop, the way the
original research code ran (read frame, normalise, forward, upsample, argmax), with the SAME weights: the staged
FCN of models/train/segnet.py with its BatchNorm folded, loaded from the ONNX file's initializers.

  /usr/bin/python3 bench/peer_torch.py models/camvid/seg.onnx ../shared/data/camvid/val [--threads 2]

Prints one JSON line: frames, seconds (the loop, images preloaded), fps, and the mIoU against the folder's
annotations (<folder>annot) so the two implementations can be checked to agree.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "train"))
import segnet  # noqa: E402


def load_from_onnx(path, arch="seg"):
    """segnet.StagedFCN with BN folded, weights copied from the exported graph's named initializers."""
    net = segnet.fold_bn(segnet.StagedFCN(arch))
    weights = {i.name[len("net."):]: torch.from_numpy(numpy_helper.to_array(i).copy())
               for i in onnx.load(path).graph.initializer if i.name.startswith("net.")}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"peer_torch: {path} does not match segnet '{arch}': missing {missing[:3]}, unexpected {unexpected[:3]}")
    return net.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx")
    ap.add_argument("frames", help="folder of PNG frames (CamVid layout: annotations in <folder>annot)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = load_from_onnx(args.onnx)
    names = sorted(n for n in os.listdir(args.frames) if n.endswith(".png"))[: args.limit or None]
    images = [np.asarray(Image.open(os.path.join(args.frames, n)).convert("RGB")) for n in names]
    annot = args.frames.rstrip("/") + "annot"
    truths = [np.asarray(Image.open(os.path.join(annot, n))) for n in names] if os.path.isdir(annot) else None
    mean = torch.tensor(segnet.MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(segnet.STD).view(1, 3, 1, 1) * 255
    labels = []
    with torch.no_grad():
        x = (torch.from_numpy(images[0]).permute(2, 0, 1)[None].float() - mean) / std
        net(x)  # warm-up
        start = time.perf_counter()
        for image in images:
            x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() - mean) / std
            scores = F.interpolate(net(x), size=image.shape[:2], mode="bilinear", align_corners=False)
            labels.append(scores.argmax(1)[0].to(torch.uint8).numpy())
        seconds = time.perf_counter() - start
    miou = None
    if truths:
        conf = np.zeros((11, 11), dtype=np.int64)
        for p, t in zip(labels, truths):
            m = t < 11
            conf += np.bincount(t[m].astype(np.int64) * 11 + p[m], minlength=121).reshape(11, 11)
        iou = np.diag(conf) / np.maximum(conf.sum(0) + conf.sum(1) - np.diag(conf), 1)
        present = (conf.sum(0) + conf.sum(1)) > 0
        miou = float(iou[present].mean())
    print(json.dumps({"frames": len(images), "seconds": seconds, "fps": len(images) / seconds, "miou": miou,
                      "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
