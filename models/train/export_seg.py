#!/usr/bin/python3
"""ONNX export of the staged FCN in every cut Segflow needs, all from the same (BN-folded) weights.

  /usr/bin/python3 models/train/export_seg.py --ckpt models/train/ckpt-seg.pt --out models/camvid
  /usr/bin/python3 models/train/export_seg.py --ckpt models/train/ckpt-seg-large.pt --out models/camvid

seg, seg-large: <arch>.onnx (image->scores), <arch>-s1/-s2/-s3/-fuse.onnx (Clockwork),
                <arch>-features/-head.onnx (DFF/Accel)
seg-lite:       seg-lite.onnx (image->scores)

--ckpt takes a checkpoint or train_seg.py's resumable state (both hold "arch" and "state_dict").
--fp16 on stores every large float initializer as float16 followed by a Cast to float32 (ORT folds the casts at
load, so compute stays fp32; inputs and outputs keep their types). Default: on for seg-large, off otherwise.
"""
import argparse
import copy
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segnet  # noqa: E402

OPSET = 13
HW = {2: "H", 3: "W"}
# Archs exported with Clockwork and DFF/Accel cuts (seg-lite is only Accel's whole-frame update branch).
NO_CUTS = ("seg-lite",)
FP16_DEFAULT = ("seg-large",)
FP16_MIN_ELEMENTS = 1024  # smaller initializers (biases, normalisation) stay float32
MAX_FILE_MB = 25


def dyn(names, layout):
    # layout NHWC: dims 1,2 are H,W; NCHW: dims 2,3
    out = {}
    for n in names:
        out[n] = {1: "H", 2: "W"} if layout == "NHWC" else {2: "h", 3: "w"}
    return out


def _export(module, args, in_names, out_names, path, in_layout):
    axes = {}
    for n in in_names:
        axes.update(dyn([n], in_layout.get(n, "NCHW")))
    axes.update(dyn(out_names, "NCHW"))
    torch.onnx.export(module, args, path, input_names=in_names, output_names=out_names, opset_version=OPSET,
                      dynamic_axes=axes, do_constant_folding=True)


