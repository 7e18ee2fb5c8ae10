#!/usr/bin/python3
"""ONNX export of FlowNet-lite (`flow.onnx`) and its model card (`flow.yaml`).

  /usr/bin/python3 models/train/export_flow.py --ckpt models/train/ckpt-flow.pt --out models/camvid [--card]
  /usr/bin/python3 models/train/export_flow.py --from-onnx models/camvid/flow.onnx --out models/camvid

`export()` is also called at the end of train_flow.py. `--card` (re)writes `<out>/flow.yaml` from
`<out>/flow.train.json` (written by train_flow.py) so the card's numbers are the run's numbers.
`--from-onnx` takes the weights from an exported flow.onnx instead of a checkpoint (its initializers carry the
parameter names; see `state_dict_from_onnx`), i.e. re-exports a trained model with the current formulation.
Opset 16 (GridSample), dynamic H and W (multiples of 8).

`--cuts` exports, instead of flow.onnx, its two cuts from the same weights with their cards: `flow-encode.onnx`
(image -> pyramid8, pyramid16[, pyramid32][, pyramid4]) and `flow-decode.onnx` (the reference's then the current
frame's maps -> flow, features), checked in torch against the whole network at several sizes first; the flow stage
runs them to encode each frame once (stages/flow.ts, `encoder`):

  /usr/bin/python3 models/train/export_flow.py --from-onnx models/camvid/flow.onnx --out models/camvid --cuts

A model with the optional stride-4 output (train_flow.py --out-stride 4) is named `flow-s4` (`--name`): the same
commands with flow-s4.onnx write flow-s4.yaml and the cuts flow-s4-encode/-decode.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

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
    name_padded_weights(model, net)
    onnx.save(model, path)
    onnx.checker.check_model(model)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"exported {path} ({os.path.getsize(path) / 1024:.0f} KiB, opset {opset}; ops {', '.join(ops)})",
          flush=True)
    return path


def padded_convs(net):
    return [(name, m) for name, m in net.named_modules() if isinstance(m, flownet.ZeroGapConv2d)]


def name_padded_weights(model, net):
    """Constant folding turns each ZeroGapConv2d's padded weight into an anonymous initializer: give it the
    parameter's name back (`dec16.0.weight`, with the zero columns), so the file names all its parameters."""
    by_name = {i.name: i for i in model.graph.initializer}
    for name, m in padded_convs(net):
        want = m.full_weight().detach().numpy()
        hits = [i for i in model.graph.initializer
                if tuple(i.dims) == want.shape and np.array_equal(numpy_helper.to_array(i), want)]
        if len(hits) != 1 or f"{name}.weight" in by_name:
            raise RuntimeError(f"cannot find the exported weight of {name} ({len(hits)} candidates)")
        old, new = hits[0].name, f"{name}.weight"
        hits[0].name = new
        for node in model.graph.node:
            node.input[:] = [new if i == old else i for i in node.input]


def levels_of(names):
    """The pyramid levels of a FlowNetLite from its parameter names (a stride-32 encoder means 3)."""
    return 3 if any(n.startswith("enc32.") for n in names) else 2


def stride_of(names):
    """The output stride of a FlowNetLite from its parameter names (a stride-4 decoder means 4)."""
    return 4 if any(n.startswith("dec4.") for n in names) else 8


def network(levels, stride=8):
    """A FlowNetLite of `levels` levels with output `stride`."""
    return flownet.FlowNetLite(levels=levels, out_stride=stride) if stride != 8 else flownet.FlowNetLite(levels=levels)


def network_for_state(names):
    """A FlowNetLite shaped as the parameter names say (levels, output stride)."""
    names = list(names)
    return network(levels_of(names), stride_of(names))


def network_for_onnx(path):
    """A FlowNetLite with as many levels (and the output stride) as the flow.onnx at `path` has."""
    return network_for_state(i.name for i in onnx.load(path).graph.initializer)


