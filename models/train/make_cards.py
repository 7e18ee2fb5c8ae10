#!/usr/bin/python3
"""Write the YAML card next to every exported seg/seg-lite .onnx from <arch>.train.json and engine --stats JSON.

  /usr/bin/python3 models/train/make_cards.py --out models/camvid --seg-stats /tmp/seg-val.json \
      --lite-stats /tmp/seg-lite-val.json
  /usr/bin/python3 models/train/make_cards.py --domain synthetic --out models/synthetic --seg-stats ... --lite-stats ...

Metrics come from the engine's evaluation on the val clip (never from python).
"""
import argparse
import json
import os

NAMES = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
         "Bicyclist"]
PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
           [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]]


DOMAINS = {
    "camvid": {
        "title": "CamVid",
        "data": "../shared/data/camvid train/ + trainannot/ (367 frames)",
        "suffix": "val",
        "eval": "deno task run graphs/per-frame.yaml --models camvid --input ../shared/data/camvid/val "
                "(101 frames, 15 Hz clip, void ignored)",
    },
    "synthetic": {
        "title": "Synthetic-world",
        "data": "deno task synth --out /tmp/synth-data --frames 30 --sequences 16 --seed 100 --split train "
                "(480 frames; val = --sequences 2 --seed 900 --split val)",
        "suffix": "heldout",
        "eval": "deno task run graphs/per-frame.yaml --models synthetic (its default clip: synthetic seed 16, "
                "60 frames at 480x360, every class present; training used seeds 100-115)",
    },
}
DOMAIN = DOMAINS["camvid"]


def find_metrics(d):
    if isinstance(d, dict):
        if "miou" in d and "per_class_iou" in d:
            return d
        for v in d.values():
            r = find_metrics(v)
            if r:
                return r
    return None


def tensor(name, dtype, layout, shape, stride=None):
    t = {"name": name, "dtype": dtype, "layout": layout, "shape": shape}
    if stride:
        t["stride"] = stride
    return t


IMAGE = tensor("image", "uint8", "NHWC", [1, "H", "W", 3])


def y(v, ind=0):
    """Tiny YAML emitter (flow lists for numbers/short lists, block style for the rest)."""
    pad = "  " * ind
    if isinstance(v, dict):
        out = []
        for k, x in v.items():
            if isinstance(x, (dict,)) or (isinstance(x, list) and x and isinstance(x[0], (dict, list))):
                out.append(f"{pad}{k}:\n{y(x, ind + 1)}")
            else:
                out.append(f"{pad}{k}: {scalar(x)}")
        return "\n".join(out)
    if isinstance(v, list):
        out = []
        for x in v:
            if isinstance(x, dict):
                inner = y(x, ind + 1).split("\n")
                out.append(f"{pad}- {inner[0].strip()}\n" + "\n".join(inner[1:]) if len(inner) > 1 else f"{pad}- {inner[0].strip()}")
            else:
                out.append(f"{pad}- {scalar(x)}")
        return "\n".join(out)
    return pad + scalar(v)


def scalar(x):
    if isinstance(x, list):
        return "[" + ", ".join(scalar(e) for e in x) + "]"
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:.4f}".rstrip("0").rstrip(".") if abs(x) >= 1e-4 else "0"
    if isinstance(x, int):
        return str(x)
    s = str(x)
    if any(c in s for c in ":#[]{},&*!|>'\"%@`") or s != s.strip():
        return json.dumps(s)
    return s


def metrics_block(stats_path, eval_cmd=None):
    if not stats_path or not os.path.exists(stats_path):
        return None
    st = json.load(open(stats_path))
    m = find_metrics(st)
    per = m["per_class_iou"]
    x = DOMAIN["suffix"]
    return {
        f"miou_{x}": round(m["miou"], 4),
        f"pixel_acc_{x}": round(m["pixel_acc"], 4),
        f"mean_class_acc_{x}": round(m["mean_class_acc"], 4) if m.get("mean_class_acc") is not None else None,
        f"per_class_iou_{x}": {k: (round(v, 4) if v is not None else None) for k, v in per.items()},
        "eval": eval_cmd or DOMAIN["eval"],
        "fps_cpu_2cores": round(st.get("fps", 0), 1),
    }


def eval_with(arch):
    """The domain's eval command with the per-frame graph's seg alias pointed at `arch`'s card."""
    import re
    return re.sub(r"(--models \S+)", rf"\1 --set models.seg={arch}", DOMAIN["eval"], count=1)


