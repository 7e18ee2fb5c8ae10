#!/usr/bin/python3
"""ONNX export of FlowNet-lite (`flow.onnx`) and its model card (`flow.yaml`).

  /usr/bin/python3 models/train/export_flow.py --ckpt models/train/ckpt-flow.pt --out models/camvid [--card]

`export()` is also called at the end of train_flow.py. `--card` (re)writes `<out>/flow.yaml` from
`<out>/flow.train.json` (written by train_flow.py) so the card's numbers are the run's numbers.
Opset 16 (GridSample), dynamic H and W (multiples of 8).
"""
import argparse
import json
import os
import sys

import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flownet  # noqa: E402


def export(net, out, name="flow.onnx", opset=16):
    net = net.eval()
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    x = torch.zeros(1, 64, 96, 3, dtype=torch.uint8)
    torch.onnx.export(
        net, (x, x), path, opset_version=opset, do_constant_folding=True,
        input_names=["reference", "current"], output_names=["flow", "features"],
        dynamic_axes={"reference": {1: "H", 2: "W"}, "current": {1: "H", 2: "W"},
                      "flow": {2: "h", 3: "w"}, "features": {2: "h16", 3: "w16"}})
    model = onnx.load(path)
    onnx.checker.check_model(model)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"exported {path} ({os.path.getsize(path) / 1024:.0f} KiB, opset {opset}; ops {', '.join(ops)})",
          flush=True)
    return path


CARD = """\
name: flow
task: optical-flow
description: >-
  FlowNet-lite for the {domain} domain: a shared 4-level conv pyramid (stride 2/4/8/16), a cost volume at stride 16
  (+-4 cells = +-64 image px) giving a coarse flow, then warping of the reference's stride-8 features and a +-2
  cost volume at stride 8 for a residual flow (PWC-Net style, two levels, no BatchNorm, LeakyReLU). {trained}
  Output at stride 8; also exposes the coarse decoder's motion-aware hidden map
  (stride 16) for DVSNet's decision network.
file: flow.onnx
inputs:
  - name: reference
    dtype: uint8
    layout: NHWC
    shape: [1, H, W, 3]
  - name: current
    dtype: uint8
    layout: NHWC
    shape: [1, H, W, 3]
outputs:
  - name: flow
    dtype: float32
    layout: NCHW
    shape: [1, 2, h, w]
    stride: 8
  - name: features
    dtype: float32
    layout: NCHW
    shape: [1, {features}, h16, w16]
    stride: 16
multiple_of: 8
min_size: 16 # smallest frame side the model takes (two cells of its stride-8 flow)
cost:
  gflops: {gflops}
  at: [360, 480]
training:
  command: {command}
  data: >-
    {frames} warped by random affine motions (translation up to +-12 px,
    scale 0.9-1.1, rotation +-4 deg, slight shear; 35% of pairs at quarter amplitude, 4% static) with 0-2 pasted
    objects (superellipses textured from other train frames) moving independently, photometric jitter and noise;
    {world}random {crop_h}x{crop_w} crops; exact backward flow. Loss: EPE of the stride-8 flow upsampled to full
    resolution + 0.5 x EPE at stride 16. AdamW lr {lr}, batch {batch}, warm-up + cosine.{init}
  iterations: {iterations}
  batch: {batch}
  seconds: {seconds}
  seed: {seed}
  threads: {threads}
metrics:
  epe_rubberwhale: {epe_rw}
  epe_rubberwhale_zero_flow: {epe_rw_zero}
  epe_synthetic_heldout: {epe_held}
{world_metric}  evaluation: >-
    {eval_cmd} (onnxruntime-node on this file). RubberWhale: current = frame 10 (rubberwhale1.png), reference =
    frame 11 (rubberwhale2.png), whose forward ground truth of frame 10 is exactly our backward flow; 584x388 padded
    to 584x392 by edge replication, flow upsampled bilinearly (half-pixel) x 8, cropped, mean EPE over pixels with
    known truth. Held-out: {held_pairs} synthetic {held_h}x{held_w} pairs built the same way from CamVid val frames
    (seed {held_seed}), EPE at full resolution, computed in python by train_flow.py.{world_eval}
notes: >-
  Sign convention: `flow` is BACKWARD flow from the current frame to the reference frame, x (channel 0) then y
  (channel 1), in pixels of the stride-8 grid (image pixels / 8): for each cell p of the current frame, the
  reference at p + flow(p) shows the same point, i.e. warped(p) = reference(p + flow(p)) reproduces current(p),
  with pixel centres at i + 0.5 (grid_sample align_corners=False, as the warp stage). Upsample to image resolution
  bilinearly (half-pixel) and multiply by 8 for image pixels. GFLOPs = 2 x conv MACs counted with forward hooks
  ({gflops_cv} with the cost-volume multiplies); the camvid `seg` model is 2.15 GFLOPs, so flow is about 1/5 of it.
  `features` ({features} channels, stride 16 = ceil(H/16) x ceil(W/16)) is the coarse decoder's hidden state after the
  stride-16 cost volume (motion-aware, the analogue of FlowNet's conv6). Inputs are raw uint8 RGB; normalisation is
  inside the graph ((x / 255 - mean) / std, mean {mean}, std {std}). ONNX opset 16 (GridSample), dynamic H and W.
"""


