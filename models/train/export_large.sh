#!/usr/bin/env bash
# Once `train_seg.py --arch seg-large` has ended: every seg-large file the engine needs, from its final weights.
# Run from anywhere; works in the repository root. Training itself wrote models/train/ckpt-seg-large.pt, an fp32
# models/camvid/seg-large.onnx (whole network only) and models/camvid/seg-large.train.json; this replaces the ONNX
# with the float16-weight export plus its Clockwork and DFF/Accel cuts, checks them, and writes the cards.
#   models/train/export_large.sh          (CKPT, OUT, DATA, MODELS, ... override the defaults below)
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
DENO="deno run --allow-read --allow-env --allow-ffi --allow-sys"
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
echo "export_large: OK"