def weights_to_fp16(path, min_elements=FP16_MIN_ELEMENTS):
    """Rewrites `path`: every float32 initializer with >= min_elements values becomes float16 `<name>_fp16` plus a
    Cast node (to float32) producing `<name>`, placed first. Rounding is per element, so files sharing a weight
    (the cuts, the head's [W1 | W2 | W3]) share its rounded values. Returns (initializers converted, bytes saved)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(path)
    g = m.graph
    graph_inputs = {i.name for i in g.input}
    inits, casts, saved = [], [], 0
    for t in g.initializer:
        n = 1
        for d in t.dims:
            n *= d
        if t.data_type != TensorProto.FLOAT or n < min_elements or t.name in graph_inputs:
            inits.append(t)
            continue
        a = numpy_helper.to_array(t)
        h = a.astype(np.float16)
        assert np.isfinite(h).all(), f"{path}: {t.name} overflows float16 (max |w| {np.abs(a).max():.3g})"
        inits.append(numpy_helper.from_array(h, t.name + "_fp16"))
        casts.append(helper.make_node("Cast", [t.name + "_fp16"], [t.name], name=t.name + "_to_fp32",
                                      to=TensorProto.FLOAT))
        saved += 2 * n
    del g.initializer[:]
    g.initializer.extend(inits)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return len(casts), saved


@torch.no_grad()
def export_all(net, arch, out, verify_size=(360, 480), fp16=None, cuts=None):
    """Exports `arch` (and its cuts unless it is in NO_CUTS) into `out`; returns the file paths."""
    fp16 = arch in FP16_DEFAULT if fp16 is None else fp16
    cuts = arch not in NO_CUTS if cuts is None else cuts
    net = segnet.fold_bn(copy.deepcopy(net).eval())
    os.makedirs(out, exist_ok=True)
    h, w = verify_size
    img = torch.randint(0, 256, (1, h, w, 3), dtype=torch.uint8)
    files = []

    def ex(name, module, args, ins, outs):
        p = os.path.join(out, f"{name}.onnx")
        _export(module.eval(), args, ins, outs, p, {"image": "NHWC"})
        files.append(p)

    whole = segnet.Whole(net)
    ref = whole(img)
    ex(arch, whole, (img,), ["image"], ["scores"])
    if cuts:
        s1, s2, s3 = segnet.S1(net), segnet.S2(net), segnet.S3(net)
        fuse = segnet.Fuse(net.strides)
        f1, sc1 = s1(img)
        f2, sc2 = s2(f1)
        sc3 = s3(f2)
        ex(f"{arch}-s1", s1, (img,), ["image"], ["feat1", "score1"])
        ex(f"{arch}-s2", s2, (f1,), ["feat1"], ["feat2", "score2"])
        ex(f"{arch}-s3", s3, (f2,), ["feat2"], ["score3"])
        ex(f"{arch}-fuse", fuse, (sc1, sc2, sc3), ["score1", "score2", "score3"], ["scores"])
        feats = segnet.Features(net)
        fe = feats(img)
        head = segnet.make_head(net)
        ex(f"{arch}-features", feats, (img,), ["image"], ["features"])
        ex(f"{arch}-head", head, (fe,), ["features"], ["scores"])
        d_cw = (fuse(sc1, sc2, sc3) - ref).abs().max().item()
        d_head = (head(fe) - ref).abs().max().item()
        print(f"cut check at {h}x{w}: scores {tuple(ref.shape)} feat1 {tuple(f1.shape)} feat2 {tuple(f2.shape)} "
              f"features {tuple(fe.shape)}; max|clockwork-whole| {d_cw:.2e} max|head(features)-whole| {d_head:.2e}",
              flush=True)
        assert d_cw < 1e-3 and d_head < 1e-3
    import onnx
    for p in files:
        if fp16:
            n, saved = weights_to_fp16(p)
            print(f"  {p}: {n} initializers stored as float16 ({saved / 1e6:.2f} MB saved)", flush=True)
        m = onnx.load(p)
        onnx.checker.check_model(m)
        ops = [n.op_type for n in m.graph.node]
        assert "BatchNormalization" not in ops, f"{p}: BatchNormalization left in graph"
        if net.strides == (1, 1):
            # one grid for every stage: fusion and features need no resize
            assert "Resize" not in ops, f"{p}: Resize in a stride-keeping arch's graph"
        mb = os.path.getsize(p) / 1e6
        print(f"  {p}: {mb:.2f} MB, inputs {[i.name for i in m.graph.input]} "
              f"outputs {[o.name for o in m.graph.output]}", flush=True)
        assert mb < MAX_FILE_MB, f"{p}: {mb:.1f} MB >= {MAX_FILE_MB} MB (use --fp16 on)"
    print(f"  {arch}: {len(files)} files, {sum(os.path.getsize(p) for p in files) / 1e6:.2f} MB in all"
          f"{' (float16 weights)' if fp16 else ''}", flush=True)
    return files


def record_export(out, arch, files, fp16, source):
    """Points <out>/<arch>.train.json (if there) at the files just exported, so the card's file list is current."""
    path = os.path.join(out, f"{arch}.train.json")
    if not os.path.exists(path):
        return
    info = json.load(open(path))
    info["files"] = files
    info["export"] = {"command": "/usr/bin/python3 models/train/export_seg.py " + " ".join(sys.argv[1:]),
                      "from": source, "fp16_weights": bool(fp16)}
    with open(path, "w") as f:
        json.dump(info, f, indent=1)
    print(f"  updated {path} (files, export)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True, help="checkpoint or resumable state (dict with arch, state_dict)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--fp16", choices=["auto", "on", "off"], default="auto",
                    help="float16 weights + Cast (auto: on for " + ", ".join(FP16_DEFAULT) + ")")
    ap.add_argument("--no-cuts", action="store_true", help="only <arch>.onnx")
    ap.add_argument("--size", type=int, nargs=2, default=(360, 480), help="H W of the in-torch cut check")
    args = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(args.ckpt, map_location="cpu")
    arch = ck["arch"]
    net = segnet.StagedFCN(arch)
    net.load_state_dict(ck["state_dict"])
    if "it" in ck and "total" in ck:
        print(f"{args.ckpt}: training state at iteration {ck['it']}/{ck['total']}", flush=True)
    fp16 = None if args.fp16 == "auto" else args.fp16 == "on"
    fp16 = arch in FP16_DEFAULT if fp16 is None else fp16
    files = export_all(net, arch, args.out, verify_size=tuple(args.size), fp16=fp16,
                       cuts=False if args.no_cuts else None)
    record_export(args.out, arch, files, fp16, args.ckpt)


if __name__ == "__main__":
    main()
