#!/usr/bin/env bash
# Once `train_seg.py --arch seg-large` has ended: every seg-large file the engine needs, from its final weights.
# Run from anywhere; works in the repository root. Training itself wrote models/train/ckpt-seg-large.pt, an fp32
# models/camvid/seg-large.onnx (whole network only) and models/camvid/seg-large.train.json; this replaces the ONNX
# with the float16-weight export plus its Clockwork and DFF/Accel cuts, checks them, and writes the cards; then
# trains seg-large's own Accel fusion layers (fusion-large: update branch seg-lite; fusion-large-seg: update branch
# seg) and DVSNet decision network (decision-large) on data the engine makes with seg-large, and writes their cards.
#   models/train/export_large.sh          (CKPT, OUT, DATA, MODELS, ... override the defaults below)
#   FROM=5 models/train/export_large.sh   (only steps 5-8: fusion and decision, once the seg-large cards exist)
set -euo pipefail
cd "$(dirname "$0")/../.."
CKPT=${CKPT:-models/train/ckpt-seg-large.pt}
OUT=${OUT:-models/camvid}
DATA=${DATA:-../shared/data/camvid}
REF=${REF:-/tmp/seg-large-fp32} # fp32-weight export of the same weights, only to measure the float16 rounding
STATS=${STATS:-/tmp/seg-large-val.json}
# The model set the engine runs with (--models): camvid for models/camvid; a folder path for a trial export
# elsewhere (it then needs the other cards the graphs name: seg-lite, flow).
MODELS=${MODELS:-camvid}
# DFF with the features/head cuts (graphs/dff.yaml warps class scores instead, where dff-features.yaml exists)
DFF=graphs/dff-features.yaml
[ -f "$DFF" ] || DFF=graphs/dff.yaml
# Steps 5-7: where the data sets go (the engine's out/ folder), epochs, extra flags for the data-making graphs
# (a rehearsal: SOURCE="--set source.clips=5 --set execution.threads=1", 5 clips at least so that DVSNet has
# held-out cases), the first step to run.
WORK=${WORK:-out}
FUSION_EPOCHS=${FUSION_EPOCHS:-30}
DECISION_EPOCHS=${DECISION_EPOCHS:-150}
SOURCE=${SOURCE:-}
FROM=${FROM:-1}
DENO="deno run --allow-read --allow-env --allow-ffi --allow-sys"
if [ "$FROM" -le 4 ]; then
  test -s "$CKPT" || { echo "export_large: no $CKPT (training not finished?)" >&2; exit 1; }
  test -s "$OUT/seg-large.train.json" || { echo "export_large: no $OUT/seg-large.train.json" >&2; exit 1; }

  # 1. seg-large.onnx + -s1/-s2/-s3/-fuse + -features/-head, float16 weights (the default for seg-large); also
  #    points seg-large.train.json's "files" at them and records the export.
  /usr/bin/python3 models/train/export_seg.py --ckpt "$CKPT" --out "$OUT" 2>&1 | grep -v -i warn | grep -v "_C._jit"
  /usr/bin/python3 models/train/export_seg.py --ckpt "$CKPT" --out "$REF" --fp16 off --no-cuts 2>&1 |
    grep -v -i warn | grep -v "_C._jit"

  # 2. Cuts reproduce seg-large.onnx in onnxruntime-node; float16 vs fp32 weights on the 101 val frames
  #    (fails below 99.9% label agreement).
  $DENO models/train/verify_cuts.ts "$OUT" --arch seg-large --fp32 "$REF" --frames "$DATA/val"

  # 3. Cards without metrics (the engine needs them to load the model), the engine's evaluation, cards with metrics.
  /usr/bin/python3 models/train/make_cards.py --out "$OUT" --arch seg-large
  deno task run graphs/per-frame.yaml --models "$MODELS" --set models.seg=seg-large --input "$DATA/val" --quiet \
    --stats "$STATS"
  /usr/bin/python3 models/train/make_cards.py --out "$OUT" --arch seg-large --large-stats "$STATS"

  # 4. The cuts in their graphs: with every stage run on every frame both must give per-frame's mIoU exactly.
  deno task run graphs/clockwork.yaml --models "$MODELS" --set models.s1=seg-large-s1 --set models.s2=seg-large-s2 \
    --set models.s3=seg-large-s3 --set models.fuse=seg-large-fuse --set clock3.every=1 --input "$DATA/val" --quiet \
    --stats /tmp/seg-large-clockwork1.json
  deno task run "$DFF" --models "$MODELS" --set models.features=seg-large-features \
    --set models.head=seg-large-head --set decide.every=1 --input "$DATA/val" --quiet \
    --stats /tmp/seg-large-dff1.json
  /usr/bin/python3 - "$STATS" /tmp/seg-large-clockwork1.json /tmp/seg-large-dff1.json <<'PY'
