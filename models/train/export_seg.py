#!/usr/bin/python3
"""ONNX export of the staged FCN in every cut Segflow needs, all from the same (BN-folded) weights.

  /usr/bin/python3 models/train/export_seg.py --ckpt models/train/ckpt-seg.pt --out models/camvid

seg:      seg.onnx (image->scores), seg-s1/-s2/-s3/-fuse.onnx (Clockwork), seg-features/-head.onnx (DFF/Accel)
seg-lite: seg-lite.onnx (image->scores)
"""
import argparse
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segnet  # noqa: E402

OPSET = 13
HW = {2: "H", 3: "W"}


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


@torch.no_grad()
def export_all(net, arch, out, verify_size=(360, 480)):
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
    if arch == "seg":
        s1, s2, s3 = segnet.S1(net), segnet.S2(net), segnet.S3(net)
        f1, sc1 = s1(img)
        f2, sc2 = s2(f1)
        sc3 = s3(f2)
        ex("seg-s1", s1, (img,), ["image"], ["feat1", "score1"])
        ex("seg-s2", s2, (f1,), ["feat1"], ["feat2", "score2"])
        ex("seg-s3", s3, (f2,), ["feat2"], ["score3"])
        ex("seg-fuse", segnet.Fuse(), (sc1, sc2, sc3), ["score1", "score2", "score3"], ["scores"])
        feats = segnet.Features(net)
        fe = feats(img)
        head = segnet.make_head(net)
        ex("seg-features", feats, (img,), ["image"], ["features"])
        ex("seg-head", head, (fe,), ["features"], ["scores"])
        d_cw = (segnet.Fuse()(sc1, sc2, sc3) - ref).abs().max().item()
        d_head = (head(fe) - ref).abs().max().item()
        print(f"cut check at {h}x{w}: scores {tuple(ref.shape)} features {tuple(fe.shape)}; "
              f"max|clockwork-whole| {d_cw:.2e} max|head(features)-whole| {d_head:.2e}", flush=True)
        assert d_cw < 1e-3 and d_head < 1e-3
    import onnx
    for p in files:
        m = onnx.load(p)
        onnx.checker.check_model(m)
        bn = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
        assert not bn, f"{p}: BatchNormalization left in graph"
        print(f"  {p}: {os.path.getsize(p) / 1e6:.2f} MB, inputs {[i.name for i in m.graph.input]} "
              f"outputs {[o.name for o in m.graph.output]}", flush=True)
    return files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(args.ckpt)
    net = segnet.StagedFCN(ck["arch"])
    net.load_state_dict(ck["state_dict"])
    export_all(net, ck["arch"], args.out)


if __name__ == "__main__":
    main()