def write(out, name, task, desc, inputs, outputs, train, gflops, metrics=None, notes=None):
    card = {
        "name": name, "task": task, "description": desc, "file": f"{name}.onnx",
        "inputs": inputs, "outputs": outputs, "multiple_of": 8, "min_size": 16,
        "classes": {"names": NAMES, "palette": PALETTE, "ignore": 11},
        "cost": {"gflops": gflops, "at": [360, 480]},
        "training": {"command": train["command"], "data": DOMAIN["data"],
                     "epochs": train["epochs"], "iterations": train["iterations"], "seconds": train["train_seconds"],
                     "seed": train["seed"]},
    }
    if train.get("init_note"):
        card["training"]["init"] = train["init_note"]
    if metrics:
        card["metrics"] = metrics
    if notes:
        card["notes"] = notes
    import textwrap
    card["description"] = "@DESC@"
    wrapped = "\n".join("  " + ln for ln in textwrap.wrap(desc, 110, break_on_hyphens=False))
    lines = y(card).replace("description: \"@DESC@\"", "description: >-\n" + wrapped).split("\n")
    path = os.path.join(out, f"{name}.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path)


def stage_costs(arch):
    """GFLOPs (2 x conv MACs) of each Clockwork stage and of the head at 360x480, from the architecture."""
    import sys
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import segnet
    net = segnet.StagedFCN(arch).eval()
    cost = {}
    hooks = []
    for part in ("stage1", "stage2", "stage3", "score1", "score2", "score3"):
        for m in getattr(net, part).modules():
            if isinstance(m, torch.nn.Conv2d):
                def hook(mod, i, out, part=part):
                    cost[part] = cost.get(part, 0) + out.numel() * mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels
                hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        net(torch.zeros(1, 3, 360, 480))
    gf = lambda *ps: round(2 * sum(cost[p] for p in ps) / 1e9, 3)  # noqa: E731
    c = list(net.channels)
    return {"channels": c, "stage_gflops": [gf("stage1", "score1"), gf("stage2", "score2"), gf("stage3", "score3")],
            "head_gflops": round(2 * 45 * 60 * sum(c) * 11 / 1e9, 3)}


def staged_cards(o, arch, stats, init_note=None):
    """Cards of a staged arch: the whole network and its Clockwork / DFF-Accel cuts (export_seg.py's files)."""
    t = json.load(open(os.path.join(o, f"{arch}.train.json")))
    t.update(stage_costs(arch))
    t["init_note"] = init_note
    g = t["gflops_360x480"]
    c1, c2, c3 = t["channels"]
    sc = lambda n, s: tensor(n, "float32", "NCHW", [1, 11, "h", "w"], s)  # noqa: E731
    ft = lambda n, c, s: tensor(n, "float32", "NCHW", [1, c, "h", "w"], s)  # noqa: E731
    fp16 = bool(t.get("export", {}).get("fp16_weights"))
    same = f"Same weights as {arch}.onnx (BN folded{', float16' if fp16 else ''})."
    if arch == "seg":
        m = metrics_block(stats)
        st1, st2, st3 = 8, 16, 32
        desc = (f"{DOMAIN['title']} staged FCN trained from scratch: three stages (stride 8/16/32, ResNet-style 3x3 "
                "blocks, dilated and pooled context in S3) with FCN-8s skip fusion scores = score1 + up2(score2 + "
                "up2(score3)).")
        fuse_desc = "scores = score1 + up2(score2 + up2(score3)), bilinear, size-matched"
        feat_desc = "concat(F1, up2(F2), up2(up2(F3)))"
        fuse_gflops = 0.001
        notes = None
    else:
        import sys
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import segnet
        ac = segnet.ARCHS[arch]
        assert segnet.arch_strides(arch) == (1, 1), f"{arch}: cards written for stride-keeping archs only"
        d2, d3 = ac["dilations"]
        m = metrics_block(stats, eval_with(arch))
        st1 = st2 = st3 = 8
        desc = (f"Accurate {DOMAIN['title']} staged FCN trained from scratch, DeepLab-style output stride 8: S1 "
                f"image -> stride 8 ({c1} ch), S2 and S3 stay at stride 8 with dilation {d2} and {d3} ({c2}, {c3} ch, "
                "ResNet-style 3x3 blocks, pooled context in S3); all three score maps share the stride-8 grid, "
                "scores = score1 + score2 + score3 (no resize).")
        fuse_desc = "scores = score1 + score2 + score3 (one stride-8 grid, no resize)"
        feat_desc = "concat(F1, F2, F3) (all stride 8, no resize)"
        fuse_gflops = round(2 * 11 * 45 * 60 / 1e9, 4)
        notes = []
        if os.path.exists(os.path.join(o, "seg.train.json")):
            gs = json.load(open(os.path.join(o, "seg.train.json")))["gflops_360x480"]
            notes.append(f"{g / gs:.1f}x the FLOPs of seg ({gs} GFLOPs).")
        notes.append(f"Stage GFLOPs S1/S2/S3 {t['stage_gflops'][0]}/{t['stage_gflops'][1]}/{t['stage_gflops'][2]}: "
                     "the deep stages (what Clockwork skips) hold most of the cost.")
        if fp16:
            notes.append("Weights stored as float16, each followed by a Cast to float32 (onnxruntime folds the casts "
                         "at load: compute, inputs and outputs stay float32/uint8).")
        notes = " ".join(notes)
    if fp16:
        desc += " Float16 weights (cast to float32 at load)."
    write(o, arch, "segmentation", desc, [IMAGE], [sc("scores", 8)], t, g, m, notes)
    write(o, f"{arch}-s1", "clockwork-stage",
          f"Clockwork stage 1 of {arch}: image -> stride-{st1} features and score1. " + same,
          [IMAGE], [ft("feat1", c1, st1), sc("score1", st1)], t, t["stage_gflops"][0])
    write(o, f"{arch}-s2", "clockwork-stage",
          f"Clockwork stage 2 of {arch}: feat1 -> stride-{st2} features and score2. " + same,
          [ft("feat1", c1, st1)], [ft("feat2", c2, st2), sc("score2", st2)], t, t["stage_gflops"][1])
    write(o, f"{arch}-s3", "clockwork-stage", f"Clockwork stage 3 of {arch}: feat2 -> score3 at stride {st3}. " + same,
          [ft("feat2", c2, st2)], [sc("score3", st3)], t, t["stage_gflops"][2])
    write(o, f"{arch}-fuse", "clockwork-stage",
          f"Clockwork fusion of {arch}: {fuse_desc}. Any of the inputs may be a cached (stale) stage output.",
          [sc("score1", st1), sc("score2", st2), sc("score3", st3)], [sc("scores", 8)], t, fuse_gflops)
    write(o, f"{arch}-features", "features",
          f"DFF/Accel feature cut of {arch}: {feat_desc} at stride 8 "
          f"({c1}+{c2}+{c3} = {c1 + c2 + c3} channels). " + same,
          [IMAGE], [ft("features", c1 + c2 + c3, 8)], t, round(g - t["head_gflops"], 3))
    write(o, f"{arch}-head", "segmentation-head",
          f"DFF/Accel head of {arch}: one 1x1 conv with weights [W1 | W2 | W3] and bias b1+b2+b3, so that "
          f"{arch}-head({arch}-features(x)) == {arch}(x) (checked to < 1e-{6 if arch == 'seg' else 5} with "
          "onnxruntime-node).",
          [ft("features", c1 + c2 + c3, 8)], [sc("scores", 8)], t, t["head_gflops"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seg-stats")
    ap.add_argument("--lite-stats")
    ap.add_argument("--large-stats", help="engine --stats JSON of per-frame.yaml with --set models.seg=seg-large")
    ap.add_argument("--arch", action="append", choices=["seg", "seg-lite", "seg-large"],
                    help="only these archs' cards (repeatable; default: every arch with a <arch>.train.json in --out)")
    ap.add_argument("--domain", choices=list(DOMAINS), default="camvid")
    ap.add_argument("--seg-init-note", help="how the checkpoint given to seg's --init was trained (continued runs)")
    a = ap.parse_args()
    global DOMAIN
    DOMAIN = DOMAINS[a.domain]
    o = a.out

    def want(arch):
        return (not a.arch or arch in a.arch) and os.path.exists(os.path.join(o, f"{arch}.train.json"))

    if want("seg"):
        staged_cards(o, "seg", a.seg_stats, a.seg_init_note)
    if want("seg-large"):
        staged_cards(o, "seg-large", a.large_stats)
    if want("seg-lite"):
        t = json.load(open(os.path.join(o, "seg-lite.train.json")))
        notes = None
        if os.path.exists(os.path.join(o, "seg.train.json")):
            gs = json.load(open(os.path.join(o, "seg.train.json")))["gflops_360x480"]
            notes = f"{gs / t['gflops_360x480']:.2f}x fewer FLOPs than seg ({gs} GFLOPs)."
        write(o, "seg-lite", "segmentation",
              f"Cheap {DOMAIN['title']} segmenter (Accel's update branch): same staged-FCN design as seg but narrower and "
              "shallower, separate weights. Same contract as seg.onnx.",
              [IMAGE], [tensor("scores", "float32", "NCHW", [1, 11, "h", "w"], 8)], t, t["gflops_360x480"],
              metrics_block(a.lite_stats), notes)


if __name__ == "__main__":
    main()
