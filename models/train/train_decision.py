#!/usr/bin/python3
"""Train DVSNet's decision network: the flow network's deep features (pooled to a small grid) -> the expected
confidence score (0..100) of warping the region's key-frame output to the current frame.

  models/train/make_decision_cases.sh seg        # the engine makes the test cases (out/decision-cases/seg/*)
  /usr/bin/python3 models/train/train_decision.py --cases out/decision-cases/seg/{motion,davis-o0,davis-o10,davis-o20,vtest} \
      --heldout out/decision-cases/seg/heldout-davis --out models/camvid

The test cases come from Segflow itself (the tool graphs dump `features/<case>.npy` and each case's `confidence` and
`is_key` in frames.jsonl), so training sees exactly what the engine computes at run time. Two held-out sets:
the cases of every 5th key frame of each --cases folder (none shares a key frame with training), and every case of
the --heldout folders (sequences never trained on: real video the network has not seen). Reports the held-out mean
absolute error (DVSNet's target: <= 6) next to predicting the training mean (the baseline), and a calibration curve
on all held-out cases: per band of predicted score, the mean predicted and the mean actual score, and per key distance
(0..30 frames) the mean predicted vs actual; `over_confident` is the share of cases predicted at or above the balanced
target (80) whose actual score is below it (labels kept that should have been re-segmented).

`--evaluate decision.onnx` only measures a trained network on the folders (all their cases), e.g. an earlier one:
  git show 26f67fe:models/camvid/decision.onnx > /tmp/prev.onnx
  /usr/bin/python3 models/train/train_decision.py --cases out/decision-cases/seg/heldout-davis --out /tmp/x --evaluate /tmp/prev.onnx

Model (as DVSNet's: one conv, then fully connected layers): 1x1 conv C -> 32, ReLU, flatten, FC 256 -> 1.
Exports <out>/<name>.onnx (input `features` [1, C, rows, cols]; output `score` [1, 1]), <name>.train.json
and the card <name>.yaml (`--name`, default `decision`). The targets are one segmentation network's (`--seg`, for the
card); decision-large (seg-large's confidence scores) is made by models/train/export_large.sh.
"""
import argparse
import json
import os
import re
import sys
import time

import numpy as np
import torch


def load_cases(root):
    """A case folder's features, scores, key distances and clip names (one clip: the cases of one key frame)."""
    feats, scores, distance, clips = [], [], [], []
    last_key = {}
    path = os.path.join(root, "frames.jsonl")
    if not os.path.exists(path):
        sys.exit(f"train_decision: no test cases under {root} (models/train/make_decision_cases.sh makes them)")
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if "features" not in row["tensors"] or "confidence" not in row["slots"]:
                continue
            sequence = re.sub(r"#r[0-9]+$", "", row["sequence"])  # a video's regions: streams '<name>#r<i>'
            if row["slots"].get("is_key", row["index"] == 0) and last_key.get(sequence, -1) != row["index"]:
                last_key[sequence] = row["index"]
            key = last_key.get(sequence, 0)
            feats.append(np.load(os.path.join(root, "features", row["name"] + ".npy"))[0])
            scores.append(float(row["slots"]["confidence"]))
            distance.append(row["index"] - key)
            clips.append(f"{root}:{sequence}:{key}")
    if not feats:
        sys.exit(f"train_decision: no test cases under {root} (models/train/make_decision_cases.sh makes them)")
    return np.stack(feats), np.array(scores, dtype=np.float32), np.array(distance), clips


def load_sets(train_dirs, heldout_dirs):
    """Every case with its folder, key distance and split: every 5th clip of each --cases folder, and the whole
    of each --heldout folder, are held out."""
    parts = []
    for root in train_dirs + heldout_dirs:
        x, y, d, clips = load_cases(root)
        names = sorted(set(clips), key=clips.index)
        clip_id = np.array([names.index(c) for c in clips])
        held = np.full(len(y), True) if root in heldout_dirs else clip_id % 5 == 4
        parts.append((root, x, y, d, held))
    x = torch.tensor(np.concatenate([p[1] for p in parts]))
    y = torch.tensor(np.concatenate([p[2] for p in parts]))[:, None]
    d = np.concatenate([p[3] for p in parts])
    held = torch.from_numpy(np.concatenate([p[4] for p in parts]))
    folder = np.concatenate([[p[0]] * len(p[2]) for p in parts])
    return x, y, d, held, folder