import json, sys
m = [json.load(open(p))["metrics"]["miou"] for p in sys.argv[1:]]
print(f"seg-large val mIoU: per-frame {m[0]:.4f}, clockwork (every 1) {m[1]:.4f}, dff-features (every 1) {m[2]:.4f}")
assert max(m) - min(m) < 1e-6, "the cuts do not reproduce per-frame"
PY
  ls -l "$OUT"/seg-large*.onnx
fi
test -s "$OUT/seg-large.yaml" || { echo "export_large: no $OUT/seg-large.yaml (steps 1-3 first)" >&2; exit 1; }

# 5.-7. Accel's fusion layers and DVSNet's decision network for seg-large, trained as fusion and decision are: the
#    tool graphs make the data with seg-large as their seg (the reference branch; the network whose confidence
#    scores DVSNet predicts), each training writes <name>.onnx, <name>.train.json and the card <name>.yaml, whose
#    training command starts with the exact data-making command (--pipeline). A data folder is emptied first: the
#    tensors sink adds to what is there.
PAIRS="deno task run graphs/tools/accel-fusion-pairs.yaml --quiet --models $MODELS --set models.seg=seg-large"

# 5. fusion-large: update branch seg-lite (the tool graph's), as graphs/accel.yaml runs by default.
MAKE="$PAIRS --set tensors.dir=$WORK/accel-fusion-pairs-large${SOURCE:+ $SOURCE}"
rm -rf "$WORK/accel-fusion-pairs-large"
$MAKE
/usr/bin/python3 models/train/train_fusion.py --pairs "$WORK/accel-fusion-pairs-large" --out "$OUT" \
  --epochs "$FUSION_EPOCHS" --name fusion-large --pipeline "$MAKE" 2>&1 | grep -v -i warn | grep -v "_C._jit"

# 6. fusion-large-seg: update branch seg (graphs/accel.yaml with --set update.model=update_full).
MAKE="$PAIRS --set models.update=seg --set tensors.dir=$WORK/accel-fusion-pairs-large-seg${SOURCE:+ $SOURCE}"
rm -rf "$WORK/accel-fusion-pairs-large-seg"
$MAKE
/usr/bin/python3 models/train/train_fusion.py --pairs "$WORK/accel-fusion-pairs-large-seg" --out "$OUT" \
  --epochs "$FUSION_EPOCHS" --name fusion-large-seg --pipeline "$MAKE" 2>&1 | grep -v -i warn | grep -v "_C._jit"

# 7. decision-large: the confidence scores of seg-large's warped segmentations (flow and features as for decision):
#    virtual-camera clips, one key phase of the five training DAVIS sequences, 310 frames of vtest.avi; the five
#    held-out DAVIS sequences as the unseen set (SOURCE's flags go to every run as EXTRA).
MAKE="OFFSETS=0 VTEST_FRAMES=310 models/train/make_decision_cases.sh seg-large"
C="$WORK/decision-cases/seg-large"
OFFSETS=0 VTEST_FRAMES=310 MODELS=$MODELS EXTRA="$SOURCE" models/train/make_decision_cases.sh seg-large "$C"
/usr/bin/python3 models/train/train_decision.py --cases "$C/motion" "$C/davis-o0" "$C/vtest" --heldout "$C/heldout-davis" \
  --out "$OUT" --epochs "$DECISION_EPOCHS" --name decision-large --seg seg-large --pipeline "$MAKE" 2>&1 |
  grep -v -i warn | grep -v "_C._jit"

# 8. The three cards load in their method graphs at the seg-large scale (as bench/methods.ts sets them).
deno task check graphs/accel.yaml --models "$MODELS" --set models.seg=seg-large --set models.fusion=fusion-large
deno task check graphs/accel.yaml --models "$MODELS" --set models.seg=seg-large --set update.model=update_full \
  --set models.fusion=fusion-large-seg
deno task check graphs/dvsnet.yaml --models "$MODELS" --set models.seg=seg-large --set models.decision=decision-large
ls -l "$OUT"/fusion-large*.onnx "$OUT"/decision-large.onnx
echo "export_large: OK"