def state_dict_from_onnx(path, net=None):
    """The parameters of a flow.onnx as a FlowNetLite state dict: initializers named as the parameters (files of
    this and the original per-displacement formulation alike); a ZeroGapConv2d weight stored with its zero
    columns comes back without them."""
    net = net or network_for_onnx(path)
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    gaps = {f"{name}.weight": m.gap for name, m in padded_convs(net)}
    state = {}
    for name, param in net.state_dict().items():
        if name not in inits:
            raise KeyError(f"{path}: no initializer named '{name}'")
        value = inits[name]
        if name in gaps and value.shape != tuple(param.shape):
            at, n = gaps[name]
            if value.shape[1] != param.shape[1] + n or np.any(value[:, at:at + n]):
                raise ValueError(f"{path}: '{name}' {value.shape} is not {tuple(param.shape)} with {n} zero columns")
            value = np.concatenate([value[:, :at], value[:, at + n:]], 1)
        if value.shape != tuple(param.shape):
            raise ValueError(f"{path}: '{name}' has shape {value.shape}, the network {tuple(param.shape)}")
        state[name] = torch.from_numpy(value.copy())
    return state


CUT_SIZES = [(184, 240), (360, 480), (168, 232), (720, 1280), (16, 16)]


def grid_axes(net):
    """The dynamic axes of each pyramid map and of the flow: the flow's grid is (h, w), the others h<s>, w<s>."""
    axes = {}
    for name, s in [("pyramid4", 4), ("pyramid8", 8), ("pyramid16", 16), ("pyramid32", 32)]:
        axes[name] = {2: "h", 3: "w"} if s == net.stride else {2: f"h{s}", 3: f"w{s}"}
    return axes


def export_cuts(net, out, opset=16, stem="flow"):
    """Exports `<stem>-encode.onnx` and `<stem>-decode.onnx` (flownet.FlowEncode/FlowDecode: net's own modules, so the
    same weights and parameter names), after checking in torch that decode(encode(r), encode(c)) == net(r, c) at
    CUT_SIZES on random frames and on a frame shifted by a few pixels."""
    net = net.eval()
    encoder, decoder = flownet.FlowEncode(net).eval(), flownet.FlowDecode(net).eval()
    check_cuts(net, encoder, decoder)
    os.makedirs(out, exist_ok=True)
    x = torch.zeros(1, 64, 96, 3, dtype=torch.uint8)
    with torch.no_grad():
        maps = encoder(x)
    names = flownet.encode_names(net)
    grids = grid_axes(net)
    ref = [f"reference_{n}" for n in names]
    cur = [f"current_{n}" for n in names]
    paths = []
    for name, module, args, inputs, outputs, axes in [
        (f"{stem}-encode.onnx", encoder, (x,), ["image"], names,
         {"image": {1: "H", 2: "W"}, **{n: grids[n] for n in names}}),
        (f"{stem}-decode.onnx", decoder, (*maps, *maps), ref + cur, ["flow", "features"],
         {**{f"{side}_{n}": grids[n] for side in ("reference", "current") for n in names},
          "flow": {2: "h", 3: "w"}, "features": {2: "h16", 3: "w16"}}),
    ]:
        path = os.path.join(out, name)
        torch.onnx.export(module, args, path, opset_version=opset, do_constant_folding=True,
                          input_names=inputs, output_names=outputs, dynamic_axes=axes)
        model = onnx.load(path)
        name_padded_weights(model, module)
        onnx.save(model, path)
        onnx.checker.check_model(model)
        ops = sorted({n.op_type for n in model.graph.node})
        print(f"exported {path} ({os.path.getsize(path) / 1024:.0f} KiB, {len(model.graph.node)} nodes; "
              f"ops {', '.join(ops)})", flush=True)
        paths.append(path)
    return paths