def calibration(pred, actual, distance, target=80.0):
    """Predicted vs actual confidence per band of prediction and per key distance, and the over-confident share."""
    bands = [(0, 50), (50, 70), (70, 80), (80, 90), (90, 95), (95, 101)]
    by_band = []
    for lo, hi in bands:
        m = (pred >= lo) & (pred < hi)
        if m.any():
            by_band.append({"predicted": f"{lo}-{min(hi, 100)}", "cases": int(m.sum()),
                            "mean_predicted": round(float(pred[m].mean()), 1),
                            "mean_actual": round(float(actual[m].mean()), 1)})
    by_distance = []
    for lo, hi in [(1, 2), (3, 5), (6, 10), (11, 15), (16, 20), (21, 25), (26, 30)]:
        m = (distance >= lo) & (distance <= hi)
        if m.any():
            by_distance.append({"distance": f"{lo}-{hi}", "cases": int(m.sum()),
                                "mean_predicted": round(float(pred[m].mean()), 1),
                                "mean_actual": round(float(actual[m].mean()), 1)})
    confident = pred >= target
    over = float((confident & (actual < target)).sum() / max(1, confident.sum()))
    return {"by_predicted": by_band, "by_distance": by_distance, "over_confident_at_80": round(over, 3),
            "bias": round(float((pred - actual).mean()), 2)}


class Decision(torch.nn.Module):
    def __init__(self, channels, rows, cols, hidden=32, fc=256):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, hidden, 1)
        self.fc1 = torch.nn.Linear(hidden * rows * cols, fc)
        self.fc2 = torch.nn.Linear(fc, 1)

    def forward(self, features):
        x = torch.relu(self.conv(features)).flatten(1)
        return self.fc2(torch.relu(self.fc1(x))) + 80.0  # centred on a typical score


CARD = """\
name: {name}
task: decision
description: >-
  DVSNet's decision network for the {domain} set: the flow model's deep features (stride 16, pooled to {rows}x{cols}
  by the flow stage's features_grid) -> the expected confidence score (0..100) of warping a region's key-frame
  output to the current frame. 1x1 conv {channels} -> 32, ReLU, FC {flat} -> 256, ReLU, FC -> 1.
file: {name}.onnx
inputs:
  - {{ name: features, dtype: float32, layout: NCHW, shape: [1, {channels}, {rows}, {cols}] }}
outputs:
  - {{ name: score, dtype: float32, shape: [1, 1] }}
cost:
  gflops: {gflops}
  at: [{rows}, {cols}]
training:
  command: {command}
  data: >-
    {data}
  epochs: {epochs}
  seconds: {seconds}
  seed: {seed}
metrics:
  mae_heldout: {mae}
  mae_heldout_mean_baseline: {baseline}
  mae_unseen: {unseen}
  mae_unseen_mean_baseline: {unseen_baseline}
  over_confident_at_80: {over}
  bias: {bias}
  heldout_cases: {held}
  train_cases: {train}
  evaluation: >-
    mae_heldout: the cases of every 5th key frame of each training folder (no key frame shared with training);
    mae_unseen: every case of the held-out folders (sequences never trained on); mean absolute error of the predicted
    confidence score, baseline = always predicting the training cases' mean score. Over the held-out cases:
    over_confident_at_80 = the share predicted >= 80 (balanced mode keeps warping) whose actual score is below 80;
    bias = mean predicted - actual. The calibration curve (per band of prediction and per key distance, mean
    predicted vs actual) and the per-folder errors are in {name}.train.json.
"""