def write_card(out):
    info = json.load(open(os.path.join(out, "flow.train.json")))
    args = info["command"].split()

    def arg(name, default):
        return args[args.index(name) + 1] if name in args else default

    def r(v, n=3):
        return "null" if v is None else round(v, n)

    world = info.get("world")
    synthetic = bool(world)
    text = CARD.format(
        domain="synthetic-world" if synthetic else "CamVid",
        trained="Fine-tuned on the synthetic world." if synthetic else
        "Trained from scratch on CamVid train frames moved by known random affine warps plus independently moving\n"
        "  pasted objects (exact flow on real texture).",
        frames="synthetic-world train frames (deno task synth ... --seed 100 --split train, 480 frames)" if synthetic
        else "../shared/data/camvid/train (367 frames, never val)",
        world=(f"{world['frac']:.0%} of the batches are instead crops of the world's own consecutive frames "
               f"({world['train_pairs']} pairs, true scene motion and occlusions, mirrored at random);\n    ")
        if synthetic else "",
        init=(f"\n    Initialised from {info['init']} (the CamVid flow model's checkpoint, whose command is in "
              "models/camvid/flow.yaml).") if info.get("init") else "",
        world_metric=f"  epe_world_heldout: {r(info['epe_world_heldout'])}\n" if synthetic else "",
        world_eval=(f" World held-out: the {world['val_pairs']} consecutive pairs of the synthetic val sequences "
                    "(seeds 900-901, 480x360, exact flow including occlusions), EPE at full resolution.")
        if synthetic else "",
        features=flownet.FlowNetLite().features_channels,
        mean=list(flownet.MEAN), std=list(flownet.STD),
        gflops=info["gflops_360x480"], gflops_cv=info["gflops_360x480_with_cost_volumes"],
        command=info["command"], crop_h=info["crop"][0], crop_w=info["crop"][1], lr=arg("--lr", "2e-3"),
        batch=info["batch"], iterations=info["iterations"], seconds=info["train_seconds"], seed=info["seed"],
        threads=info["threads"], epe_rw=r(info["epe_rubberwhale"]), epe_rw_zero=r(info["epe_rubberwhale_zero_flow"]),
        epe_held=r(info["epe_synthetic_heldout"]),
        eval_cmd="deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/eval_flow.ts "
                 f"{os.path.relpath(out)}/flow.onnx ../shared/data/flow/middlebury",
        held_pairs=info["heldout"]["pairs"], held_h=info["heldout"]["size"][0], held_w=info["heldout"]["size"][1],
        held_seed=info["heldout"]["seed"])
    path = os.path.join(out, "flow.yaml")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "ckpt-flow.pt"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--card", action="store_true", help="also write <out>/flow.yaml from <out>/flow.train.json")
    ap.add_argument("--no-export", action="store_true", help="only write the card")
    args = ap.parse_args()
    if not args.no_export:
        net = flownet.FlowNetLite()
        net.load_state_dict(torch.load(args.ckpt, map_location="cpu")["state_dict"])
        export(net, args.out)
    if args.card:
        write_card(args.out)


if __name__ == "__main__":
    main()