def check_cuts(net, encoder, decoder, tol=1e-4):
    """decode(encode(reference), encode(current)) against the whole network, in torch: max |difference| of flow (in
    its own cells) and features at each of CUT_SIZES; raises above `tol`."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for h, w in CUT_SIZES:
            ref = torch.randint(0, 256, (1, h, w, 3), dtype=torch.uint8, generator=g)
            smooth = torch.nn.functional.avg_pool2d(ref.permute(0, 3, 1, 2).float(), 5, 1, 2)
            smooth = smooth.round().to(torch.uint8).permute(0, 2, 3, 1)
            for reference, current in [(ref, torch.randint(0, 256, ref.shape, dtype=torch.uint8, generator=g)),
                                       (smooth, torch.roll(smooth, (3, -5), (1, 2)))]:
                flow, features = net(reference, current)
                flow2, features2 = decoder(*encoder(reference), *encoder(current))
                df, dg = (flow - flow2).abs().max().item(), (features - features2).abs().max().item()
                print(f"cuts at {h}x{w}: max |flow difference| {df:.2e} (|flow| <= {flow.abs().max().item():.1f}), "
                      f"max |features difference| {dg:.2e}", flush=True)
                if not (df < tol and dg < tol):
                    raise RuntimeError(f"the cuts differ from the whole network at {h}x{w}: {df}, {dg}")


CUT_CARD = """\
name: {name}
task: {task}
description: >-
  {description}
file: {name}.onnx
inputs:
{inputs}outputs:
{outputs}multiple_of: 8
min_size: 16
cost:
  gflops: {gflops}
  at: [360, 480]
training:
  command: {command}
  data: >-
    None of its own: the weights of {stem}.onnx (trained as {stem}.yaml says), cut by
    /usr/bin/python3 models/train/export_flow.py --from-onnx {out}/{stem}.onnx --out {out} --cuts
notes: >-
  Cuts of {stem}.onnx, same weights (models/train/flownet.py, FlowEncode and FlowDecode):
  {stem}-decode({stem}-encode(reference), {stem}-encode(current)) == {stem}(reference, current) up to float rounding
  (export_flow.py checks it in torch before exporting; tests/flow_test.ts with onnxruntime-node). Cost at 360x480
  (2 x conv MACs by hooks): {stem}.onnx {whole} = 2 x {stem}-encode {enc} + {stem}-decode {dec} ({dec_cv} with the
  cost-volume multiplies). The flow stage (`encoder: auto`, stages/flow.ts) encodes each frame once and keeps the
  reference's encoding, so a frame costs {stem}-encode + {stem}-decode = {cached} GFLOPs instead of {whole}.
