#!/usr/bin/env bash
# Smoke test of the CamVid training scripts: 2 iterations on 4 frames at 64x96 per model, export to a temp
# dir, then (if deno is available) check the cuts with onnxruntime-node. Run from the repository root.
# Every run gets its own --state in the temp dir: train_seg.py removes its state file when it ends, and the
# default one (models/train/state-<arch>.pt) may belong to a training run in progress.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/camvid}
if [ ! -d "$DATA/train" ]; then echo "smoke_test: CamVid data not found at $DATA (set DATA=...)" >&2; exit 1; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for arch in seg seg-lite seg-large; do
  /usr/bin/python3 models/train/train_seg.py --data "$DATA" --out "$TMP/out" --arch "$arch" --iters 2 --limit 4 \
    --size 64 96 --batch 2 --crop 64 96 --ckpt "$TMP/ckpt-$arch.pt" --state "$TMP/state-$arch.pt" 2>&1 |
    grep -v -i warn
  test -s "$TMP/out/$arch.onnx"
done
for arch in seg seg-large; do
  for f in s1 s2 s3 fuse features head; do test -s "$TMP/out/$arch-$f.onnx"; done
done
/usr/bin/python3 models/train/export_seg.py --ckpt "$TMP/ckpt-seg.pt" --out "$TMP/re" --size 64 96 2>&1 |
  grep -v -i warn
# seg-large: float16 weights by default; an fp32 export of the same weights to compare with
/usr/bin/python3 models/train/export_seg.py --ckpt "$TMP/ckpt-seg-large.pt" --out "$TMP/re32" --fp16 off \
  --size 64 96 2>&1 | grep -v -i warn
/usr/bin/python3 models/train/make_cards.py --out "$TMP/out" --arch seg --arch seg-large | grep -c wrote
for arch in seg seg-large; do
  for f in "" -s1 -s2 -s3 -fuse -features -head; do test -s "$TMP/out/$arch$f.yaml"; done
done
if command -v deno >/dev/null; then
  deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/verify_cuts.ts "$TMP/out" 64 96
  deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/verify_cuts.ts "$TMP/out" 64 96 \
    --arch seg-large --fp32 "$TMP/re32"
  deno task check graphs/clockwork.yaml --models camvid --set models.s1="$TMP/out/seg-large-s1.yaml" \
    --set models.s2="$TMP/out/seg-large-s2.yaml" --set models.s3="$TMP/out/seg-large-s3.yaml" \
    --set models.fuse="$TMP/out/seg-large-fuse.yaml" >/dev/null
fi
echo "smoke_test: OK"
