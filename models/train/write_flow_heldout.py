#!/usr/bin/python3
"""Writes the held-out large-motion flow set of train_flow.py in the Sintel layout, for `deno task eval-flow`:

  /usr/bin/python3 models/train/write_flow_heldout.py --data ../shared/data/camvid --out /tmp/flow-large

<out>/training/clean/pair_NNN/frame_0001.png (the current frame), frame_0002.png (the reference) and
<out>/training/flow/pair_NNN/frame_0001.flo: Sintel's forward flow of frame 1 is exactly our backward flow
(current -> reference). The pairs are flowmotion.make_pair at full motion (seed 54321) on CamVid val and the
DAVIS 2016 evaluation sequences, the same set train_flow.py scores as `heldout_large`; neither is trained on.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_flow import large_heldout_set  # noqa: E402


def write_flo(path, flow):
    """Middlebury .flo: 'PIEH', width, height, then float32 (u, v) per pixel."""
    h, w = flow.shape[:2]
    with open(path, "wb") as f:
        f.write(b"PIEH")
        f.write(np.array([w, h], np.int32).tobytes())
        f.write(flow.astype(np.float32).tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="CamVid root (val/ is used)")
    ap.add_argument("--davis", default=None, help="DAVIS 2016 evaluation frames (default: <shared>/davis2016/...)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--size", type=int, nargs=2, default=[256, 320])
    args = ap.parse_args()
    shared = os.path.dirname(os.path.abspath(args.data))
    davis = args.davis or os.path.join(shared, "davis2016", "JPEGImages", "480p")
    refs, curs, flows = large_heldout_set(args.data, davis, args.pairs, *args.size)
    for i in range(len(refs)):
        clean = os.path.join(args.out, "training", "clean", f"pair_{i:03d}")
        flo = os.path.join(args.out, "training", "flow", f"pair_{i:03d}")
        os.makedirs(clean, exist_ok=True)
        os.makedirs(flo, exist_ok=True)
        for name, img in (("frame_0001.png", curs[i]), ("frame_0002.png", refs[i])):
            Image.fromarray(img.permute(1, 2, 0).numpy().astype(np.uint8)).save(os.path.join(clean, name))
        write_flo(os.path.join(flo, "frame_0001.flo"), flows[i].permute(1, 2, 0).numpy())
    print(f"wrote {len(refs)} pairs of {args.size[0]}x{args.size[1]} to {args.out}")


if __name__ == "__main__":
    main()