"""


def tensor_yaml(name, dtype, layout, shape, stride=None):
    text = f"  - name: {name}\n    dtype: {dtype}\n    layout: {layout}\n    shape: [{', '.join(map(str, shape))}]\n"
    return text + (f"    stride: {stride}\n" if stride else "")


def write_cut_cards(out, stem="flow"):
    """Writes `<stem>-encode.yaml` and `<stem>-decode.yaml` (the training command from `<out>/<stem>.train.json`)."""
    info = json.load(open(os.path.join(out, f"{stem}.train.json")))
    net = network(info.get("levels", 2), info.get("out_stride", 8))
    enc, dec = flownet.cut_macs(net, 360, 480)
    macs, corr = flownet.cost_macs(net, 360, 480)
    assert macs == 2 * enc + dec, (macs, enc, dec)
    c8, c16 = net.enc8[0][0].out_channels, net.enc16[1][0].out_channels
    pyramid = [("pyramid8", c8, 8), ("pyramid16", c16, 16)]
    if net.levels == 3:
        pyramid.append(("pyramid32", net.enc32[1][0].out_channels, 32))
    if net.stride == 4:
        pyramid.append(("pyramid4", net.enc4[0].out_channels, 4))
    grids = grid_axes(net)
    pyramid = [(n, c, grids[n][2], grids[n][3], s) for n, c, s in pyramid]
    strides = "/".join(str(p[4]) for p in pyramid)
    maps = lambda prefix: "".join(tensor_yaml(f"{prefix}{n}", "float32", "NCHW", [1, c, h, w], s)
                                  for n, c, h, w, s in pyramid)
    image = tensor_yaml("image", "uint8", "NHWC", [1, "H", "W", 3])
    flow_out = (tensor_yaml("flow", "float32", "NCHW", [1, 2, "h", "w"], net.stride) +
                tensor_yaml("features", "float32", "NCHW", [1, net.features_channels, "h16", "w16"], 16))
    r = lambda m: round(2 * m / 1e9, 3)
    common = dict(command=info["command"], out=os.path.relpath(out), whole=r(macs), enc=r(enc), dec=r(dec),
                  dec_cv=r(dec + corr), cached=r(enc + dec), stem=stem)
    s4 = (", then warp of the stride-4 map, stride-4 cost volume and residual flow (the stride-4 output)"
          if net.stride == 4 else "")
    cards = {
        f"{stem}-encode": dict(
            task="optical-flow-encoder", inputs=image, outputs=maps(""), gflops=r(enc),
            description=f"Encoder cut of {stem}.onnx (same weights): one frame through FlowNet-lite's shared conv "
                        f"pyramid\n  (stride 2/4/{'8/16/32' if net.levels == 3 else '8/16'}) to the stride-{strides} "
                        "maps its decoder reads, "
                        f"normalisation inside the graph\n  as in {stem}.onnx. Run once per frame; {stem}-decode takes "
                        "two such encodings."),
        f"{stem}-decode": dict(
            task="optical-flow-decoder", inputs=maps("reference_") + maps("current_"), outputs=flow_out,
            gflops=r(dec),
            description=(f"Decoder cut of {stem}.onnx (same weights): the reference's and the current frame's "
                         f"{stem}-encode maps\n  -> the stride-32 cost volume and coarse flow, warp of the reference's "
                         "stride-16 map, stride-16 cost volume,\n  decoder (`features`) and residual flow, warp of "
                         f"the stride-8 map, stride-8 cost volume and residual flow{s4}:\n  {stem}.onnx's outputs, "
                         f"same contract (backward flow from the current frame to the reference, in stride-{net.stride} "
                         "cells)."
                         if net.levels == 3 else
                         f"Decoder cut of {stem}.onnx (same weights): the reference's and the current frame's "
                         f"{stem}-encode maps\n  -> the stride-16 cost volume, coarse decoder (`features`), warp of "
                         f"the reference's stride-8 map,\n  stride-8 cost volume and residual flow: {stem}.onnx's "
                         "outputs, same contract (backward flow\n  from the current frame to the reference, in "
                         "stride-8 cells).")),
    }
    paths = []
    for name, fields in cards.items():
        path = os.path.join(out, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(CUT_CARD.format(name=name, **fields, **common))
        print(f"wrote {path}")
        paths.append(path)
    return paths


CARD = """\
name: {stem}
task: optical-flow
description: >-
  FlowNet-lite for the {domain} domain: {architecture} {trained}
  Output at stride {stride}; also exposes the coarse decoder's motion-aware hidden map
  (stride 16) for DVSNet's decision network.
file: {stem}.onnx
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
    stride: {stride}
  - name: features
    dtype: float32
    layout: NCHW
    shape: [1, {features}, h16, w16]
    stride: 16
multiple_of: 8
min_size: 16 # smallest frame side the model takes (two cells of its stride-8 map)
cost:
  gflops: {gflops}
  at: [360, 480]
training:
  command: {command}
  data: >-
    {data}
    {world}random {crop_h}x{crop_w} crops; exact backward flow. {loss} AdamW lr {lr}, batch {batch}, warm-up +
    cosine.{init}
  iterations: {iterations}
  batch: {batch}
  seconds: {seconds}
  seed: {seed}
  threads: {threads}