# What each case folder of models/train/make_decision_cases.sh holds (by its name), for the card.
FOLDERS = [
    (r"motion", "virtual-camera clips of CamVid train stills (graphs/tools/dvsnet-testcases.yaml: 48 clips of 11 "
                "frames, key distances 0..10)"),
    (r"davis-o(\d+)", "the DAVIS 2016 training sequences breakdance, camel, cows, dance-twirl, drift-chicane at 24 Hz, "
                      "key every 31 frames from frame {0} (graphs/tools/dvsnet-testcases-video.yaml, distances 0..30)"),
    (r"vtest", "../shared/data/video/vtest.avi (10 Hz street video, static camera, pedestrians), key every 31 frames"),
    (r"heldout-davis", "held out: the five DAVIS sequences of the real-video benchmark (drift-straight, goat, "
                       "motocross-jump, parkour, soapbox)"),
    (r"world-s(\d+)-o(\d+)", "synthetic world at speed {0}, key every 31 frames from frame {1}"),
    (r"world-s(\d+)", "synthetic world at speed {0} (15 Hz at speed 1), key every 31 frames (distances 0..30)"),
    (r"heldout-world", "held out: synthetic world seed 950 at speed 2"),
]


def folder_text(root, cases):
    name = os.path.basename(os.path.normpath(root))
    for pattern, text in FOLDERS:
        m = re.fullmatch(pattern, name)
        if m:
            return f"{name} ({cases} cases): {text.format(*m.groups())}"
    return f"{name} ({cases} cases)"