metrics:
  epe_rubberwhale: {epe_rw}
  epe_rubberwhale_zero_flow: {epe_rw_zero}
  epe_synthetic_heldout: {epe_held}
{large_metric}{world_metric}  evaluation: >-
    {eval_cmd} (onnxruntime-node on this file). RubberWhale: current = frame 10 (rubberwhale1.png), reference =
    frame 11 (rubberwhale2.png), whose forward ground truth of frame 10 is exactly our backward flow; 584x388 padded
    to 584x392 by edge replication, flow upsampled bilinearly (half-pixel) x {stride}, cropped, mean EPE over pixels with
    known truth. Held-out: {held_pairs} synthetic {held_h}x{held_w} pairs built the same way from {val_frames} frames
    (seed {held_seed}), EPE at full resolution, computed in python by train_flow.py.{large_eval}{world_eval}
notes: >-
  Sign convention: `flow` is BACKWARD flow from the current frame to the reference frame, x (channel 0) then y
  (channel 1), in pixels of the stride-{stride} grid (image pixels / {stride}): for each cell p of the current frame, the
  reference at p + flow(p) shows the same point, i.e. warped(p) = reference(p + flow(p)) reproduces current(p),
  with pixel centres at i + 0.5 (grid_sample align_corners=False, as the warp stage). Upsample to image resolution
  bilinearly (half-pixel) and multiply by {stride} for image pixels. GFLOPs = 2 x conv MACs counted with forward hooks
  ({gflops_cv} with the cost-volume multiplies); the camvid `seg` model is 2.15 GFLOPs, so flow is about 1/{seg_ratio} of it.
  `features` ({features} channels, stride 16 = ceil(H/16) x ceil(W/16)) is the coarse decoder's hidden state after the
  stride-16 cost volume (motion-aware, the analogue of FlowNet's conv6). Inputs are raw uint8 RGB; normalisation is
  inside the graph ((x / 255 - mean) / std, mean {mean}, std {std}). ONNX opset 16 (GridSample), dynamic H and W.
  The graph is written for onnxruntime's CPU kernels (models/train/flownet.py): each cost volume is one Gather and one
  batched MatMul over 8-pixel row tiles with a skew read-out (not a Slice/Mul/ReduceSum per displacement), and the
  decoder inputs carry zero channels up to {gaps} so that the decoder convs run in the blocked NCHWc layout.
"""


ARCH_2 = """a shared 4-level conv pyramid (stride 2/4/8/16), a cost volume at stride 16
  (+-4 cells = +-64 image px) giving a coarse flow, then warping of the reference's stride-8 features and a +-2
  cost volume at stride 8 for a residual flow (PWC-Net style, two levels, no BatchNorm, LeakyReLU)."""

ARCH_3 = """a shared 5-level conv pyramid (stride 2/4/8/16/32), a cost volume at stride 32
  (+-4 cells = +-128 image px) giving a coarse flow, then at stride 16 and at stride 8 a warp of the reference's
  features by the flow so far, a cost volume (+-3 and +-2 cells) and a two-conv decoder for a residual flow
  (PWC-Net style, three levels, no BatchNorm, LeakyReLU): displacements up to about 150 image px."""

ARCH_S4 = """
  The optional stride-4 output: one more level, a warp of the reference's stride-4 map by the upsampled
  stride-8 flow, a +-2 cell cost volume and a two-conv decoder for a residual flow at stride 4."""

DATA_AFFINE = """{frames} warped by random affine motions (translation up to +-12 px,
    scale 0.9-1.1, rotation +-4 deg, slight shear; 35% of pairs at quarter amplitude, 4% static) with 0-2 pasted
    objects (superellipses textured from other train frames) moving independently, photometric jitter and noise;"""

DATA_LARGE = """a bank of {pairs} pairs of {size} built once (models/train/flowmotion.py) from the frames
    of {pool} (never a val split, never the DAVIS evaluation sequences): layered random homographies (25% small,
    < 3 px; 30% medium, up to +-20 px; 45% large, translation up to 30% of the width, zoom up to +-25%, rotation
    up to +-8 deg, perspective), 0-4 pasted layers (textured superellipse objects and half-planes, i.e. piecewise
    motion) following the camera or moving on their own, occlusion masks, photometric jitter, blur and noise;
    |flow| 99th percentile per pair: median {p50} px, max {max} px;{curriculum}{small}"""


def decoder_widths(levels, stride=8):
    """The decoders' input channels with their zero channels (coarsest first), as the card states them."""
    net = network(levels, stride)
    convs = [net.dec32[0][0], net.dec16[0][0], net.dec8[0]] if levels == 3 else [net.dec16[0], net.dec8[0]]
    convs += [net.dec4[0]] if stride == 4 else []
    return [c.in_channels + c.gap[1] for c in convs]


def init_text(info):
    """The card's sentence on where the weights started (nothing when trained from scratch)."""
    init = info.get("init")
    if not init:
        return ""
    if info.get("init_commit"):
        commit = info["init_commit"]
        return (f"\n    Fine-tuned from {init} as of commit {commit} ({info['init_note']}:\n    "
                f"git show {commit}:{init} > flow-prev.onnx, then --init-onnx flow-prev.onnx).")
    if init.endswith(".onnx"):
        return ("\n    The parameters it shares with the first, two-level CamVid flow model were initialised from "
                f"that model's file\n    ({init} as of commit b3cb933: git show b3cb933:{init} > "
                "flow-v1.onnx, then --init-onnx flow-v1.onnx).")
    return (f"\n    Initialised from {init} (the CamVid flow model's checkpoint, whose command is in "
            "models/camvid/flow.yaml).")


def write_card(out, stem="flow"):
    """Writes `<out>/<stem>.yaml` from `<out>/<stem>.train.json` (train_flow.py's record of the run)."""
    info = json.load(open(os.path.join(out, f"{stem}.train.json")))
    stride = info.get("out_stride", 8)
    args = info["command"].split()

    def arg(name, default):
        return args[args.index(name) + 1] if name in args else default

    def r(v, n=3):
        return "null" if v is None else round(v, n)

    world = info.get("world")
    synthetic = bool(world)
    levels, large = info.get("levels", 2), info.get("motion", "affine") == "large"
    frames = ("synthetic-world train frames (deno task synth ... --seed 100 --split train, 480 frames)" if synthetic
              else "../shared/data/camvid/train (367 frames, never val)")
    small_frames = "synthetic-world train" if synthetic else "CamVid train"
    val_frames = "synthetic-world val" if synthetic else "CamVid val"
    bank = info.get("bank") or {}
    text = CARD.format(
        architecture=(ARCH_3 if levels == 3 else ARCH_2) + (ARCH_S4 if stride == 4 else ""),
        stem=stem, stride=stride,
        data=(DATA_LARGE.format(pool=", ".join(info["pool"]), pairs=bank.get("pairs"),
                                size="x".join(map(str, bank.get("size", []))), p50=bank.get("magnitude_p50"),
                                max=bank.get("magnitude_max"),
                                curriculum=(" curriculum: the cap on it grows from 24 px to\n    all over the first "
                                            f"{info['curriculum']} of the run;") if info.get("curriculum") else "",
                                small=(f"\n    {info['small_frac']:.0%} of the batches are instead small affine "
                                       "motions (translation up to +-12 px, scale 0.9-1.1,\n    rotation +-4 deg) of "
                                       f"{small_frames} frames, so the coarse levels keep small real motion;")
                                if info.get("small_frac") else "",
                                occluded=info.get("occluded_weight"))
              if large else DATA_AFFINE.format(frames=frames)),
        loss=(f"Loss: EPE of the stride-{stride} flow upsampled to full resolution (occluded and out-of-frame pixels\n"
              f"    weighted {info.get('occluded_weight')}) + {'0.5 x EPE at stride 8 + ' if stride == 4 else ''}"
              "0.5 x EPE at stride 16 + 0.25 x at stride 32."
              if levels == 3 else
              "Loss: EPE of the stride-8 flow upsampled to full\n    resolution + 0.5 x EPE at stride 16."),
        large_metric=f"  epe_large_heldout: {r(info['epe_large_heldout'])}\n" if info.get("epe_large_heldout")
        else "",
        large_eval=(f" Large held-out: {info['heldout_large']['pairs']} pairs of the training generator at full "
                    f"motion (seed 54321) on {val_frames} and the DAVIS 2016 evaluation sequences (never trained "
                    "on), EPE over all pixels.") if info.get("epe_large_heldout") else "",
        val_frames=val_frames,
        domain="synthetic-world" if synthetic else "CamVid",
        trained="Fine-tuned on the synthetic world." if synthetic else
        ("Trained on CamVid train and DAVIS 2016 training frames moved by known large, layered motions\n"
         "  (homographies, objects, half-planes; exact flow and occlusions on real texture)." if large else
         "Trained from scratch on CamVid train frames moved by known random affine warps plus independently moving\n"
         "  pasted objects (exact flow on real texture)."),
        world=(f"{world['frac']:.0%} of the batches are instead crops of the world's own consecutive frames "
               f"({world['train_pairs']} pairs, true scene motion and occlusions, mirrored at random);\n    "
               + (f"{info['data_note']};\n    " if info.get("data_note") else ""))
        if synthetic else "",
        init=init_text(info),
        seg_ratio=round(2.15 / info["gflops_360x480"]),
        gaps=" and ".join(str(n) for n in decoder_widths(levels, stride)),
        world_metric=f"  epe_world_heldout: {r(info['epe_world_heldout'])}\n" if synthetic else "",
        world_eval=(f" World held-out: the {world['val_pairs']} consecutive pairs of the synthetic val sequences "
                    f"({info.get('world_val_note', 'seeds 900-901')}, 480x360, exact flow including occlusions), "
                    "EPE at full resolution.")
        if synthetic else "",
        features=network(levels, stride).features_channels,
        mean=list(flownet.MEAN), std=list(flownet.STD),
        gflops=info["gflops_360x480"], gflops_cv=info["gflops_360x480_with_cost_volumes"],
        command=info["command"], crop_h=info["crop"][0], crop_w=info["crop"][1], lr=arg("--lr", "2e-3"),
        batch=info["batch"], iterations=info["iterations"], seconds=info["train_seconds"], seed=info["seed"],
        threads=info["threads"], epe_rw=r(info["epe_rubberwhale"]), epe_rw_zero=r(info["epe_rubberwhale_zero_flow"]),
        epe_held=r(info["epe_synthetic_heldout"]),
        eval_cmd="deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/eval_flow.ts "
                 f"{os.path.relpath(out)}/{stem}.onnx ../shared/data/flow/middlebury",
        held_pairs=info["heldout"]["pairs"], held_h=info["heldout"]["size"][0], held_w=info["heldout"]["size"][1],
        held_seed=info["heldout"]["seed"])
    path = os.path.join(out, f"{stem}.yaml")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "ckpt-flow.pt"))
    ap.add_argument("--from-onnx", help="take the weights from this flow.onnx instead of --ckpt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default=None,
                    help="the model's stem (default: --from-onnx's file name, else flow): <name>.onnx, <name>.yaml")
    ap.add_argument("--card", action="store_true", help="also write <out>/<name>.yaml from <out>/<name>.train.json")
    ap.add_argument("--no-export", action="store_true", help="only write the card(s)")
    ap.add_argument("--cuts", action="store_true",
                    help="export <name>-encode.onnx + <name>-decode.onnx and their cards instead of <name>.onnx")
    args = ap.parse_args()
    stem = args.name or (os.path.basename(args.from_onnx)[:-len(".onnx")] if args.from_onnx else "flow")
    if not args.no_export:
        if args.from_onnx:
            net = network_for_onnx(args.from_onnx)
            net.load_state_dict(state_dict_from_onnx(args.from_onnx, net))
        else:
            state = torch.load(args.ckpt, map_location="cpu")["state_dict"]
            net = network_for_state(state)
            net.load_state_dict(state)
        if args.cuts:
            export_cuts(net, args.out, stem=stem)
        else:
            export(net, args.out, name=f"{stem}.onnx")
    if args.cuts:
        write_cut_cards(args.out, stem)
    if args.card:
        write_card(args.out, stem)


if __name__ == "__main__":
    main()