def evaluate_onnx(path, dirs):
    """Prints a trained network's MAE and calibration curve over every case of `dirs` (e.g. an earlier network on
    cases it never saw); the ONNX initializers are loaded into the same architecture."""
    import onnx
    from onnx import numpy_helper
    x, y, distance, _, _ = load_sets([], dirs)
    model = Decision(x.shape[1], x.shape[2], x.shape[3])
    weights = [numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer]
    state = model.state_dict()
    for name, tensor in state.items():  # every tensor of this network has a shape of its own
        state[name] = torch.tensor(next(w for w in weights if w.shape == tuple(tensor.shape)))
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        pred = model(x)[:, 0].numpy()
    actual = y[:, 0].numpy()
    print(json.dumps({"model": path, "cases": len(actual), "mae": round(float(np.abs(pred - actual).mean()), 2),
                      "calibration": calibration(pred, actual, distance)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", required=True, help="training case folders (every 5th clip held out)")
    ap.add_argument("--heldout", nargs="*", default=[], help="case folders held out whole (unseen sequences)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--domain", choices=["camvid", "synthetic"], default="camvid")
    ap.add_argument("--seg", default="seg", help="the segmentation network whose scores are the targets (card)")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="decision", help="the card's name: writes <out>/<name>.onnx, .yaml, .train.json")
    ap.add_argument("--pipeline", default=None,
                    help="the command that made the case folders, for the card "
                         "(default: models/train/make_decision_cases.sh with --domain synthetic's or --seg's argument)")
    ap.add_argument("--evaluate", default=None,
                    help="no training: a decision.onnx's MAE and calibration on every case of --cases/--heldout")
    args = ap.parse_args()
    if args.pipeline is None:
        args.pipeline = "models/train/make_decision_cases.sh " + ("synthetic" if args.domain == "synthetic" else args.seg)
    if args.evaluate:
        return evaluate_onnx(args.evaluate, args.cases + args.heldout)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a small network: more threads only contend (with the engine, other trainings)
    t0 = time.time()
    x, y, distance, held, folder = load_sets(args.cases, args.heldout)
    unseen = torch.from_numpy(np.isin(folder, args.heldout))
    xt, yt, xh, yh = x[~held], y[~held], x[held], y[held]
    _, channels, rows, cols = x.shape
    model = Decision(channels, rows, cols)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    mean = yt.mean()

    def mae(mask):
        with torch.no_grad():
            return (model(x[mask]) - y[mask]).abs().mean().item() if mask.any() else float("nan")

    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.smooth_l1_loss(model(xt[idx]), yt[idx], beta=2.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if (epoch + 1) % 25 == 0 or epoch + 1 == args.epochs:
            model.eval()
            print(f"epoch {epoch + 1} train MAE {mae(~held):.2f} held-out MAE {mae(held & ~unseen):.2f} "
                  f"unseen {mae(unseen):.2f}", flush=True)
    model.eval()
    with torch.no_grad():
        pred = model(x)[:, 0].numpy()
    actual = y[:, 0].numpy()
    per_folder = {}
    for root in args.cases + args.heldout:
        m = (folder == root) & held.numpy()
        if m.any():
            per_folder[os.path.basename(os.path.normpath(root))] = {
                "heldout_cases": int(m.sum()), "mae": round(float(np.abs(pred[m] - actual[m]).mean()), 2),
                "mae_mean_baseline": round(float(np.abs(mean.item() - actual[m]).mean()), 2),
                "mean_actual": round(float(actual[m].mean()), 1)}
    h = held.numpy()
    curve = calibration(pred[h], actual[h], distance[h])
    seen_h, unseen_h = h & ~unseen.numpy(), unseen.numpy()
    baseline = lambda m: float(np.abs(mean.item() - actual[m]).mean()) if m.any() else None
    err = lambda m: float(np.abs(pred[m] - actual[m]).mean()) if m.any() else None
    os.makedirs(args.out, exist_ok=True)
    torch.onnx.export(model, (x[:1],), os.path.join(args.out, f"{args.name}.onnx"), input_names=["features"],
                      output_names=["score"], opset_version=17)
    argv = sys.argv[1:]
    if "--pipeline" in argv:  # the card names the pipeline command in front, not as an argument
        i = argv.index("--pipeline")
        argv = argv[:i] + argv[i + 2:]
    argv = [a for a in argv if not a.startswith("--pipeline=")]
    command = f"{args.pipeline} && /usr/bin/python3 models/train/train_decision.py " + " ".join(argv)
    info = {"command": command, "cases": len(x), "train_cases": int((~held).sum()), "heldout_cases": int(held.sum()),
            "epochs": args.epochs, "seconds": round(time.time() - t0), "seed": args.seed,
            "mae_heldout": err(seen_h), "mae_heldout_mean_baseline": baseline(seen_h),
            "mae_unseen": err(unseen_h), "mae_unseen_mean_baseline": baseline(unseen_h),
            "folders": per_folder, "calibration": curve}
    with open(os.path.join(args.out, f"{args.name}.train.json"), "w") as f:
        json.dump(info, f, indent=1)
    counts = {root: int((folder == root).sum()) for root in args.cases + args.heldout}
    data = "; ".join(folder_text(root, n) for root, n in counts.items())
    if args.seg != "seg":
        data += f"; confidence scores of {args.seg}'s segmentations"
    r = lambda v: "null" if v is None else round(v, 2)
    flat = 32 * rows * cols
    gflops = round(2 * (channels * 32 * rows * cols + flat * 256 + 256) / 1e9, 4)
    with open(os.path.join(args.out, f"{args.name}.yaml"), "w") as f:
        f.write(CARD.format(name=args.name, domain=args.domain, rows=rows, cols=cols, channels=channels, flat=flat,
                            gflops=gflops, command=command, data=data, epochs=args.epochs, seconds=info["seconds"],
                            seed=args.seed, mae=r(info["mae_heldout"]), baseline=r(info["mae_heldout_mean_baseline"]),
                            unseen=r(info["mae_unseen"]), unseen_baseline=r(info["mae_unseen_mean_baseline"]),
                            over=curve["over_confident_at_80"], bias=curve["bias"],
                            held=int(held.sum()), train=int((~held).sum())))
    print(json.dumps({k: info[k] for k in ("cases", "mae_heldout", "mae_heldout_mean_baseline", "mae_unseen",
                                            "mae_unseen_mean_baseline", "seconds")}))
    print(json.dumps(curve))


if __name__ == "__main__":
    main()
